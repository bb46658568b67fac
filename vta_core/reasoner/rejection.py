"""Rejection sampling (stage 2): keep the lowest-MSE completions of each (ticker, time period) bucket."""

from __future__ import annotations

import math

import pandas as pd

PERIOD_CODES = {"month": "M", "quarter": "Q", "year": "Y"}


def period_label(dates: pd.Series, period: str) -> pd.Series:
    return pd.to_datetime(dates).dt.to_period(PERIOD_CODES[period]).astype(str)


def select_best(frame: pd.DataFrame, keep_fraction: float, period: str) -> pd.DataFrame:
    """Rows of `frame` (ticker, window_end_date, mse; mse NaN = unparsable) kept for SFT.

    Per bucket, ceil(keep_fraction x bucket size) rows with the lowest MSE, so every bucket with a
    parsable completion contributes at least one; unparsable rows are never kept. Ties go to the
    earlier row, so the choice is deterministic.
    """
    if frame.empty:
        return frame.copy()
    work = frame.assign(_period=period_label(frame["window_end_date"], period), _row=range(len(frame)))
    kept = []
    for _, bucket in work.groupby(["ticker", "_period"], sort=True, observed=True):
        quota = math.ceil(keep_fraction * len(bucket))
        valid = bucket[bucket["mse"].notna()].sort_values(["mse", "_row"], kind="stable")
        kept.append(valid.head(quota))
    out = pd.concat(kept) if kept else work.head(0)
    return out.sort_values("_row").drop(columns=["_period", "_row"])
