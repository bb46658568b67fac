"""Conditioning attributes c of a reasoner's forecast, aligned to windows by key, never by position.

A reasoning forecast table is the long predictions table (one row per window and horizon step) of
one model. `attributes_for` pivots it to one forecast vector per (ticker, split, window end date),
computes the configured attributes and joins them onto the windows' own index, so the row order of
the forecast table (shuffled, partial, sorted differently) cannot change which window gets which c.
Windows without a forecast (an unparsable reasoner output, a window the reasoner never saw) get
`available = False`: fusion falls back to the unconditional forecast there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

KEYS = ["ticker", "split", "window_end_date"]
ATTRIBUTES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "min": lambda f: f.min(axis=1),
    "mean": lambda f: f.mean(axis=1),
    "max": lambda f: f.max(axis=1),
    "first": lambda f: f[:, 0],
    "last": lambda f: f[:, -1],
}


def as_day(dates: pd.Series) -> pd.Series:
    """One date resolution on both sides of the join (tables differ in datetime units)."""
    return pd.to_datetime(dates).astype("datetime64[ns]")


class ConditioningError(ValueError):
    """A reasoning forecast table that cannot be turned into one vector per window."""


def forecast_vectors(forecasts: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """(ticker, split, window_end_date) -> columns 1..horizon of the forecast, from the long table."""
    models = forecasts["model"].astype(str).unique() if "model" in forecasts else []
    if len(models) > 1:
        raise ConditioningError(f"reasoning forecasts hold several models {sorted(models)}; pass one")
    if "seed" in forecasts and forecasts["seed"].nunique() > 1:
        raise ConditioningError("reasoning forecasts hold several seeds; pass one")
    frame = forecasts.assign(
        ticker=forecasts["ticker"].astype(str),
        split=forecasts["split"].astype(str),
        window_end_date=as_day(forecasts["window_end_date"]),
    )
    duplicated = frame.duplicated(KEYS + ["step"])
    if duplicated.any():
        first = frame[duplicated].iloc[0]
        raise ConditioningError(
            f"reasoning forecasts repeat step {first['step']} of window {first['ticker']} "
            f"{first['split']} {first['window_end_date']}"
        )
    wide = frame.pivot(index=KEYS, columns="step", values="y_hat")
    missing = [s for s in range(1, horizon + 1) if s not in wide.columns]
    if missing:
        raise ConditioningError(f"reasoning forecasts lack horizon steps {missing}")
    wide = wide[list(range(1, horizon + 1))]
    incomplete = wide.isna().any(axis=1)
    if incomplete.any():
        raise ConditioningError(
            f"{int(incomplete.sum())} reasoning forecasts miss some steps, e.g. {wide.index[incomplete][0]}"
        )
    return wide


def attributes_for(
    index: pd.DataFrame, forecasts: pd.DataFrame, attributes: tuple[str, ...], horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """c (n_windows, n_attributes) and available (n_windows,) for the windows of `index` (ticker, split,
    end_date), in the order of `index`. Unavailable rows of c are 0 (never read: the null token replaces them)."""
    unknown = sorted(set(attributes) - set(ATTRIBUTES))
    if unknown:
        raise ConditioningError(f"unknown conditioning attributes {unknown}; known: {sorted(ATTRIBUTES)}")
    if forecasts.empty:
        return np.zeros((len(index), len(attributes))), np.zeros(len(index), dtype=bool)
    wide = forecast_vectors(forecasts, horizon)
    values = wide.to_numpy(dtype=float)
    table = pd.DataFrame({name: ATTRIBUTES[name](values) for name in attributes}, index=wide.index)
    keys = pd.MultiIndex.from_arrays(
        [
            index["ticker"].astype(str).to_numpy(),
            index["split"].astype(str).to_numpy(),
            as_day(index["end_date"]).to_numpy(),
        ],
        names=KEYS,
    )
    aligned = table.reindex(keys)
    available = aligned.notna().all(axis=1).to_numpy()
    return np.nan_to_num(aligned.to_numpy(dtype=float), nan=0.0), available
