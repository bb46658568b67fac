"""The latest window of each ticker in new price data, scaled with a trained run's scalers.

New data goes through the same reading, validation and cleansing as training data. A ticker the run never
trained on is scaled with a scaler fitted on its own clean history in the new data (every row up to the window's
last day: causal, as no later row exists) when it has at least `min_history` rows, and marked so; the backbone is
one global model over standardised prices, so it applies to any ticker. A ticker with fewer than T clean rows, or
an unknown one with too little history for a scaler of its own, is a problem naming the file, the ticker and the
rule; `strict` raises on the first batch of problems, otherwise they are returned beside the windows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.schema import DATE, TARGET, TICKER, VALUE_COLUMNS, VOLUME
from vta_core.data.windows import WindowSet

SPLIT = "predict"


RUN_SCALER = "run"
OWN_SCALER = "own history"


def own_history_scaler(group: pd.DataFrame, fold: int, ticker: str) -> dict[str, object]:
    """The run's scaler recipe (price mean and std, volume min and span) on the ticker's own rows."""
    target, volume = group[TARGET].to_numpy(float), group[VOLUME].to_numpy(float)
    span = float(volume.max() - volume.min()) if volume.max() > volume.min() else 1.0
    return {
        "fold": fold,
        TICKER: ticker,
        "price_mean": float(target.mean()),
        "price_std": float(target.std(ddof=0)),
        "volume_min": float(volume.min()),
        "volume_span": span,
        "train_rows": len(group),
    }


def latest_windows(
    prices: pd.DataFrame, trained: WindowSet, source: Path | str, min_history: int = 60, strict: bool = True
) -> tuple[WindowSet, list[DataProblem]]:
    """One window per ticker: its last `lookback` clean rows, with the run's (last fold's) scaler, or one fitted
    on its own history for a ticker the run never saw (column `scaler`: 'run' or 'own history')."""
    lookback = trained.lookback
    fold = int(trained.scalers["fold"].max())
    scalers = trained.scalers[trained.scalers["fold"] == fold].reset_index(drop=True)
    known = {str(t): i for i, t in enumerate(scalers[TICKER].astype(str))}
    problems: list[DataProblem] = []
    rows: list[pd.DataFrame] = []
    offsets: dict[str, int] = {}
    own: dict[str, dict[str, object]] = {}
    for ticker, group in prices.groupby(TICKER, sort=True, observed=True):
        ticker = str(ticker)
        if ticker not in known and len(group) < max(min_history, lookback):
            problems.append(
                DataProblem(
                    str(source),
                    "too_little_history_for_own_scaler",
                    f"the run was not trained on {ticker}, and its {len(group)} clean rows are fewer than the "
                    f"{max(min_history, lookback)} needed to fit a scaler on its own history",
                    ticker,
                )
            )
        elif ticker not in known:
            own[ticker] = own_history_scaler(group, fold, ticker)
            offsets[ticker] = sum(len(g) for g in rows)
            rows.append(group)
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
    if problems and strict:
        raise DataValidationError(problems)
    if not rows:
        raise DataValidationError([*problems, DataProblem(str(source), "empty", "no ticker to forecast")])
    frame = pd.concat(rows, ignore_index=True)
    tickers = sorted(offsets)
    chosen = pd.DataFrame(
        [own[t] if t in own else scalers.iloc[known[t]].to_dict() for t in tickers], columns=list(scalers.columns)
    )
    chosen["scaler"] = [OWN_SCALER if t in own else RUN_SCALER for t in tickers]
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
    return WindowSet(panel, dates, index, chosen, lookback, trained.horizon), problems
