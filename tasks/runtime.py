"""Where a run keeps Prefect results and artifacts, derived from the runtime config section."""

from __future__ import annotations

from pathlib import Path

from prefect import Task

from vta_core.config.sections import RuntimeConfig


def artifact_root(runtime: RuntimeConfig) -> Path:
    return (runtime.home / "artifacts").resolve()


def result_root(runtime: RuntimeConfig) -> Path:
    return (runtime.home / "prefect-results").resolve()


def bound(task: Task, runtime: RuntimeConfig) -> Task:
    """The task with result storage under the run home, so the cache lives beside the artifacts."""
    return task.with_options(result_storage=result_root(runtime))
