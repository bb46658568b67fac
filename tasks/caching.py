"""Prefect tasks bound to library stages: one decorator, keys from the stage's own signature.

    @stage_task(annotation_stage)
    def annotate_windows(annotation: AnnotationConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
        return annotation_stage(annotation, windows, store=ArtifactStore(store_root))

A task's parameters must be exactly its stage's (minus unkeyed hooks) plus `store_root`, which only
says where artifacts live; this is checked when the module is imported. The cache key is
`stage.key(**parameters)`, the very function the stage uses to name its folder, so a second
identical run is all cache hits, and changing one section re-runs that stage and, through the
changed upstream key, everything downstream.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from prefect import Task, task
from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.locking.filesystem import FileSystemLockManager
from prefect.transactions import IsolationLevel

from tasks.faults import with_fault
from tasks.remote import discard_record, localized, record_exists, register, remote_for, results_block
from tasks.runtime import LOCKS, RESULTS, artifact_root, result_record
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import RuntimeConfig
from vta_core.remote_artifacts import RemoteArtifacts, RemoteStorageError
from vta_core.stage_keys import Stage

LOG = logging.getLogger(__name__)
LOCATION = "store_root"
STAGE_ATTRIBUTE = "__vta_stage__"


class StageTaskError(TypeError):
    """A task wrapper whose parameters differ from its stage's (its key would not name the stage's folder)."""


def artifact_for(stage: Stage, params: dict[str, Any]) -> ArtifactRef:
    """The artifact folder a task call with these parameters names: the stage's key of everything but the
    location, under the store at the location."""
    key = stage.key(**{k: v for k, v in params.items() if k != LOCATION})
    return ArtifactStore(Path(params[LOCATION])).ref(stage.name, key)


def stage_cache_key(stage: Stage) -> Callable[[Any, dict[str, Any]], str]:
    def cache_key(_context: Any, params: dict[str, Any]) -> str:
        ref = artifact_for(stage, params)
        key = ref.key
        cache_key = f"{stage.name}-{key}"
        root = Path(params[LOCATION])
        remote = remote_for(root)
        if remote is None:
            record = result_record(root, cache_key)
            if record.exists() and not ref.is_complete():
                # The cached result points at a deleted or unfinished artifact folder: drop it so the task re-runs.
                LOG.warning("artifact %s/%s is missing; discarding its cached result", stage.name, key)
                record.unlink(missing_ok=True)
        elif not ref.is_complete() and record_exists(remote, cache_key) and not remote.fetch(ref, ArtifactStore(root)):
            # A result whose artifact is neither here nor committed in the storage (deleted, or its upload died).
            LOG.warning(
                "artifact %s/%s is not here nor in %s; discarding its cached result", stage.name, key, remote.url
            )
            discard_record(remote, cache_key)
        return cache_key

    return cache_key


def stage_cache_policy(stage: Stage, home: Path | None = None) -> CachePolicy:
    """Key policy; with a home, overlapping runs of one stage (a schedule and a UI run) serialise on
    a file lock there, and the second one comes back as a cache hit instead of recomputing."""
    policy = CacheKeyFnPolicy(cache_key_fn=stage_cache_key(stage))
    if home is None:
        return policy
    locks = FileSystemLockManager(lock_files_directory=(home / LOCKS).resolve())
    return policy.configure(isolation_level=IsolationLevel.SERIALIZABLE, lock_manager=locks)


def _check_parameters(fn: Callable[..., Any], stage: Stage) -> None:
    wrapper = set(inspect.signature(fn).parameters) - {LOCATION}
    expected = set(stage.parameters) - stage.unkeyed
    if wrapper != expected or LOCATION not in inspect.signature(fn).parameters:
        raise StageTaskError(
            f"task {fn.__name__} must take exactly the parameters of stage {stage.name} and {LOCATION!r}: "
            f"missing {sorted(expected - wrapper)}, extra {sorted(wrapper - expected)}"
        )


def with_remote(fn: Callable[..., ArtifactRef], stage: Stage) -> Callable[..., ArtifactRef]:
    """`fn` mirrored to the storage URL of its store root, if that root has one (see `tasks.remote`): an output
    folder already complete here or committed there is served (and uploaded if only here) without running
    the stage; otherwise the inputs are resolved here (fetched when only committed there), the stage runs
    and its folder is uploaded before the task returns, so a persisted result always has its artifact there."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> ArtifactRef:
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        params = dict(call.arguments)
        remote = remote_for(Path(params[LOCATION]))
        if remote is None:
            return fn(*args, **kwargs)
        store = ArtifactStore(Path(params[LOCATION]))
        ref = artifact_for(stage, params)
        if remote.fetch(ref, store):
            remote.upload(ref)  # no-op when a committed copy is there
            LOG.info("%s/%s is in the artifact store: served, not recomputed", stage.name, ref.key)
            return ref
        inputs = {
            name: value if name == LOCATION else localized(value, store, remote) for name, value in params.items()
        }
        out = fn(**inputs)
        remote.upload(out)
        return out

    return body


def stage_task(stage: Stage, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Decorate a thin task wrapper of `stage`; `options` add to or override the shared task options."""

    def decorate(fn: Callable[..., Any]) -> Task:
        _check_parameters(fn, stage)
        fn = with_fault(fn, stage.name)  # VTAFAULT_ONCE: fail this body once (operations tests); no-op otherwise
        fn = with_remote(fn, stage)  # runtime.storage: fetch inputs, serve a committed output, upload; else no-op
        setattr(fn, STAGE_ATTRIBUTE, stage)
        shared = {
            "name": stage.name,
            "cache_policy": stage_cache_policy(stage),
            "persist_result": True,
            "cache_result_in_memory": False,
            "task_run_name": stage.name,
        }
        return task(fn, **{**shared, **options})

    return decorate


# Errors worth a retry: I/O that may succeed a moment later. Never bad input (ValueError and its kin).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, ConnectionError)
# OSErrors that the same call meets again a moment later: a missing file, a missing permission, a path that is
# a folder (or not one). Retrying them only delays the clear error.
PERMANENT_OS_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def transient_only(_task: Task, _task_run: Any, state: Any) -> bool:
    """`retry_condition_fn` for stage tasks: retry a transient error, fail bad input at once."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, TRANSIENT_ERRORS) and not isinstance(error, PERMANENT_OS_ERRORS)


def stage_of(stage_task_: Task) -> Stage:
    stage = getattr(stage_task_.fn, STAGE_ATTRIBUTE, None)
    if stage is None:
        raise StageTaskError(f"task {stage_task_.name} was not made with @stage_task")
    return stage


# A cache-only pass runs the flows' bodies with every stage resolved from the artifact store by its key, without
# Prefect: when every stage is cached, a warm re-run costs the key computations, not a server start and a flow
# run per stage flow. The first stage that is not cached ends the pass (NotCached) and the caller falls back to
# the real Prefect run.
CACHE_ONLY: ContextVar[bool] = ContextVar("vta_cache_only", default=False)


class NotCached(LookupError):
    """A cache-only pass met a stage whose artifact is not complete."""


def cache_only() -> bool:
    return CACHE_ONLY.get()


class CachedStage:
    """What `bound` gives in a cache-only pass: the stage's artifact for these arguments, or NotCached."""

    def __init__(self, stage_task_: Task):
        self.stage, self.signature = stage_of(stage_task_), inspect.signature(stage_task_.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> ArtifactRef:
        params = self.signature.bind(*args, **kwargs)
        params.apply_defaults()
        ref = artifact_for(self.stage, dict(params.arguments))
        root = Path(params.arguments[LOCATION])
        remote = remote_for(root)
        try:
            complete = remote.fetch(ref, ArtifactStore(root)) if remote else ref.is_complete()
        except RemoteStorageError as exc:  # the fast path gives way to the Prefect run, which retries
            raise NotCached(f"{self.stage.name}/{ref.key}: {exc}") from exc
        if not complete:
            raise NotCached(f"{self.stage.name}/{ref.key} is not in the artifact store")
        return ref


class LocalizedTask:
    """A stage task whose result, a cache hit written on another machine included, is this machine's ref."""

    def __init__(self, task_: Task, store: ArtifactStore, remote: RemoteArtifacts):
        self.task, self.store, self.remote = task_, store, remote

    def __call__(self, *args: Any, **kwargs: Any) -> ArtifactRef:
        return localized(self.task(*args, **kwargs), self.store, self.remote)


def bound(stage_task_: Task, runtime: RuntimeConfig) -> Task | CachedStage | LocalizedTask:
    """The stage task with its results and locks under the run home, beside the artifacts (in a cache-only
    pass: the artifact lookup instead). With `runtime.storage`, the artifacts are mirrored there and the
    results go there too (see `tasks.remote`)."""
    remote = register(runtime)
    if cache_only():
        return CachedStage(stage_task_)
    home = runtime.home.resolve()
    policy = stage_cache_policy(stage_of(stage_task_), home)
    if remote is None:
        return stage_task_.with_options(result_storage=home / RESULTS, cache_policy=policy)
    mirrored = stage_task_.with_options(result_storage=results_block(remote.url), cache_policy=policy)
    return LocalizedTask(mirrored, ArtifactStore(artifact_root(runtime)), remote)
