"""Shared flow plumbing: resolve the config once, name flow runs after the preset."""

from __future__ import annotations

import logging

from vta_core.config import VTAConfig, load_config


def resolve(preset: str, config_file: str | None, overrides: list[str] | None, config: VTAConfig | None) -> VTAConfig:
    """The parent passes its resolved config; a stage flow started alone resolves its own."""
    resolved = config if config is not None else load_config(preset, config_file, overrides or [])
    # Library logs reach the flow-run logs through PREFECT_LOGGING_EXTRA_LOGGERS; their level is ours.
    logging.getLogger("vta_core").setLevel(resolved.runtime.log_level)
    return resolved
