"""Committed copies of artifact folders in an fsspec location (s3://, gs://, file://, memory://, ...).

The remote side keeps the local store's commit protocol: `<url>/artifacts/<stage>/<key>/` receives every file
first and `_manifest.json` last, so a reader that finds a readable manifest finds a complete folder. A folder
whose upload died before its manifest is never trusted: the stage runs again and its upload overwrites it.
Downloads land in the local store's scratch folder and are renamed into place (`ArtifactStore.writing`), so a
local folder is complete or absent, wherever it came from.

Stage code never sees this module: the task layer (`tasks.remote`) uploads what a stage wrote and fetches
what a stage needs. Nothing here imports Prefect.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from vta_core.artifacts import MANIFEST, ArtifactRef, ArtifactStore, require

LOG = logging.getLogger(__name__)
ARTIFACTS = "artifacts"


class RemoteStorageError(OSError):
    """An upload to or download from the storage URL failed (I/O: a task retry may succeed)."""


class RemoteArtifacts:
    """The artifact folders under `<url>/artifacts/`, read and written through fsspec."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        fs, base = url_to_fs(self.url)
        self.fs: fsspec.AbstractFileSystem = fs
        self.base: str = str(base).rstrip("/")

    def path(self, *parts: str) -> str:
        """A path under the storage URL, in the filesystem's own form (what `fs.find` returns)."""
        return "/".join([self.base, *parts])

    def folder(self, stage: str, key: str) -> str:
        return self.path(ARTIFACTS, stage, key)

    def manifest(self, stage: str, key: str) -> dict[str, Any] | None:
        """The committed manifest of a folder; None when there is none (not uploaded, or the upload died)."""
        path = f"{self.folder(stage, key)}/{MANIFEST}"
        try:
            payload = json.loads(self.fs.cat_file(path))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:  # still being written (a non-atomic backend): not committed yet
            LOG.warning("unreadable manifest at %s; not trusted", path)
            return None
        except OSError as exc:
            raise RemoteStorageError(f"cannot read {path}: {exc}") from exc
        if payload.get("stage") != stage or payload.get("key") != key:
            LOG.warning("manifest at %s names %s/%s; not trusted", path, payload.get("stage"), payload.get("key"))
            return None
        return dict(payload)

    def _remote_files(self, stage: str, key: str) -> dict[str, str]:
        """Every file of a remote folder: path relative to the folder -> full remote path."""
        folder = self.folder(stage, key)
        try:
            found = self.fs.find(folder)
        except OSError as exc:
            raise RemoteStorageError(f"cannot list {folder}: {exc}") from exc
        prefix = folder + "/"
        return {str(p)[len(prefix) :]: str(p) for p in found if str(p).startswith(prefix)}

    def _intact(self, stage: str, key: str, manifest: dict[str, Any], files: dict[str, str]) -> bool:
        """Every top-level name the manifest lists is there (a folder someone pruned is not intact)."""
        present = {relative.split("/", 1)[0] for relative in files} - {MANIFEST}
        missing = set(manifest.get("files", [])) - present
        if missing:
            LOG.warning("remote %s/%s lacks %s; not trusted", stage, key, sorted(missing))
        return not missing

    def is_committed(self, stage: str, key: str) -> bool:
        manifest = self.manifest(stage, key)
        return manifest is not None and self._intact(stage, key, manifest, self._remote_files(stage, key))

    def upload(self, ref: ArtifactRef) -> bool:
        """Copy a complete local folder: every file, then its manifest. False (nothing sent) when an intact
        committed copy is already there: a key names one output, and the first committed copy stays."""
        require(ref)
        if self.is_committed(ref.stage, ref.key):
            return False
        folder = self.folder(ref.stage, ref.key)
        files = sorted(p for p in ref.path.rglob("*") if p.is_file() and p != ref.path / MANIFEST)
        try:
            self.fs.rm_file(f"{folder}/{MANIFEST}")  # a broken earlier copy: readers must not trust it meanwhile
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise RemoteStorageError(f"cannot remove the stale manifest of {folder}: {exc}") from exc
        for path in files:
            self._put(path, f"{folder}/{path.relative_to(ref.path).as_posix()}")
        self._put(ref.path / MANIFEST, f"{folder}/{MANIFEST}")  # last: the commit
        LOG.info("uploaded %s/%s (%d files) to %s", ref.stage, ref.key, len(files), self.url)
        return True

    def _put(self, local: Path, remote: str) -> None:
        try:
            self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local), remote)
        except OSError as exc:
            raise RemoteStorageError(f"cannot upload {local} to {remote}: {exc}") from exc

    def fetch(self, ref: ArtifactRef, store: ArtifactStore) -> bool:
        """Make `ref`'s folder complete under `store` (by stage and key): True when it already was or a
        committed copy was downloaded, False when the storage has no committed copy."""
        if store.ref(ref.stage, ref.key).is_complete():
            return True
        manifest = self.manifest(ref.stage, ref.key)
        if manifest is None:
            return False
        files = self._remote_files(ref.stage, ref.key)
        if not self._intact(ref.stage, ref.key, manifest, files):
            return False
        listed = set(manifest.get("files", []))  # leftovers of an earlier, broken upload stay behind
        wanted = sorted((rel, remote) for rel, remote in files.items() if rel.split("/", 1)[0] in listed)
        with store.writing(ref.stage, ref.key) as scratch:  # renamed into place with a fresh, identical manifest
            for relative, remote in wanted:
                self._get(remote, scratch / relative)
        LOG.info("fetched %s/%s (%d files) from %s", ref.stage, ref.key, len(wanted), self.url)
        return True

    def _get(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get_file(remote, str(local))
        except OSError as exc:
            raise RemoteStorageError(f"cannot download {remote}: {exc}") from exc
