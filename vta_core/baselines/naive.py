"""Naive forecasters every learned model must beat.

Both take the scaled target history of each window, shape (n_windows, lookback), and return
forecasts of shape (n_windows, horizon).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Forecaster = Callable[[np.ndarray, int], np.ndarray]


def persistence(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value."""
    return np.repeat(history[:, -1:], horizon, axis=1)


def drift(history: np.ndarray, horizon: int) -> np.ndarray:
    """Extend the window's mean daily change: last + h * (last - first) / (lookback - 1)."""
    lookback = history.shape[1]
    if lookback < 2:
        return persistence(history, horizon)
    slope = (history[:, -1] - history[:, 0]) / (lookback - 1)
    steps = np.arange(1, horizon + 1, dtype=history.dtype)
    return history[:, -1:] + slope[:, None] * steps[None, :]


NAIVE_FORECASTERS: dict[str, Forecaster] = {"persistence": persistence, "drift": drift}
