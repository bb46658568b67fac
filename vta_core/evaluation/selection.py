"""The one validation metric every hyperparameter is selected with, and the one tie-break rule.

The evaluation (`errors.per_ticker_errors` then `errors.summary_errors`) scores a model by its MSE
averaged over each ticker's windows and horizon steps, then averaged over tickers, so every ticker
weighs the same however many windows it has. Selecting analyst damping, ridge alpha, the early-stopping
epoch and the guidance scale with a different number (e.g. the MSE pooled over all windows, which lets
long-history tickers dominate) could prefer a candidate the evaluation ranks lower; so all of them
call `per_ticker_mse` here, and a test checks it against the evaluation itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


def per_ticker_mse(y_hat: np.ndarray, y: np.ndarray, tickers: np.ndarray) -> float:
    """Mean squared error per ticker (over its windows and horizon steps), then the mean over tickers.

    y_hat, y: (n, H) (or (n,)) forecasts and targets of n windows; tickers: (n,) the window's ticker.
    Every window has the same horizon, so a ticker's mean over its (window, step) cells equals the
    mean of its per-window MSEs. Non-finite forecasts give a non-finite score, which `lowest` never
    prefers over a finite one (a diverged epoch or candidate can still be scored, never selected).
    """
    y_hat, y = np.asarray(y_hat, dtype=np.float64), np.asarray(y, dtype=np.float64)
    tickers = np.asarray(tickers)
    if y_hat.shape != y.shape or y.ndim not in (1, 2) or tickers.shape != (len(y),):
        raise ValueError(
            f"expected y_hat and y of one shape (n, H) and tickers (n,), got {y_hat.shape}, "
            f"{y.shape} and {tickers.shape}"
        )
    if len(y) == 0:
        raise ValueError("no windows to score: a selection needs at least one validation window")
    sq = ((y_hat - y) ** 2).reshape(len(y), -1).mean(axis=1)  # (n,) per-window MSE
    _, group = np.unique(tickers.astype(str), return_inverse=True)
    per_ticker = np.bincount(group, weights=sq) / np.bincount(group)
    return float(per_ticker.mean())


def lowest(scores: Mapping[float, float]) -> float:
    """The candidate with the lowest score.

    Ties (exactly equal scores) go to the smallest candidate value: for the damping (0 = persistence)
    and the guidance scale (0 = the backbone alone) that is the more conservative choice; ridge alphas
    practically never tie. NaN scores rank after every number, so a NaN is chosen only if all are NaN.
    """
    if not scores:
        raise ValueError("no candidates to choose from")

    def rank(candidate: float) -> tuple[bool, float, float]:
        score = scores[candidate]
        return (math.isnan(score), 0.0 if math.isnan(score) else score, candidate)

    return min(scores, key=rank)
