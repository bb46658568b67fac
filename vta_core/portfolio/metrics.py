"""Performance metrics of a daily return series; one written definition each (empyrical's conventions).

r is the array of daily simple returns (one per session), n = len(r), A = 252 sessions a year,
rf_d = risk_free / A the daily risk-free rate.
"""

from __future__ import annotations

import numpy as np

PERIODS = 252


def annual_return(r: np.ndarray) -> float:
    """CAGR: prod(1 + r) ** (A / n) - 1."""
    if len(r) == 0:
        return float("nan")
    return float(np.prod(1.0 + r) ** (PERIODS / len(r)) - 1.0)


def annual_volatility(r: np.ndarray) -> float:
    """std(r, ddof=1) * sqrt(A)."""
    return float(np.std(r, ddof=1) * np.sqrt(PERIODS)) if len(r) > 1 else float("nan")


def sharpe(r: np.ndarray, risk_free: float = 0.0) -> float:
    """mean(r - rf_d) / std(r - rf_d, ddof=1) * sqrt(A); NaN when the excess return does not vary."""
    if len(r) < 2:
        return float("nan")
    excess = r - risk_free / PERIODS
    sd = np.std(excess, ddof=1)
    return float(np.mean(excess) / sd * np.sqrt(PERIODS)) if sd > 0 else float("nan")


def sortino(r: np.ndarray, risk_free: float = 0.0) -> float:
    """mean(r - rf_d) * A / (sqrt(mean(min(r - rf_d, 0)^2)) * sqrt(A)); the downside mean runs over all days."""
    if len(r) < 2:
        return float("nan")
    excess = r - risk_free / PERIODS
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) * np.sqrt(PERIODS)
    return float(np.mean(excess) * PERIODS / downside) if downside > 0 else float("nan")


def max_drawdown(r: np.ndarray) -> float:
    """min_t (W_t / max_{s<=t} W_s - 1) with W_t = prod_{s<=t}(1 + r_s) and W_0 = 1 counted as a peak (<= 0)."""
    if len(r) == 0:
        return float("nan")
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return float(np.min(wealth / np.maximum.accumulate(wealth) - 1.0))


def calmar(r: np.ndarray) -> float:
    """annual_return / |max_drawdown|; NaN without a drawdown."""
    drawdown = max_drawdown(r)
    return annual_return(r) / abs(drawdown) if drawdown < 0 else float("nan")


def hit_rate(r: np.ndarray) -> float:
    """Share of sessions with a strictly positive return."""
    return float(np.mean(r > 0)) if len(r) else float("nan")


def performance(gross: np.ndarray, net: np.ndarray, turnover: np.ndarray, cost: np.ndarray, risk_free: float) -> dict:
    """Every metric of one backtest, for gross and net returns, plus turnover and costs.

    avg_turnover = mean daily turnover (sum |target - drifted| on trade days, 0 otherwise);
    total_costs = sum of daily costs as a fraction of portfolio value (not compounded).
    """
    out: dict[str, float] = {"days": float(len(net))}
    for basis, r in (("gross", gross), ("net", net)):
        out[f"annual_return_{basis}"] = annual_return(r)
        out[f"annual_volatility_{basis}"] = annual_volatility(r)
        out[f"sharpe_{basis}"] = sharpe(r, risk_free)
        out[f"sortino_{basis}"] = sortino(r, risk_free)
        out[f"max_drawdown_{basis}"] = max_drawdown(r)
        out[f"calmar_{basis}"] = calmar(r)
        out[f"hit_rate_{basis}"] = hit_rate(r)
    out["avg_turnover"] = float(np.mean(turnover)) if len(turnover) else float("nan")
    out["total_costs"] = float(np.sum(cost))
    return out
