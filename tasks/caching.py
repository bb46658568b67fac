"""Prefect cache keys that equal the library's stage keys.

A task's parameters are exactly its stage's inputs (config sections, upstream references, the
input fingerprint) plus `store_root`, which only says where artifacts live. The key hashes the
inputs with the stage's code fingerprint, so: a second identical run is all cache hits; changing
one section re-runs that stage and, through the changed upstream key, everything downstream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasks.runtime import result_record
from vta_core.artifacts import ArtifactStore, StageSpec, stage_key

LOG = logging.getLogger(__name__)

LOCATION_PARAMS = frozenset({"store_root"})


def key_inputs(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in LOCATION_PARAMS}


def stage_cache_key(spec: StageSpec) -> Callable[[Any, dict[str, Any]], str]:
    def cache_key(_context: Any, params: dict[str, Any]) -> str:
        key = stage_key(spec, key_inputs(params))
        cache_key = f"{spec.name}-{key}"
        store_root = Path(params["store_root"])
        record = result_record(store_root, cache_key)
        if record.exists() and not ArtifactStore(store_root).ref(spec, key).is_complete():
            # The cached result points at a deleted or unfinished artifact folder: drop it so the task re-runs.
            LOG.warning("artifact %s/%s is missing; discarding its cached result", spec.name, key)
            record.unlink(missing_ok=True)
        return cache_key

    return cache_key


def stage_task_options(spec: StageSpec) -> dict[str, Any]:
    """Decorator options every stage task shares."""
    return {
        "name": spec.name,
        "cache_key_fn": stage_cache_key(spec),
        "persist_result": True,
        "cache_result_in_memory": False,
        "task_run_name": spec.name,
    }
