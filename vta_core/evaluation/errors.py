"""MSE / MAE per model, averaged per ticker then across tickers (the paper's protocol).

Standardised-space errors are the paper's numbers. Price-space errors (inverse-transformed with
each ticker's training scaler) are the ones a trader reads: MAE in currency units and MAPE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PER_TICKER_KEYS = ["model", "seed", "split", "fold", "ticker"]


class EvaluationError(ValueError):
    """Predictions that cannot be evaluated (missing split, no rows)."""


def per_ticker_errors(predictions: pd.DataFrame, scalers: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, seed, split, fold, ticker) with std-space and price-space errors."""
    frame = (
        predictions.merge(
            scalers[["fold", "ticker", "price_mean", "price_std"]].astype({"ticker": str}),
            on=["fold", "ticker"],
            how="left",
            validate="many_to_one",
        )
        if len(predictions)
        else predictions
    )
    if frame["price_std"].isna().any():
        missing = frame.loc[frame["price_std"].isna(), ["fold", "ticker"]].drop_duplicates()
        raise EvaluationError(f"no scaler for {missing.to_dict('records')[:5]}")
    err = frame["y_hat"].to_numpy() - frame["y_true"].to_numpy()
    price_true = frame["y_true"].to_numpy() * frame["price_std"].to_numpy() + frame["price_mean"].to_numpy()
    price_err = err * frame["price_std"].to_numpy()
    parts = pd.DataFrame(
        {
            **{k: frame[k].astype(str) if k in {"model", "ticker", "split"} else frame[k] for k in PER_TICKER_KEYS},
            "window_end_date": frame["window_end_date"],
            "sq": err**2,
            "abs": np.abs(err),
            "abs_price": np.abs(price_err),
            "ape": np.abs(price_err) / np.abs(price_true),
        }
    )
    grouped = parts.groupby(PER_TICKER_KEYS, observed=True, sort=True)
    out = grouped.agg(
        mse=("sq", "mean"),
        mae=("abs", "mean"),
        mae_price=("abs_price", "mean"),
        mape=("ape", "mean"),
        windows=("window_end_date", "nunique"),
    ).reset_index()
    out["mape"] *= 100.0
    return out


def summary_errors(per_ticker: pd.DataFrame, splits: tuple[str, ...]) -> pd.DataFrame:
    """Mean over tickers (and over folds, for walk-forward), then mean and std over seeds."""
    absent = sorted(set(splits) - set(per_ticker["split"]))
    if absent:
        raise EvaluationError(
            f"no predictions for split(s) {absent}; models predicted {sorted(set(per_ticker['split']))}"
        )
    chosen = per_ticker[per_ticker["split"].isin(splits)]
    by_seed = (
        chosen.groupby(["model", "seed", "split"], observed=True)
        .agg(
            mse=("mse", "mean"),
            mae=("mae", "mean"),
            mae_price=("mae_price", "mean"),
            mape=("mape", "mean"),
            tickers=("ticker", "nunique"),
            windows=("windows", "sum"),
            folds=("fold", "nunique"),
        )
        .reset_index()
    )
    metrics = ["mse", "mae", "mae_price", "mape"]
    summary = (
        by_seed.groupby(["model", "split"], observed=True)
        .agg(
            **{m: (m, "mean") for m in metrics},
            **{f"{m}_std": (m, "std") for m in ("mse", "mae")},
            seeds=("seed", lambda s: ",".join(str(v) for v in sorted(set(s)) if v >= 0) or "-"),
            tickers=("tickers", "max"),
            windows=("windows", "max"),
            folds=("folds", "max"),
        )
        .reset_index()
    )
    summary[["mse_std", "mae_std"]] = summary[["mse_std", "mae_std"]].fillna(0.0)
    summary["source"] = "ours"
    return summary.sort_values(["split", "mse"]).reset_index(drop=True)
