"""Shared flow plumbing: resolve the config once, name flow runs after the preset."""

from __future__ import annotations

import logging
from typing import Any

from prefect import Flow, Task, get_run_logger
from prefect.exceptions import MissingContextError

from tasks.caching import cache_only
from tasks.remote import use_remote_results
from vta_core.config import VTAConfig, load_config

LOG = logging.getLogger("vta.flows")


def resolve(preset: str, config_file: str | None, overrides: list[str] | None, config: VTAConfig | None) -> VTAConfig:
    """The parent passes its resolved config; a stage flow started alone resolves its own."""
    resolved = config if config is not None else load_config(preset, config_file, overrides or [])
    # Library logs reach the flow-run logs through PREFECT_LOGGING_EXTRA_LOGGERS; their level is ours.
    logging.getLogger("vta_core").setLevel(resolved.runtime.log_level)
    if not cache_only():
        use_remote_results(resolved.runtime)  # runtime.storage: this flow's result readable from any host
    return resolved


def subflow(flow: Flow, **kwargs: Any) -> Any:
    """Call a stage flow as a sub-flow run; in a cache-only pass, call its body directly."""
    return flow.fn(**kwargs) if cache_only() else flow(**kwargs)


def publish(task: Task, *args: Any) -> Any:
    """Run a UI-publishing task (artifacts); a cache-only pass has no UI to publish to."""
    return None if cache_only() else task(*args)


def flow_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger (its lines reach the UI), or a plain logger outside a flow run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return LOG
