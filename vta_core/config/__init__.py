"""Typed configuration, presets and overrides."""

from vta_core.config.loader import ConfigError, available_presets, load_config
from vta_core.config.sections import VTAConfig

__all__ = ["ConfigError", "VTAConfig", "available_presets", "load_config"]
