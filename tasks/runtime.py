"""Where a run keeps Prefect results and artifacts: both under `runtime.home`, side by side.

Keeping them under one root matters: a cached Prefect result is only a reference to an artifact
folder, so the two must be deleted, moved and shared together.
"""

from __future__ import annotations

from pathlib import Path

from vta_core.config.sections import RuntimeConfig

ARTIFACTS = "artifacts"
RESULTS = "prefect-results"
LOCKS = "locks"


def artifact_root(runtime: RuntimeConfig) -> Path:
    return (runtime.home / ARTIFACTS).resolve()


def result_root(runtime: RuntimeConfig) -> Path:
    return (runtime.home / RESULTS).resolve()


def result_record(store_root: Path, key: str) -> Path:
    """The file Prefect's local result storage keeps for a cache key, beside the artifact root."""
    return Path(store_root).parent / RESULTS / key
