"""The VTA authors' released Qwen2.5-7B-Instruct stage-3 forecasts for every StockNet window.

`example_index` counts a ticker's windows over train, then validation, then test, in the paper's split
protocol computed on the *raw* rows: for PTR, REX and SNP the release kept the all-null row of 2016-06-29
as a day. So the mapping to (ticker, window end date) enumerates windows on the raw rows, and only then
meets our windows (built on cleaned rows) on (ticker, split, window end date).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.config.data_sections import PaperSplit, WindowConfig
from vta_core.data.schema import DATE, TARGET, TICKER
from vta_core.data.splits import split_blocks

PACKAGE = "vta_core.resources.released_forecasts"


class ReleasedForecastError(ValueError):
    """The release does not line up with the windows of the raw data."""


def released_path() -> Path:
    return Path(str(resources.files(PACKAGE).joinpath("forecasts.parquet")))


def raw_window_index(raw: pd.DataFrame, window: WindowConfig, split: PaperSplit) -> pd.DataFrame:
    """Every raw-row window per ticker: example_index, split, window_end_date (train, then val, then test)
    and `last`, the window's last Adj Close z-scored with the ticker's raw training rows (NaN on a null row)."""
    groups = {str(t): g for t, g in raw.groupby(TICKER, sort=True)}
    dates = {t: g[DATE].to_numpy() for t, g in groups.items()}
    blocks = split_blocks(dates, split, window)
    t, h = window.lookback, window.horizon
    frames = []
    for b in blocks.itertuples(index=False):
        ranges = {"train": (b.train_lo + t, b.train_hi), "val": (b.val_lo, b.val_hi), "test": (b.test_lo, b.test_hi)}
        starts, names = [], []
        for name, (lo, hi) in ranges.items():
            s = np.arange(max(lo - t, 0), hi - h - t + 1)
            starts.append(s)
            names.extend([name] * len(s))
        start = np.concatenate(starts)
        price = groups[b.ticker][TARGET].to_numpy(dtype=float)
        train = price[b.train_lo : b.train_hi]
        last = (price[start + t - 1] - np.nanmean(train)) / np.nanstd(train)
        frames.append(
            pd.DataFrame(
                {
                    TICKER: b.ticker,
                    "example_index": np.arange(len(start)),
                    "split": names,
                    "window_end_date": dates[b.ticker][start + t - 1],
                    "last": last,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def map_released(raw: pd.DataFrame, forecasts: pd.DataFrame, window: WindowConfig, split: PaperSplit) -> pd.DataFrame:
    """Released forecasts with their (ticker, split, window end date); raises if counts disagree."""
    index = raw_window_index(raw, window, split)
    expected = index.groupby(TICKER).size()
    got = forecasts.groupby(TICKER).size()
    wrong = [
        f"{t}: release has {got.get(t, 0)}, raw rows give {expected.get(t, 0)}"
        for t in sorted(set(expected.index) | set(got.index))
        if got.get(t, 0) != expected.get(t, 0)
    ]
    if wrong:
        raise ReleasedForecastError("released forecasts do not match the raw-row windows: " + "; ".join(wrong[:10]))
    return index.merge(forecasts, on=[TICKER, "example_index"], how="inner", validate="one_to_one")
