"""Ridge baseline: closed form equals an independent least-squares formulation; alpha chosen on validation;
level-free features; no leakage from validation/test targets into the fit."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_oracle import evaluation_mse

from vta_core.baselines.ridge import fit_ridge, ridge_features, select_ridge
from vta_core.config.sections import RidgeConfig
from vta_core.data.windows import TARGET_COLUMN, VOLUME_COLUMN


def _windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(0, 0.1, size=(n, 10)), axis=1)
    inputs = np.repeat(path[:, :, None], 6, axis=2) + rng.normal(0, 0.01, size=(n, 10, 6))
    inputs[:, :, VOLUME_COLUMN] = rng.uniform(0, 1, size=(n, 10))
    # Momentum: the next moves continue the last daily move, so a linear model has something to find.
    last_move = inputs[:, -1, TARGET_COLUMN] - inputs[:, -2, TARGET_COLUMN]
    steps = np.arange(1, 11)
    targets = inputs[:, -1:, TARGET_COLUMN] + 0.5 * last_move[:, None] * steps + rng.normal(0, 0.02, size=(n, 10))
    return inputs, targets


@pytest.mark.parametrize("alpha", [0.0, 0.5, 50.0])
def test_closed_form_equals_augmented_least_squares(alpha):
    inputs, targets = _windows(300, 0)
    model = fit_ridge(inputs, targets, alpha)
    # Reference: unpenalised intercept column + sqrt(alpha) I rows, solved by lstsq.
    x = ridge_features(inputs)
    y = targets - inputs[:, -1:, TARGET_COLUMN]
    design = np.hstack([x, np.ones((len(x), 1))])
    penalty = np.hstack([np.sqrt(alpha) * np.eye(x.shape[1]), np.zeros((x.shape[1], 1))])
    solution, *_ = np.linalg.lstsq(
        np.vstack([design, penalty]), np.vstack([y, np.zeros((x.shape[1], y.shape[1]))]), rcond=None
    )
    np.testing.assert_allclose(model.coef, solution[:-1], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.intercept, solution[-1], rtol=1e-6, atol=1e-9)
    reference = inputs[:, -1:, TARGET_COLUMN] + design @ solution
    np.testing.assert_allclose(model.predict(inputs), reference, rtol=1e-6, atol=1e-9)


def test_forecast_moves_with_the_price_level():
    inputs, targets = _windows(200, 1)
    model = fit_ridge(inputs, targets, 1.0)
    shifted = inputs.copy()
    prices = [c for c in range(6) if c != VOLUME_COLUMN]
    shifted[:, :, prices] += 3.0
    np.testing.assert_allclose(model.predict(shifted), model.predict(inputs) + 3.0, atol=1e-9)


def test_alpha_is_chosen_on_validation_and_fit_uses_training_rows_only():
    train, val = _windows(200, 2), _windows(100, 3)
    tickers = np.array(["AAA"] * 70 + ["BBB"] * 25 + ["CCC"] * 5)
    model, scores = select_ridge(train, val, (0.01, 1.0, 1e6), val_tickers=tickers)
    # Scored independently, by the evaluation's own code: the chosen alpha has the lowest error.
    expected = {a: evaluation_mse(fit_ridge(*train, a).predict(val[0]), val[1], tickers) for a in (0.01, 1.0, 1e6)}
    assert scores == pytest.approx(expected, rel=1e-10)
    assert model.alpha == min(expected, key=expected.get)
    assert expected[1e6] > 1.5 * expected[model.alpha]  # a huge penalty collapses to the mean change: worse here
    # Changing validation targets may change the chosen alpha, never the coefficients of a given alpha.
    same = fit_ridge(*train, model.alpha)
    np.testing.assert_array_equal(same.coef, model.coef)


def test_bad_alpha_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        fit_ridge(*_windows(20, 4), -1.0)
    with pytest.raises(ValueError):
        RidgeConfig(alphas=())
    with pytest.raises(ValueError):
        RidgeConfig(alphas=(-1.0,))


def test_later_prices_do_not_change_the_fitted_model(stocknet_clean):
    """Leakage: the ridge fit sees training windows only, so changing validation/test-period prices of a
    ticker must leave its coefficients bit for bit unchanged."""
    from vta_core.config.sections import PaperSplit, WindowConfig
    from vta_core.data.schema import DATE, TICKER
    from vta_core.data.splits import split_blocks
    from vta_core.data.windows import build_windows

    prices = stocknet_clean[stocknet_clean[TICKER].isin(["AAPL", "XOM"])].reset_index(drop=True)

    def fitted(frame):
        dates = {str(t): g[DATE].to_numpy() for t, g in frame.groupby(TICKER, sort=False)}
        ws, _ = build_windows(frame, split_blocks(dates, PaperSplit(), WindowConfig()), 10, 10)
        train = ws.select("train")
        return fit_ridge(train.inputs(), train.targets(), 10.0)

    changed = prices.copy()
    late = changed[DATE] >= changed[DATE].quantile(0.8)
    value_columns = ["Open", "High", "Low", "Close", "Adj Close"]
    changed.loc[late, value_columns] = changed.loc[late, value_columns] * 1.7
    base, moved = fitted(prices), fitted(changed)
    np.testing.assert_array_equal(base.coef, moved.coef)
    np.testing.assert_array_equal(base.intercept, moved.intercept)
