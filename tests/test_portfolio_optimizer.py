"""The Markowitz engines against an independent QP solution (scipy SLSQP) and against each other."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from vta_core.portfolio.optimizer import CvxpyMarkowitz, OsqpMarkowitz


def _problem(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(0.0, 0.01, size=(60, n)) + rng.normal(0.0, 0.005, size=(60, 1))
    sigma = np.cov(x, rowvar=False) + 1e-5 * np.eye(n)
    return rng.normal(0.0, 1e-3, n), sigma


def _slsqp(mu: np.ndarray, sigma: np.ndarray, gamma: float, max_weight: float | None) -> np.ndarray:
    n = len(mu)
    c = 1.0 / np.mean(np.diag(sigma))  # same argmax, better conditioned for SLSQP's tolerances
    result = minimize(
        lambda w: c * (gamma / 2 * w @ sigma @ w - mu @ w),
        np.full(n, 1.0 / n),
        jac=lambda w: c * (gamma * sigma @ w - mu),
        method="SLSQP",
        bounds=[(0.0, 1.0 if max_weight is None else max_weight)] * n,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(n)}],
        options={"ftol": 1e-13, "maxiter": 2000},
    )
    # SLSQP may end with "positive directional derivative" at ftol this tight although it is at the optimum;
    # check feasibility instead of its flag.
    assert abs(result.x.sum() - 1.0) < 1e-9 and result.x.min() > -1e-9, result.message
    return result.x


@pytest.mark.parametrize("max_weight", [None, 0.15])
@pytest.mark.parametrize("gamma", [2.0, 50.0])
def test_engines_match_independent_qp(max_weight, gamma):
    rng = np.random.default_rng(7)
    fast, reference = OsqpMarkowitz(max_weight), CvxpyMarkowitz(max_weight, "CLARABEL")
    for _ in range(12):
        n = int(rng.integers(8, 20))
        mu, sigma = _problem(rng, n)
        expected = _slsqp(mu, sigma, gamma, max_weight)
        w_fast = fast.solve(mu, sigma, gamma).weights
        w_ref = reference.solve(mu, sigma, gamma).weights
        np.testing.assert_allclose(w_fast, expected, atol=1e-6)
        np.testing.assert_allclose(w_ref, expected, atol=1e-6)
        np.testing.assert_allclose(w_fast, w_ref, atol=1e-6)
        assert w_fast.sum() == pytest.approx(1.0, abs=1e-12) and w_fast.min() >= 0.0
        if max_weight is not None:
            assert w_fast.max() <= max_weight + 1e-12


def test_zero_mu_is_the_minimum_variance_portfolio():
    rng = np.random.default_rng(3)
    mu, sigma = _problem(rng, 10)
    w = OsqpMarkowitz(None).solve(np.zeros(10), sigma, 2.0).weights
    expected = _slsqp(np.zeros(10), sigma, 1.0, None)  # min w'Sigma w on the simplex, gamma-free
    np.testing.assert_allclose(w, expected, atol=1e-6)
    assert w @ sigma @ w <= np.full(10, 0.1) @ sigma @ np.full(10, 0.1)


def test_gamma_zero_buys_the_best_forecast_and_infeasible_cap_fails():
    mu, sigma = np.array([0.001, 0.003, 0.002]), np.eye(3) * 1e-4
    np.testing.assert_allclose(OsqpMarkowitz(None).solve(mu, sigma, 0.0).weights, [0, 1, 0], atol=1e-8)
    failed = OsqpMarkowitz(0.2).solve(mu, sigma, 2.0)
    assert failed.weights is None and "infeasible" in failed.status
