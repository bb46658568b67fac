"""Storage across machines (`runtime.storage`): the task layer's side of the mirrored artifact store.

Stages keep reading and writing the local store under `runtime.home/artifacts`. With a storage URL set:

- a stage folder is uploaded to `<storage>/artifacts/<stage>/<key>/` once written (manifest last), and a
  folder committed there is fetched into the local store when a stage needs it, when the cache policy finds
  its result, or when the cache-only pass looks it up (`tasks.caching`);
- refs that come from another machine (dispatched flow results, cached Prefect results, flow parameters)
  are resolved against the local store by (stage, key): `localized`;
- Prefect's results (the stage tasks' cached results and every flow's return value) go to
  `<storage>/prefect-results` through a saved `RemoteFileSystem` block, so a parent reads the result of a
  stage flow that ran on another host.

With no storage URL nothing here changes what a run does. Which local root mirrors which URL is kept per
process (`register`, called by `tasks.caching.bound`): task bodies only receive the local root.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import TypeVar

from prefect.context import FlowRunContext
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from prefect.settings import get_current_settings
from pydantic import BaseModel

from tasks.runtime import RESULTS, artifact_root
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import RuntimeConfig
from vta_core.remote_artifacts import RemoteArtifacts

LOG = logging.getLogger(__name__)
T = TypeVar("T")
_MIRRORS: dict[Path, RemoteArtifacts] = {}


@functools.cache
def remote_artifacts(url: str) -> RemoteArtifacts:
    return RemoteArtifacts(url)


def register(runtime: RuntimeConfig) -> RemoteArtifacts | None:
    """Mirror this run's local artifact root to its storage URL (or stop mirroring it: storage unset)."""
    root = artifact_root(runtime)
    if runtime.storage is None:
        _MIRRORS.pop(root, None)
        return None
    _MIRRORS[root] = remote = remote_artifacts(runtime.storage)
    return remote


def remote_for(store_root: Path) -> RemoteArtifacts | None:
    """The storage a local artifact root mirrors, if any."""
    return _MIRRORS.get(Path(store_root).resolve())


def localized(value: T, store: ArtifactStore, remote: RemoteArtifacts | None) -> T:
    """`value` with every ArtifactRef in it (nested in models, lists, tuples, dicts) resolved against the local
    `store` by stage and key; with a remote, a folder missing here but committed there is fetched."""
    if isinstance(value, ArtifactRef):
        local = store.ref(value.stage, value.key)
        if remote is not None and not remote.fetch(local, store):
            LOG.warning("artifact %s/%s is neither here nor in %s", value.stage, value.key, remote.url)
        return local  # type: ignore[return-value]
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        changed = {name: new for name, old in fields.items() if (new := localized(old, store, remote)) is not old}
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, (list, tuple)):
        items = [localized(v, store, remote) for v in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        entries = {k: localized(v, store, remote) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries  # type: ignore[return-value]
    return value  # config values, strings, numbers: never refs


def localized_for(value: T, runtime: RuntimeConfig) -> T:
    """Refs received from another process (a dispatched flow's result) as this machine's refs; unchanged when
    no storage URL is set (a shared filesystem, where paths are the same everywhere)."""
    remote = register(runtime)
    if remote is None:
        return value
    return localized(value, ArtifactStore(artifact_root(runtime)), remote)


# --- Prefect results -------------------------------------------------------------------------------------------


def result_record_path(remote: RemoteArtifacts, cache_key: str) -> str:
    """Where the stage tasks' result storage block keeps the record of a cache key."""
    return remote.path(RESULTS, cache_key)


def record_exists(remote: RemoteArtifacts, cache_key: str) -> bool:
    return bool(remote.fs.exists(result_record_path(remote, cache_key)))


def discard_record(remote: RemoteArtifacts, cache_key: str) -> None:
    try:
        remote.fs.rm_file(result_record_path(remote, cache_key))
    except FileNotFoundError:
        pass


_BLOCKS: dict[tuple[str, str], WritableFileSystem] = {}
FILE_URL = "file://"


def results_block(url: str) -> WritableFileSystem:
    """A file system block at `<url>/prefect-results`, saved on the API (Prefect accepts only saved blocks as
    result storage, and a result's reader finds the block by its id): `RemoteFileSystem`, or `LocalFileSystem`
    for a `file://` URL (a mounted share; Prefect refuses file:// in RemoteFileSystem). Saved once per process
    and server."""
    api = str(get_current_settings().api.url or "")
    block = _BLOCKS.get((url, api))
    if block is None:
        basepath = f"{url.rstrip('/')}/{RESULTS}"
        if basepath.startswith(FILE_URL):
            block = LocalFileSystem(basepath=basepath[len(FILE_URL) :])
        else:
            block = RemoteFileSystem(basepath=basepath)
        block.save(f"vta-results-{hashlib.sha256(url.encode()).hexdigest()[:16]}", overwrite=True)
        _BLOCKS[(url, api)] = block
    return block


def use_remote_results(runtime: RuntimeConfig) -> None:
    """Persist the current flow run's result (and its sub-flows' and tasks') to the storage URL. A flow's
    result store is set up before its body runs, from its decorator; this points it at the block instead, so
    a stage flow started by a deployment on another host returns a result its parent can read."""
    context = FlowRunContext.get()
    if runtime.storage is None or context is None or context.result_store is None:
        return
    context.result_store.result_storage = results_block(runtime.storage)
