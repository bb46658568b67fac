"""Linear baseline: pooled ridge regression from the standardised window to the next T' changes.

Features are the window's price channels minus its last target value (so the model sees shape, not
level) and its min-max-scaled volume, flattened; targets are the next T' values minus the last one.
The intercept is not penalised (features and targets are centred on the training means), and the
regularisation strength is chosen on validation windows only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vta_core.data.windows import TARGET_COLUMN, VOLUME_COLUMN
from vta_core.evaluation.selection import lowest, per_ticker_mse

LOG = logging.getLogger(__name__)


def ridge_features(inputs: np.ndarray) -> np.ndarray:
    """(n, T, C) scaled windows -> (n, T * C) level-free features."""
    last = inputs[:, -1:, TARGET_COLUMN]  # (n, 1)
    relative = inputs - last[:, :, None]
    relative[:, :, VOLUME_COLUMN] = inputs[:, :, VOLUME_COLUMN]
    return relative.reshape(len(inputs), -1)


@dataclass(frozen=True)
class RidgeModel:
    coef: np.ndarray  # (features, horizon)
    intercept: np.ndarray  # (horizon,)
    alpha: float

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(n, T, C) -> (n, horizon) forecasts in the scaled space."""
        change = ridge_features(inputs) @ self.coef + self.intercept
        return inputs[:, -1:, TARGET_COLUMN] + change


def fit_ridge(inputs: np.ndarray, targets: np.ndarray, alpha: float) -> RidgeModel:
    """Closed-form ridge: (X'X + alpha I) W = X'Y on centred X, Y; intercept from the means."""
    if alpha < 0:
        raise ValueError(f"ridge alpha must be >= 0, got {alpha}")
    x = ridge_features(inputs)
    y = targets - inputs[:, -1:, TARGET_COLUMN]
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc + alpha * np.eye(x.shape[1])
    # lstsq, not solve: with alpha = 0 the always-zero last target feature makes the Gram matrix singular.
    coef = np.linalg.lstsq(gram, xc.T @ yc, rcond=None)[0]
    return RidgeModel(coef=coef, intercept=y_mean - x_mean @ coef, alpha=float(alpha))


def select_ridge(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    alphas: tuple[float, ...],
    val_tickers: np.ndarray | None = None,
) -> tuple[RidgeModel, dict[float, float]]:
    """Fit one model per alpha on training windows; keep the lowest validation per-ticker MSE.

    val_tickers: (n_val,) each validation window's ticker (the evaluation's per-ticker average). None
    pools every window as one ticker, for callers that predate it; a warning says so.
    """
    if val_tickers is None:
        LOG.warning("ridge: validation windows carry no tickers; alpha is chosen on the pooled MSE")
        val_tickers = np.zeros(len(val[1]), dtype=np.int64)
    models = {float(alpha): fit_ridge(*train, alpha) for alpha in alphas}
    scores = {alpha: per_ticker_mse(model.predict(val[0]), val[1], val_tickers) for alpha, model in models.items()}
    return models[lowest(scores)], scores
