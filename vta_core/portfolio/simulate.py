"""Turn daily decisions into target weights, then into daily gross / net returns.

Timing convention (the conservative one; `lag` = config.execution_lag, default 1):
- the decision for session t uses only data up to the close of t (prices, returns, forecasts made at t);
- the trade executes at the close of session t + lag of the exchange calendar (grid rows, so a Friday
  decision trades at Monday's close and a Wednesday-before-Thanksgiving decision trades on Friday),
  priced at that session's Adj Close;
- the new weights earn from that close on: the first return they earn is the close-to-close return of
  session t + lag + 1. Until then the previous weights keep drifting and earning.

Accounting on session j (weights are shares of portfolio value, cash earns 0 and only exists before
the first trade):
- gross_j = sum_i w_i * r_ij with w the weights held since the close of j-1;
- the weights drift: w_i <- w_i (1 + r_ij) / (1 + gross_j);
- on a trade session: turnover_j = sum_i |target_i - drifted_i| (the first trade, from cash, has
  turnover 1), cost_j = turnover_j * cost_rate, net_j = gross_j - cost_j; otherwise net_j = gross_j.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vta_core.portfolio.market import Market, RiskModel
from vta_core.portfolio.optimizer import Markowitz

REASONS = ("not_listed", "no_price", "no_forecast", "short_history")


@dataclass(frozen=True)
class Plan:
    """What a strategy decided: target weights per decision row, plus what it left out and why."""

    rows: np.ndarray  # (d,) grid rows of the decision dates
    targets: list[np.ndarray | None]  # (m,) weights per decision, or None = no trade (keep drifted)
    skipped: pd.DataFrame  # date, ticker, reason
    failures: pd.DataFrame  # date, reason


def universe_reasons(market: Market, risk: RiskModel | None, row: int, forecast: np.ndarray | None) -> np.ndarray:
    """(m,) object: why each ticker is out of the day's problem, "" when it is in.

    Checked in order: not_listed (before its first / after its last price), no_price (no price at t),
    no_forecast (the strategy has no finite mu for it), short_history (too few returns for Sigma).
    """
    m = len(market.tickers)
    reason = np.full(m, "", dtype=object)
    history_ok = risk.eligible(row) if risk is not None else np.ones(m, dtype=bool)
    reason[~history_ok] = "short_history"
    if forecast is not None:
        reason[~np.isfinite(forecast)] = "no_forecast"
    reason[~np.isfinite(market.prices[row])] = "no_price"
    reason[(row < market.first) | (row > market.last)] = "not_listed"
    return reason


def plan_markowitz(
    market: Market,
    risk: RiskModel,
    rows: np.ndarray,
    mu: np.ndarray | None,
    solver: Markowitz,
    gamma: float,
    on_decision: Callable[[], None] | None = None,
) -> Plan:
    """Daily Markowitz targets; mu (d, m) with NaN where there is no forecast, or None for mu = 0.
    `on_decision()` after each decision day."""
    targets: list[np.ndarray | None] = []
    skipped: list[tuple] = []
    failures: list[tuple] = []
    for d, row in enumerate(rows):
        forecast = None if mu is None else mu[d]
        target, failure = _markowitz_target(market, risk, row, forecast, solver, gamma, skipped)
        targets.append(target)
        if failure is not None:
            failures.append((market.dates[row], failure))
        if on_decision is not None:
            on_decision()
    return Plan(rows, targets, _skipped_frame(skipped), _failure_frame(failures))


def _markowitz_target(
    market: Market,
    risk: RiskModel,
    row: int,
    forecast: np.ndarray | None,
    solver: Markowitz,
    gamma: float,
    skipped: list[tuple],
) -> tuple[np.ndarray | None, str | None]:
    """One day's target weights, or None and why no trade (left-out tickers are added to `skipped`)."""
    reason = universe_reasons(market, risk, row, forecast)
    _record(skipped, market, row, reason)
    columns = np.flatnonzero(reason == "")
    if len(columns) == 0:
        return None, "empty universe: no ticker with price, forecast and history"
    sigma = risk.covariance(row, columns)
    if sigma is None:
        return None, "covariance: fewer than 2 complete return sessions"
    day_mu = np.zeros(len(columns)) if forecast is None else forecast[columns]
    solution = solver.solve(day_mu, sigma, gamma)
    if solution.weights is None:
        return None, solution.status
    full = np.zeros(len(market.tickers))
    full[columns] = solution.weights
    return full, None


def plan_equal_weight(
    market: Market, rows: np.ndarray, rebalance: bool, on_decision: Callable[[], None] | None = None
) -> Plan:
    """1/n over the tickers with a price at t; buy-and-hold (rebalance=False) trades only on the first day.
    `on_decision()` after each decision day."""
    targets: list[np.ndarray | None] = []
    skipped: list[tuple] = []
    failures: list[tuple] = []
    for d, row in enumerate(rows):
        # buy-and-hold: drift after the first day, and listings after the start are never bought
        target, failure = (None, None) if d > 0 and not rebalance else _equal_target(market, row, skipped)
        targets.append(target)
        if failure is not None:
            failures.append((market.dates[row], failure))
        if on_decision is not None:
            on_decision()
    return Plan(rows, targets, _skipped_frame(skipped), _failure_frame(failures))


def _equal_target(market: Market, row: int, skipped: list[tuple]) -> tuple[np.ndarray | None, str | None]:
    reason = universe_reasons(market, None, row, None)
    _record(skipped, market, row, reason)
    inside = reason == ""
    if not inside.any():
        return None, "empty universe: no ticker with a price"
    return inside / inside.sum(), None


def simulate(market: Market, plan: Plan, lag: int, cost_rate: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily returns (date, gross, net, turnover, cost) and executed targets (decision/trade date, ticker, weight).

    Sessions run from the first trade to one session after the last trade (capped at the last price
    session). A decision whose trade session is past the data end is not executed.
    """
    trades = {int(row) + lag: target for row, target in zip(plan.rows, plan.targets, strict=True)}
    start, stop = int(plan.rows.min()) + lag, min(int(plan.rows.max()) + lag + 1, len(market.dates) - 1)
    m = len(market.tickers)
    w = np.zeros(m)  # all cash before the first trade
    out = np.zeros((max(stop - start + 1, 0), 4))
    executed: list[pd.DataFrame] = []
    for j in range(start, stop + 1):
        r = market.accrual[j]
        gross = float(w @ r)
        invested = float(w.sum())
        value = w * (1.0 + r)
        w = value / (1.0 - invested + value.sum())  # cash (1 - invested) earns nothing
        turnover = 0.0
        target = trades.get(j)
        if target is not None:
            turnover = float(np.abs(target - w).sum())
            w = target.copy()
            held = np.flatnonzero(target > 0)
            executed.append(
                pd.DataFrame(
                    {
                        "decision_date": market.dates[j - lag],
                        "trade_date": market.dates[j],
                        "ticker": market.tickers[held],
                        "weight": target[held],
                    }
                )
            )
        cost = turnover * cost_rate
        out[j - start] = (gross, gross - cost, turnover, cost)
    daily = pd.DataFrame(out, columns=["gross", "net", "turnover", "cost"])
    daily.insert(0, "date", market.dates[start : stop + 1])
    weights = (
        pd.concat(executed, ignore_index=True)
        if executed
        else pd.DataFrame(columns=["decision_date", "trade_date", "ticker", "weight"])
    )
    return daily, weights


def _record(skipped: list[tuple], market: Market, row: int, reason: np.ndarray) -> None:
    out = np.flatnonzero(reason != "")
    skipped.extend((market.dates[row], market.tickers[i], reason[i]) for i in out)


def _skipped_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "ticker", "reason"])


def _failure_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["date", "reason"])
