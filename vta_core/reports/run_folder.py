"""A finished run folder as the report reads it: config, artifact references and the copied result files.

Layout (see `vta_core.runs`): config.yaml, refs.json, error_table.md, error_table.parquet, optionally
error_table_dates.md, and per backtest protocol backtest_<protocol>.md/.parquet and equity_curve_<protocol>.png.
The config is read as plain YAML (not validated), so a report can be written for a run of an older config.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vta_core.artifacts import MANIFEST, ArtifactRef, MissingArtifactError, require
from vta_core.identities import ModelId, StageName

LOG = logging.getLogger(__name__)

CONFIG = "config.yaml"
REFS = "refs.json"
ERROR_TABLE = "error_table.md"
DATES_ERROR_TABLE = "error_table_dates.md"


class ReportError(FileNotFoundError):
    """The run folder (or an artifact it references, or a study folder) lacks a file the report needs."""


def require_file(path: Path, what: str) -> Path:
    """`path` if it is a file, else a ReportError that names it."""
    if not path.is_file():
        raise ReportError(f"{path} is missing: {what}")
    return path


def require_artifact(ref: ArtifactRef) -> ArtifactRef:
    """`require`, with the report's error type (a run folder whose artifacts were deleted is incomplete)."""
    try:
        return require(ref)
    except MissingArtifactError as exc:
        raise ReportError(f"the run references an artifact that is not on disk: {exc}") from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ReportError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ReportError(f"{path} does not hold a mapping")
    return loaded


def _read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ReportError(f"{path} does not hold an object")
    return loaded


@dataclass(frozen=True)
class RunFolder:
    path: Path
    config: dict[str, Any]
    refs: dict[str, Any]
    error_table: str  # the run's error_table.md

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """Read the files every report needs; a ReportError names the first one missing."""
        path = Path(path)
        if not path.is_dir():
            raise ReportError(f"{path} is not a run folder (no such directory)")
        config = _read_yaml(require_file(path / CONFIG, "the run's resolved configuration"))
        refs = _read_json(require_file(path / REFS, "the run's artifact references"))
        table = require_file(path / ERROR_TABLE, "the run's error table").read_text()
        return cls(path=path, config=config, refs=refs, error_table=table)

    @property
    def name(self) -> str:
        return self.path.name

    def setting(self, *keys: str, default: Any = None) -> Any:
        """A nested config value, e.g. setting("data", "split", "kind"); `default` where any level is absent."""
        node: Any = self.config
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node

    def ref(self, name: str) -> ArtifactRef:
        """A single artifact reference of refs.json (e.g. "windows"), checked complete on disk."""
        if name not in self.refs:
            raise ReportError(f"{self.path / REFS} has no {name!r} reference")
        return require_artifact(ArtifactRef.model_validate(self.refs[name]))

    def prediction_refs(self, stage: str | None = None) -> list[ArtifactRef]:
        refs = [ArtifactRef.model_validate(r) for r in self.refs.get("predictions", [])]
        return [r for r in refs if stage is None or r.stage == stage]

    def backtest_protocols(self) -> list[str]:
        """Protocols with a backtest table: refs.json's backtests in the config's protocol order, then any other
        backtest_<protocol>.md in the folder. A protocol refs.json names must have its table."""
        named = list(self.refs.get("backtests", {}))
        found = sorted(p.name[len("backtest_") : -len(".md")] for p in self.path.glob("backtest_*.md"))
        order = [str(p) for p in self.setting("backtest", "protocols", default=()) or ()]
        protocols = [p for p in order if p in named] + [p for p in named if p not in order]
        protocols += [p for p in found if p not in protocols]
        for protocol in protocols:
            require_file(self.path / f"backtest_{protocol}.md", f"the backtest table of protocol {protocol!r}")
        return protocols

    def artifacts_root(self) -> Path | None:
        """The artifact store's root (`<root>/<stage>/<key>`), from the windows reference."""
        windows = self.refs.get("windows")
        return Path(windows["path"]).parent.parent if isinstance(windows, dict) and "path" in windows else None

    def error_artifact(self) -> ArtifactRef | None:
        """The error evaluation artifact the run's error table came from: refs.json's `errors` reference when
        it has one, else the store's error evaluation artifact whose error_table.md is identical (run folders
        copy that file); None when neither is found."""
        if "errors" in self.refs:
            return self.ref("errors")
        root = self.artifacts_root()
        stage_dir = None if root is None else root / StageName.ERRORS
        if stage_dir is None or not stage_dir.is_dir():
            return None
        for folder in sorted(stage_dir.iterdir()):
            table = folder / ERROR_TABLE
            if folder.name.startswith(".") or not (folder / MANIFEST).is_file() or not table.is_file():
                continue
            if table.read_text() == self.error_table:
                return ArtifactRef(stage=StageName.ERRORS, key=folder.name, path=folder.resolve())
        LOG.info("no error evaluation artifact under %s matches %s", stage_dir, self.path / ERROR_TABLE)
        return None

    def stage3_generation(self) -> ArtifactRef | None:
        """The reasoner generation artifact of the stage-3 checkpoint (its narratives); None without a reasoner."""
        for ref in self.prediction_refs(StageName.REASONER_GENERATION):
            report = require_file(require_artifact(ref).file("generation_report.json"), "the generation report")
            if _read_json(report).get("model") == ModelId.REASONER_STAGE3:
                return ref
        return None
