"""Data stages: read + cleanse (paper tasks 1-2), then split, scale and window (task 3)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, require, stage_key, write_json, write_parquet
from vta_core.config.sections import CalendarConfig, SourceConfig, SplitConfig, WindowConfig
from vta_core.data import calendars, cleansing, reading, splits, windows
from vta_core.data.schema import DATE, TICKER

LOG = logging.getLogger(__name__)
CLEANSE = StageSpec("cleanse", "1", (reading, cleansing, calendars))
WINDOWS = StageSpec("windows", "1", (splits, windows))


def source_path(source: SourceConfig) -> Path:
    return reading.stocknet_path() if source.kind == "stocknet" else Path(source.path).expanduser().resolve()


def source_fingerprint(source: SourceConfig) -> str:
    """Content hash of the input file, so edited data invalidates the cache even at the same path."""
    path = source_path(source)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return "missing:" + str(path)  # reading reports the missing file with a clear error
    return digest.hexdigest()


def cleanse_stage(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, store: ArtifactStore
) -> ArtifactRef:
    key = stage_key(CLEANSE, {"source": source, "calendar": calendar, "input_fingerprint": input_fingerprint})
    raw = reading.read_prices(source_path(source), source.tickers)
    result = cleansing.cleanse(raw, calendar)
    with store.writing(CLEANSE, key) as out:
        write_parquet(out / "prices.parquet", result.prices)
        write_parquet(out / "audit.parquet", result.audit)
        write_json(
            out / "cleanse_report.json",
            {
                "rows_read": len(raw),
                "rows_kept": len(result.prices),
                "rows_dropped": len(result.audit),
                "dropped_by_rule": result.audit["rule"].value_counts().to_dict(),
                "tickers": int(result.prices[TICKER].nunique()),
                "reordered_tickers": list(result.reordered_tickers),
            },
        )
    return store.ref(CLEANSE, key)


def windows_stage(window: WindowConfig, split: SplitConfig, cleaned: ArtifactRef, store: ArtifactStore) -> ArtifactRef:
    key = stage_key(WINDOWS, {"window": window, "split": split, "cleaned": cleaned})
    prices = pd.read_parquet(require(cleaned).file("prices.parquet"))
    dates = {str(t): g[DATE].to_numpy() for t, g in prices.groupby(TICKER, sort=False)}
    blocks = splits.split_blocks(dates, split, window)
    window_set, excluded = windows.build_windows(prices, blocks, window.lookback, window.horizon)
    counts = window_set.index.groupby(["split"], observed=True).size().to_dict()
    with store.writing(WINDOWS, key) as out:
        window_set.save(out)
        write_parquet(out / "blocks.parquet", blocks)
        write_parquet(out / "exclusions.parquet", excluded)
        write_json(
            out / "windows_report.json",
            {
                "windows_by_split": {str(k): int(v) for k, v in counts.items()},
                "tickers": int(window_set.index[TICKER].nunique()),
                "excluded": excluded.to_dict("records"),
                "folds": int(blocks["fold"].nunique()),
            },
        )
    LOG.info("built %d windows (%s); excluded %d (fold, ticker) pairs", len(window_set), counts, len(excluded))
    return store.ref(WINDOWS, key)


def load_windows(ref: ArtifactRef) -> windows.WindowSet:
    return windows.WindowSet.load(require(ref).path)


def load_audit(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("audit.parquet"))


def load_prices(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("prices.parquet"))


def window_counts(window_set: windows.WindowSet) -> dict[str, int]:
    return {s: int(np.sum(window_set.index["split"] == s)) for s in windows.SPLITS}
