"""Where new prices come from: one file, a folder of files the user keeps adding to, or an fsspec URL of
either (s3://, gs://, memory://, ...). Every file goes through `read_prices`, so a bad value is reported with
its file, ticker, row and rule, and the problems of every file are reported together."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import fsspec
import pandas as pd

from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.reading import read_prices
from vta_core.data.schema import SOURCE_FILE

LOG = logging.getLogger(__name__)
SUFFIXES = (".csv", ".txt", ".parquet")


def _is_url(source: str) -> bool:
    return "://" in source and not source.startswith("file://")


def _local_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    return [path]


def _read_all(files: list[Path], source: str) -> pd.DataFrame:
    frames, problems = [], []
    for file in files:
        try:
            frames.append(read_prices(file))
        except DataValidationError as err:
            problems += err.problems
    if problems:
        raise DataValidationError(problems)
    if not frames:
        raise DataValidationError([DataProblem(source, "no_files", f"no {'/'.join(SUFFIXES)} file in {source}")])
    frame = pd.concat(frames, ignore_index=True)
    # Each file's label survives the concatenation (cleansing reports dropped rows by file and row).
    frame[SOURCE_FILE] = frame[SOURCE_FILE].astype(str).astype("category")
    LOG.info("read %d rows from %d file(s) of %s", len(frame), len(files), source)
    return frame


def read_source(source: str) -> pd.DataFrame:
    """The prices of `source`, in file-name order; rows repeated across files are left to cleansing, which keeps
    the first occurrence and reports the others."""
    if not _is_url(source):
        path = Path(source.removeprefix("file://"))
        if not path.exists():
            raise DataValidationError([DataProblem(source, "file_missing", "no such file or folder")])
        return _read_all(_local_files(path), source)
    try:
        fs, root = fsspec.core.url_to_fs(source)
        remote = sorted(f for f in fs.find(root) if Path(f).suffix.lower() in SUFFIXES) if fs.isdir(root) else [root]
    except (OSError, ValueError, ImportError) as err:
        raise DataValidationError([DataProblem(source, "unreadable_source", str(err))]) from err
    with tempfile.TemporaryDirectory(prefix="vta-source-") as tmp:
        local = []
        for i, file in enumerate(remote):
            target = Path(tmp) / f"{i:05d}" / Path(file).name  # keeps the file name: problems name it
            target.parent.mkdir()
            try:
                fs.get(file, str(target))
            except OSError as err:
                raise DataValidationError([DataProblem(str(file), "unreadable_file", str(err))]) from err
            local.append(target)
        return _read_all(local, source)
