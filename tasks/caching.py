"""Prefect cache policies whose keys equal the library's stage keys.

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

from prefect import Task
from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.locking.filesystem import FileSystemLockManager
from prefect.transactions import IsolationLevel

from tasks.runtime import LOCKS, RESULTS, result_record
from vta_core.artifacts import ArtifactStore, StageSpec, stage_key
from vta_core.config.sections import RuntimeConfig

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


def stage_cache_policy(spec: StageSpec, home: Path | None = None) -> CachePolicy:
    """Key policy; with a home, overlapping runs of one stage (a schedule and a UI run) serialise on
    a file lock there, and the second one comes back as a cache hit instead of recomputing."""
    policy = CacheKeyFnPolicy(cache_key_fn=stage_cache_key(spec))
    if home is None:
        return policy
    locks = FileSystemLockManager(lock_files_directory=(home / LOCKS).resolve())
    return policy.configure(isolation_level=IsolationLevel.SERIALIZABLE, lock_manager=locks)


def stage_task_options(spec: StageSpec) -> dict[str, Any]:
    """Decorator options every stage task shares."""
    return {
        "name": spec.name,
        "cache_policy": stage_cache_policy(spec),
        "persist_result": True,
        "cache_result_in_memory": False,
        "task_run_name": spec.name,
    }


def bound(task: Task, spec: StageSpec, runtime: RuntimeConfig) -> Task:
    """The stage task with its results and locks under the run home, beside the artifacts."""
    home = runtime.home.resolve()
    return task.with_options(result_storage=home / RESULTS, cache_policy=stage_cache_policy(spec, home))
