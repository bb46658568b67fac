"""Metrics against empyrical-reloaded, Diebold-Mariano against a loop reference, the bootstrap's seeding."""

from __future__ import annotations

import empyrical
import numpy as np
import pytest
from scipy import stats

from vta_core.portfolio import metrics
from vta_core.portfolio.significance import block_indices, diebold_mariano, sharpe_interval


@pytest.fixture
def returns() -> np.ndarray:
    return np.random.default_rng(11).normal(0.0006, 0.01, 300)


def test_metrics_equal_empyrical(returns):
    rf = 0.03
    assert metrics.annual_return(returns) == pytest.approx(empyrical.annual_return(returns), rel=1e-12)
    assert metrics.annual_volatility(returns) == pytest.approx(empyrical.annual_volatility(returns), rel=1e-12)
    assert metrics.sharpe(returns) == pytest.approx(empyrical.sharpe_ratio(returns), rel=1e-12)
    assert metrics.sharpe(returns, rf) == pytest.approx(empyrical.sharpe_ratio(returns, risk_free=rf / 252), rel=1e-12)
    assert metrics.sortino(returns, rf) == pytest.approx(
        empyrical.sortino_ratio(returns, required_return=rf / 252), rel=1e-12
    )
    assert metrics.max_drawdown(returns) == pytest.approx(empyrical.max_drawdown(returns), rel=1e-12)
    assert metrics.calmar(returns) == pytest.approx(empyrical.calmar_ratio(returns), rel=1e-12)
    falling = np.array([-0.01, 0.005, -0.02])  # drawdown from the starting wealth counts
    assert metrics.max_drawdown(falling) == pytest.approx(empyrical.max_drawdown(falling), rel=1e-12)
    assert metrics.hit_rate(np.array([0.01, 0.0, -0.01, 0.02])) == 0.5


def _dm_reference(e1, e2, h):
    d = [a * a - b * b for a, b in zip(e1, e2, strict=True)]
    t = len(d)
    mean = sum(d) / t
    gamma = []
    for k in range(h):
        gamma.append(sum((d[i] - mean) * (d[i - k] - mean) for i in range(k, t)) / t)
    v = (gamma[0] + 2 * sum(gamma[1:])) / t
    dm = mean / v**0.5
    dm_star = dm * ((t + 1 - 2 * h + h * (h - 1) / t) / t) ** 0.5
    return dm_star, 2 * (1 - stats.t.cdf(abs(dm_star), t - 1))


@pytest.mark.parametrize("h", [1, 3, 10])
def test_diebold_mariano_matches_loop_reference(h):
    rng = np.random.default_rng(h)
    e1 = rng.normal(0, 1.0, 120)
    e2 = 0.3 * e1 + rng.normal(0, 1.2, 120)
    result = diebold_mariano(e1, e2, horizon=h)
    statistic, p = _dm_reference(e1, e2, h)
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-8)
    assert 0.0 < result.p_value < 1.0


def test_diebold_mariano_detects_a_better_forecast():
    rng = np.random.default_rng(0)
    truth_noise = rng.normal(0, 1, 500)
    better = diebold_mariano(0.5 * truth_noise, truth_noise + rng.normal(0, 0.5, 500), horizon=1)
    assert better.statistic < 0 and better.p_value < 1e-6
    same = diebold_mariano(truth_noise, truth_noise[::-1].copy(), horizon=1)
    assert same.p_value > 0.01


@pytest.mark.parametrize("kind", ["stationary", "circular"])
def test_bootstrap_is_seeded_and_covers_the_estimate(returns, kind):
    bench = returns * 0.5 + np.random.default_rng(1).normal(0.0, 0.008, len(returns))
    args = dict(block_length=10, samples=500, level=0.9, kind=kind, seed=3)
    first, again = sharpe_interval(returns, bench, **args), sharpe_interval(returns, bench, **args)
    assert first == again
    assert first.low < first.sharpe < first.high
    assert first.sharpe == pytest.approx(metrics.sharpe(returns), rel=1e-12)
    assert first.diff_low < first.diff < first.diff_high
    assert first.diff == pytest.approx(metrics.sharpe(returns) - metrics.sharpe(bench), rel=1e-12)
    other = sharpe_interval(returns, bench, **(args | {"seed": 4}))
    assert other.low != first.low


def test_block_indices_make_blocks():
    idx = block_indices(50, 5, 20, "circular", np.random.default_rng(0))
    assert idx.shape == (20, 50) and idx.min() >= 0 and idx.max() < 50
    steps = np.diff(idx, axis=1) % 50
    assert (steps[:, :4] == 1).all()  # the first block runs 5 consecutive days
    stationary = block_indices(2000, 10, 5, "stationary", np.random.default_rng(0))
    continues = (np.diff(stationary, axis=1) % 2000 == 1).mean()
    assert 0.85 < continues < 0.95  # a new block starts with probability 1 / 10
