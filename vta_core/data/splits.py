"""Chronological splits as per-ticker row blocks.

Every split kind reduces to, per (fold, ticker), row ranges in that ticker's cleaned rows:
training rows [train_lo, train_hi) (scalers are fitted on them, training windows lie inside them)
and target ranges [val_lo, val_hi) and [test_lo, test_hi). A window belongs to a split when all
its target rows lie inside the split's range; its inputs may reach back into earlier rows (so
validation and test windows start T rows early, TSLib convention). A purge of p rows leaves p
unused target rows between consecutive ranges.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from vta_core.config.data_sections import DateSplit, PaperSplit, SplitConfig, WalkForwardSplit, WindowConfig

LOG = logging.getLogger(__name__)
BLOCK_COLUMNS = ["fold", "ticker", "n_rows", "train_lo", "train_hi", "val_lo", "val_hi", "test_lo", "test_hi"]


class SplitError(ValueError):
    """The split cannot be built on this data (e.g. not enough history for the folds)."""


def split_blocks(dates_by_ticker: dict[str, np.ndarray], split: SplitConfig, window: WindowConfig) -> pd.DataFrame:
    """One row per (fold, ticker) with the row ranges of BLOCK_COLUMNS."""
    if isinstance(split, PaperSplit):
        rows = [_paper(t, len(d), split) for t, d in dates_by_ticker.items()]
    elif isinstance(split, DateSplit):
        purge = window.horizon if split.purge is None else split.purge
        cut = _DateCuts(
            np.datetime64(split.train_end),
            np.datetime64(split.val_end),
            None if split.test_end is None else np.datetime64(split.test_end),
        )
        rows = [_by_dates(0, t, d, cut, purge) for t, d in dates_by_ticker.items()]
    elif isinstance(split, WalkForwardSplit):
        rows = _walk_forward(dates_by_ticker, split, window)
    else:  # pragma: no cover - the config union is closed
        raise SplitError(f"unknown split {split!r}")
    return pd.DataFrame(rows, columns=BLOCK_COLUMNS)


def _paper(ticker: str, n: int, split: PaperSplit) -> tuple:
    n_train = int(n * split.train_fraction)
    n_test = int(n * split.test_fraction)
    val_end = n - n_test
    return (0, ticker, n, 0, n_train, n_train + split.purge, val_end, val_end + split.purge, n)


class _DateCuts:
    def __init__(
        self,
        train_end: np.datetime64,
        val_end: np.datetime64,
        test_end: np.datetime64 | None,
        train_start: np.datetime64 | None = None,
    ):
        self.train_start, self.train_end, self.val_end, self.test_end = train_start, train_end, val_end, test_end


def _by_dates(fold: int, ticker: str, dates: np.ndarray, cut: _DateCuts, purge: int) -> tuple:
    day = dates.astype("datetime64[D]")
    count = lambda bound: int(np.searchsorted(day, bound.astype("datetime64[D]"), side="right"))  # noqa: E731
    lo = (
        0
        if cut.train_start is None
        else int(np.searchsorted(day, cut.train_start.astype("datetime64[D]"), side="left"))
    )
    train_hi, val_hi = count(cut.train_end), count(cut.val_end)
    test_hi = len(day) if cut.test_end is None else count(cut.test_end)
    return (fold, ticker, len(day), lo, train_hi, train_hi + purge, val_hi, val_hi + purge, test_hi)


def _walk_forward(dates_by_ticker: dict[str, np.ndarray], split: WalkForwardSplit, window: WindowConfig) -> list[tuple]:
    """Folds on the union calendar of all tickers, newest fold last; cut dates are session dates."""
    purge = window.horizon if split.purge is None else split.purge
    calendar = np.unique(np.concatenate([d.astype("datetime64[D]") for d in dates_by_ticker.values()]))
    needed = split.min_train_sessions + 2 * purge + split.val_sessions + split.n_folds * split.test_sessions
    if needed > len(calendar):
        raise SplitError(
            f"walk-forward with {split.n_folds} folds needs {needed} sessions "
            f"(min_train {split.min_train_sessions} + val {split.val_sessions} + {split.n_folds} x test "
            f"{split.test_sessions} + purges), the data has {len(calendar)}"
        )
    rows = []
    for fold in range(split.n_folds):
        test_end = len(calendar) - (split.n_folds - 1 - fold) * split.test_sessions  # exclusive index
        test_start = test_end - split.test_sessions
        val_end = test_start - purge  # last val target at val_end - 1
        train_end = val_end - split.val_sessions - purge
        train_start = 0 if split.expanding else max(0, train_end - split.min_train_sessions)
        cut = _DateCuts(calendar[train_end - 1], calendar[val_end - 1], calendar[test_end - 1], calendar[train_start])
        for ticker, dates in dates_by_ticker.items():
            rows.append(_by_dates(fold, ticker, dates, cut, purge))
    return rows
