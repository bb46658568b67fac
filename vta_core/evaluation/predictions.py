"""The one long predictions table every model writes and the evaluation reads."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vta_core.data.windows import WindowSet

PREDICTION_COLUMNS = [
    "model",
    "seed",
    "fold",
    "ticker",
    "split",
    "window_end_date",
    "step",
    "target_date",
    "y_true",
    "y_hat",
]


class PredictionShapeError(ValueError):
    """A model returned forecasts that do not match its windows."""


def prediction_frame(windows: WindowSet, y_hat: np.ndarray, model: str, seed: int | None = None) -> pd.DataFrame:
    """Long table: one row per (window, horizon step), in the standardised (scaled) space."""
    n, horizon = len(windows), windows.horizon
    if y_hat.shape != (n, horizon):
        raise PredictionShapeError(f"model {model!r}: expected forecasts of shape {(n, horizon)}, got {y_hat.shape}")
    if not np.isfinite(y_hat).all():
        raise PredictionShapeError(f"model {model!r}: {int((~np.isfinite(y_hat)).sum())} non-finite forecasts")
    idx = windows.index
    return pd.DataFrame(
        {
            "model": pd.Categorical(np.full(n * horizon, model)),
            "seed": pd.array(np.full(n * horizon, -1 if seed is None else seed), dtype="int32"),
            "fold": np.repeat(idx["fold"].to_numpy(), horizon),
            "ticker": pd.Categorical(np.repeat(idx["ticker"].astype(str).to_numpy(), horizon)),
            "split": pd.Categorical(np.repeat(idx["split"].astype(str).to_numpy(), horizon)),
            "window_end_date": np.repeat(idx["end_date"].to_numpy(), horizon),
            "step": np.tile(np.arange(1, horizon + 1, dtype=np.int16), n),
            "target_date": windows.target_dates().reshape(-1),
            "y_true": windows.targets().reshape(-1),
            "y_hat": y_hat.reshape(-1),
        }
    )[PREDICTION_COLUMNS]
