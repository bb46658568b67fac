"""Where prices come from: one file, a folder of files the desk keeps adding to, or an fsspec URL of either
(s3://, gs://, memory://, ...); the training source (`data.source`) and the daily forecast read them alike.
Every file goes through `read_prices`, so a bad value is reported with its file, ticker, row and rule, and the
problems of every file are reported together. `source_digest` hashes the names and bytes of every file, so new
days appended as a new file, or an edited file, change the cleansing stage's key."""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

import fsspec
import pandas as pd

from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.reading import read_prices
from vta_core.data.schema import SOURCE_FILE, TICKER

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


def _select(frame: pd.DataFrame, tickers: tuple[str, ...] | None, source: str) -> pd.DataFrame:
    if tickers is None:
        return frame
    present = set(frame[TICKER].unique())
    unknown = [t for t in tickers if t not in present]
    if unknown:
        raise DataValidationError(
            [
                DataProblem(source, "unknown_ticker", f"requested ticker {t!r} is not in the source", ticker=t)
                for t in unknown
            ]
        )
    return frame[frame[TICKER].isin(tickers)].reset_index(drop=True)


def _remote_files(source: str) -> tuple[fsspec.AbstractFileSystem, list[str]]:
    try:
        fs, root = fsspec.core.url_to_fs(source)
        if fs.isdir(root):
            return fs, sorted(f for f in fs.find(root) if Path(f).suffix.lower() in SUFFIXES)
        if not fs.exists(root):
            raise DataValidationError([DataProblem(source, "file_missing", "no such file or folder")])
        return fs, [root]
    except (OSError, ValueError, ImportError) as err:
        raise DataValidationError([DataProblem(source, "unreadable_source", str(err))]) from err


def source_digest(source: str) -> str:
    """sha256 over every file's name (relative to the source) and bytes; 'missing:<source>' when absent (reading
    then reports it clearly)."""
    digest = hashlib.sha256()
    if not _is_url(source):
        path = Path(source.removeprefix("file://"))
        if not path.exists():
            return f"missing:{source}"
        for file in _local_files(path):
            digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
            with file.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return digest.hexdigest()
    try:
        fs, files = _remote_files(source)
    except DataValidationError:
        return f"missing:{source}"
    for remote in files:
        digest.update(remote.encode() + b"\0")
        with fs.open(remote, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_source(source: str, tickers: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The prices of `source`, in file-name order (optionally only `tickers`); rows repeated across files are left
    to cleansing, which keeps the first occurrence and reports the others."""
    if not _is_url(source):
        path = Path(source.removeprefix("file://"))
        if not path.exists():
            raise DataValidationError([DataProblem(source, "file_missing", "no such file or folder")])
        return _select(_read_all(_local_files(path), source), tickers, source)
    fs, remote = _remote_files(source)
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
        return _select(_read_all(local, source), tickers, source)
