"""Tiny synthetic market and forecasts for the portfolio tests (XNYS sessions, identity scalers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vta_core.data.calendars import sessions


def xnys(start: str, end: str) -> np.ndarray:
    return sessions("XNYS", pd.Timestamp(start), pd.Timestamp(end)).astype("datetime64[ns]")


def panel(
    tickers=("AAA", "BBB", "CCC", "DDD"), start="2016-05-02", end="2017-01-31", seed=0, trend=0.0
) -> pd.DataFrame:
    """Long prices: a random walk per ticker; `trend` adds a persistent drift regime (forecastable)."""
    rng = np.random.default_rng(seed)
    dates = xnys(start, end)
    parts = []
    for k, t in enumerate(tickers):
        drift = trend * np.sin(np.arange(len(dates)) / 15.0 + k)  # slowly moving, so tomorrow ~ today
        r = drift + rng.normal(0.0, 0.01, len(dates))
        price = 50.0 * (k + 1) * np.cumprod(1.0 + r)
        parts.append(pd.DataFrame({"date": dates, "ticker": t, "Adj Close": price}))
    out = pd.concat(parts, ignore_index=True)
    for col in ("Open", "High", "Low", "Close"):
        out[col] = out["Adj Close"]
    out["Volume"] = 1e6
    return out


def forecasts(prices: pd.DataFrame, start: str, end: str, model="m", seed=-1, horizon=3, noise=0.0, rng_seed=1):
    """Predictions (identity scalers) whose y_hat is the realised future price times (1 + noise)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for t, g in prices.groupby("ticker"):
        d, a = g["date"].to_numpy(), g["Adj Close"].to_numpy()
        for i in np.flatnonzero((d >= np.datetime64(start)) & (d <= np.datetime64(end))):
            for s in range(1, horizon + 1):
                if i + s < len(a):
                    truth = a[i + s]
                    rows.append(
                        (model, seed, 0, t, "test", d[i], s, d[i + s], truth, truth * (1 + noise * rng.normal()))
                    )
    cols = ["model", "seed", "fold", "ticker", "split", "window_end_date", "step", "target_date", "y_true", "y_hat"]
    return pd.DataFrame(rows, columns=cols)


def identity_scalers(prices: pd.DataFrame) -> pd.DataFrame:
    tickers = sorted(prices["ticker"].unique())
    return pd.DataFrame({"fold": 0, "ticker": tickers, "price_mean": 0.0, "price_std": 1.0})
