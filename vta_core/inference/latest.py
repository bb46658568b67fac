"""The latest window of each ticker in new price data, scaled with a trained run's scalers.

New data goes through the same reading, validation and cleansing as training data. A ticker the
run never trained on, or one with fewer than T clean rows, is an error naming the file, the ticker
and the rule; every such problem is collected before raising.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.schema import DATE, TICKER, VALUE_COLUMNS
from vta_core.data.windows import WindowSet

SPLIT = "predict"


def latest_windows(prices: pd.DataFrame, trained: WindowSet, source: Path) -> WindowSet:
    """One window per ticker: its last `lookback` clean rows, with the run's (last fold's) scaler."""
    lookback = trained.lookback
    fold = int(trained.scalers["fold"].max())
    scalers = trained.scalers[trained.scalers["fold"] == fold].reset_index(drop=True)
    known = {str(t): i for i, t in enumerate(scalers[TICKER].astype(str))}
    problems: list[DataProblem] = []
    rows: list[pd.DataFrame] = []
    offsets: dict[str, int] = {}
    for ticker, group in prices.groupby(TICKER, sort=True, observed=True):
        ticker = str(ticker)
        if ticker not in known:
            problems.append(
                DataProblem(
                    str(source),
                    "unknown_ticker",
                    f"the run was not trained on {ticker}; it "
                    f"knows {len(known)} tickers (e.g. {', '.join(sorted(known)[:5])})",
                    ticker,
                )
            )
        elif len(group) < lookback:
            problems.append(
                DataProblem(
                    str(source),
                    "too_little_history",
                    f"{len(group)} clean rows, the window "
                    f"needs T = {lookback} (see the cleansing audit for dropped rows)",
                    ticker,
                )
            )
        else:
            offsets[ticker] = sum(len(g) for g in rows)
            rows.append(group)
    if problems:
        raise DataValidationError(problems)
    if not rows:
        raise DataValidationError([DataProblem(str(source), "empty", "no clean rows to forecast from")])
    frame = pd.concat(rows, ignore_index=True)
    tickers = sorted(offsets)
    chosen = scalers.iloc[[known[t] for t in tickers]].reset_index(drop=True)
    chosen["first_row"] = [offsets[t] for t in tickers]  # causal history (history-mode indicators) starts here
    sizes = frame.groupby(TICKER, sort=True, observed=True).size()
    starts = np.array([offsets[t] + int(sizes[t]) - lookback for t in tickers], dtype=np.int64)
    dates = frame[DATE].to_numpy().astype("datetime64[s]")
    index = pd.DataFrame(
        {
            "fold": np.full(len(tickers), fold, dtype=np.int16),
            TICKER: tickers,
            "split": SPLIT,
            "start": starts,
            "scaler_id": np.arange(len(tickers), dtype=np.int32),
            "end_date": dates[starts + lookback - 1],
        }
    )
    panel = np.ascontiguousarray(frame[list(VALUE_COLUMNS)].to_numpy(dtype=np.float64))
    return WindowSet(panel, dates, index, chosen, lookback, trained.horizon)
