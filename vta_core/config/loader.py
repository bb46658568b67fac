"""Resolve a run's configuration: preset -> YAML file -> VTA_ environment -> --set overrides.

All problems (unknown preset, unreadable file, malformed override, misspelled key, invalid value)
are collected and raised together as one `ConfigError` before any work starts.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from vta_core.config.sections import VTAConfig

LOG = logging.getLogger(__name__)
ENV_PREFIX = "VTA_"
ENV_NESTING = "__"
_PRESET_PACKAGE = "vta_core.config.presets"


class ConfigError(ValueError):
    """Invalid configuration; `problems` lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def available_presets() -> list[str]:
    files = resources.files(_PRESET_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def load_config(
    preset: str = "cpu",
    config_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> VTAConfig:
    """Build the validated config; raise ConfigError listing every problem."""
    problems: list[str] = []
    tree = _preset_tree(preset, problems)
    if config_file is not None:
        _deep_merge(tree, _read_yaml(Path(config_file), problems))
    env = os.environ if environ is None else environ
    for key, value in sorted(env.items()):
        if key.startswith(ENV_PREFIX) and len(key) > len(ENV_PREFIX):
            dotted = key[len(ENV_PREFIX) :].lower().replace(ENV_NESTING, ".")
            _set_dotted(tree, dotted, value, f"environment variable {key}", problems)
    for item in overrides:
        if "=" not in item:
            problems.append(f"--set {item!r}: expected KEY=VALUE, e.g. data.window.lookback=20")
            continue
        dotted, value = item.split("=", 1)
        _set_dotted(tree, dotted.strip(), value, f"--set {item}", problems)
    tree["preset"] = preset
    config = None
    try:
        config = VTAConfig.model_validate(tree)
    except ValidationError as err:
        problems.extend(_describe(err, tree))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _preset_tree(name: str, problems: list[str], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset's YAML tree, following `extends:` chains."""
    presets = available_presets()
    if name not in presets:
        hint = difflib.get_close_matches(name, presets, n=1)
        suffix = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(f"unknown preset {name!r} (available: {', '.join(presets)}){suffix}")
        return {}
    if name in seen:
        problems.append(f"preset {name!r} extends itself through {' -> '.join(seen)}")
        return {}
    text = resources.files(_PRESET_PACKAGE).joinpath(f"{name}.yaml").read_text()
    tree = yaml.safe_load(text) or {}
    parent = tree.pop("extends", None)
    if parent is None:
        return tree
    base = _preset_tree(parent, problems, (*seen, name))
    _deep_merge(base, tree)
    return base


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text())
    except OSError as err:
        problems.append(f"config file {path}: cannot read ({err.strerror})")
        return {}
    except yaml.YAMLError as err:
        problems.append(f"config file {path}: not valid YAML ({err})")
        return {}
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        problems.append(f"config file {path}: top level must be a mapping of sections")
        return {}
    return tree


def _set_dotted(tree: dict[str, Any], dotted: str, raw: str, origin: str, problems: list[str]) -> None:
    parts = [p for p in dotted.split(".")]
    if not all(parts):
        problems.append(f"{origin}: malformed key {dotted!r}")
        return
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            problems.append(f"{origin}: {part!r} is a value, not a section")
            return
        node = child
    if parts[-1] == "kind" and node.get("kind") not in (None, value):
        # Switching a tagged section (e.g. the split) to another kind drops the old kind's fields.
        node.clear()
    node[parts[-1]] = value


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict) and key != "split":
            _deep_merge(base[key], value)
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            # A split of another kind replaces the old one instead of mixing fields of both.
            same_kind = value.get("kind", base[key].get("kind")) == base[key].get("kind")
            if same_kind:
                _deep_merge(base[key], value)
            else:
                base[key] = dict(value)
        else:
            base[key] = value


def _describe(err: ValidationError, tree: Mapping[str, Any]) -> list[str]:
    """Turn pydantic errors into one readable line each, with spelling hints."""
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"] if not _is_union_tag(p))
        if item["type"] == "extra_forbidden":
            lines.append(f"{loc}: unknown key{_spelling_hint(item['loc'])}")
        else:
            lines.append(f"{loc}: {item['msg']} (got {item.get('input')!r})")
    return lines


def _is_union_tag(part: object) -> bool:
    return part in {"paper", "dates", "walk_forward"}


def _spelling_hint(loc: tuple[Any, ...]) -> str:
    """Suggest the closest valid key at the location of an unknown key."""
    model: type[BaseModel] | None = VTAConfig
    for part in loc[:-1]:
        if _is_union_tag(part) or model is None:
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(model.model_fields)}"
