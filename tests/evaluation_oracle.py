"""The evaluation's own MSE of a forecast array, for tests that check what a selection optimised.

It goes through the long predictions table and `errors.per_ticker_errors` + `errors.summary_errors`,
i.e. the code the reported numbers come from, not through `evaluation.selection`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vta_core.evaluation.errors import per_ticker_errors, summary_errors


def evaluation_mse(y_hat: np.ndarray, y: np.ndarray, tickers: np.ndarray) -> float:
    """Standardised-space MSE of (n, H) forecasts as the evaluation reports it for one model and seed."""
    n, horizon = y.shape
    tickers = np.asarray(tickers).astype(str)
    table = pd.DataFrame(
        {
            "model": "m",
            "seed": 0,
            "split": "val",
            "fold": 0,
            "ticker": np.repeat(tickers, horizon),
            "window_end_date": np.repeat(pd.date_range("2000-01-03", periods=n, freq="D"), horizon),
            "y_true": np.asarray(y, dtype=float).reshape(-1),
            "y_hat": np.asarray(y_hat, dtype=float).reshape(-1),
        }
    )
    scalers = pd.DataFrame({"fold": 0, "ticker": np.unique(tickers), "price_mean": 10.0, "price_std": 2.0})
    summary = summary_errors(per_ticker_errors(table, scalers), ("val",))
    assert len(summary) == 1
    return float(summary["mse"].iloc[0])
