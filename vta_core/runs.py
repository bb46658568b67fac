"""A run's own folder: resolved config, references to the artifacts it used, its error table.

Layout under `runtime.home` (default ./runs):
    artifacts/<stage>/<key>/   content-addressed stage outputs, shared by all runs (the cache)
    prefect-results/            Prefect's cached task results (small references to the above)
    <run name>/                 config.yaml, refs.json, error_table.md, error_table.parquet
    LATEST                      name of the last finished run (what `vta show` prints)
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vta_core.artifacts import ArtifactRef, write_json, write_text
from vta_core.config.sections import VTAConfig

LOG = logging.getLogger(__name__)
LATEST = "LATEST"


class NoRunError(FileNotFoundError):
    """No finished run to show."""


RESERVED_NAMES = frozenset({"artifacts", "prefect-results", "studies", "forecasts", "locks", LATEST})


class RunNameError(ValueError):
    """A run name that would collide with the store's own folders."""


def runs_root(config: VTAConfig) -> Path:
    return config.runtime.home


def start_run(config: VTAConfig) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    name = config.runtime.run_name or f"{stamp}-{config.preset}"
    if name in RESERVED_NAMES or "/" in name:
        raise RunNameError(f"runtime.run_name {name!r} is reserved or not a plain folder name")
    folder = runs_root(config) / name
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    LOG.info("run folder %s", folder)
    return folder


@dataclass(frozen=True)
class RunOutputs:
    """The result artifacts a run folder copies: the error table, the `dates` protocol's error table, backtests."""

    errors: ArtifactRef
    date_protocol_errors: ArtifactRef | None = None
    backtests: dict[str, ArtifactRef] = field(default_factory=dict)

    def copies(self) -> list[tuple[Path, str]]:
        """(artifact file, name in the run folder)."""
        pairs = [(self.errors.file(n), n) for n in ("error_table.md", "error_table.parquet")]
        if self.date_protocol_errors is not None:
            pairs.append((self.date_protocol_errors.file("error_table.md"), "error_table_dates.md"))
        for protocol, ref in self.backtests.items():
            pairs += [
                (ref.file("table4.md"), f"backtest_{protocol}.md"),
                (ref.file("table4.parquet"), f"backtest_{protocol}.parquet"),
                (ref.file("equity_curve.png"), f"equity_curve_{protocol}.png"),
            ]
        return pairs


def finish_run(
    folder: Path, refs: dict[str, ArtifactRef | list[ArtifactRef]], outputs: RunOutputs, mark_latest: bool = True
) -> None:
    """Write the run folder's references and result copies; point LATEST at it unless `mark_latest` is off (a
    study's variant runs leave `vta show` on the user's own last run)."""
    write_json(
        folder / "refs.json",
        {
            **{
                k: [r.model_dump(mode="json") for r in v] if isinstance(v, list) else v.model_dump(mode="json")
                for k, v in refs.items()
            },
            "backtests": {k: v.model_dump(mode="json") for k, v in outputs.backtests.items()},
        },
    )
    for source, name in outputs.copies():
        shutil.copyfile(source, folder / f".{name}.tmp")
        (folder / f".{name}.tmp").replace(folder / name)
    if mark_latest:
        write_text(folder.parent / LATEST, folder.name + "\n")


def latest_run(home: Path) -> Path:
    pointer = home / LATEST
    if not pointer.is_file():
        raise NoRunError(f"no finished run under {home.resolve()} (run `vta run` first)")
    return home / pointer.read_text().strip()
