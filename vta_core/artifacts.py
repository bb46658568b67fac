"""Content-addressed, atomically written stage artifacts.

A stage's folder is named by its key (see `vta_core.stage_keys`); the Prefect cache key and the
artifact folder use the same key, so a cache hit always points at the folder its run wrote.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

LOG = logging.getLogger(__name__)
MANIFEST = "_manifest.json"


class ArtifactRef(BaseModel):
    """Small reference to a stage's output folder; what tasks return instead of data."""

    model_config = ConfigDict(frozen=True)
    stage: str
    key: str
    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    def is_complete(self) -> bool:
        return (self.path / MANIFEST).is_file()


class MissingArtifactError(FileNotFoundError):
    """An upstream artifact a stage needs is not on disk (deleted or never finished)."""


class ArtifactStore:
    """Folders `<root>/<stage>/<key>/`, each written to a temp folder and renamed into place."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def ref(self, stage: str, key: str) -> ArtifactRef:
        return ArtifactRef(stage=stage, key=key, path=(self.root / stage / key).resolve())

    @contextlib.contextmanager
    def writing(self, stage: str, key: str) -> Iterator[Path]:
        """Yield a scratch folder; on success it atomically becomes the stage's artifact folder."""
        final = self.root / stage / key
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        scratch.chmod(0o755)  # mkdtemp makes it private; workers of other users read the cache too
        try:
            yield scratch
            write_json(
                scratch / MANIFEST, {"stage": stage, "key": key, "files": sorted(p.name for p in scratch.iterdir())}
            )
            if final.exists():
                # Replace an older copy: move it aside first so the final name never holds a partial folder.
                trash = final.parent / f".{key}.old-{uuid.uuid4().hex[:8]}"
                final.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            scratch.rename(final)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)


def require(ref: ArtifactRef) -> ArtifactRef:
    if not ref.is_complete():
        raise MissingArtifactError(f"artifact {ref.stage}/{ref.key} is missing or incomplete at {ref.path}")
    return ref


def write_atomically(path: Path, write: Any) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it into place (any file format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp files are private; make them as readable as a normal write
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, payload: Any) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))
