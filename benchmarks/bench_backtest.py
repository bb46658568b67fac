"""Benchmark the portfolio backtest on the bundled StockNet prices (decisions 2016-09-06 .. 2017-08-31).

Forecast sets built without the pipeline (price space, identity scalers): persistence (last price),
foresight (the realised prices; a model here, named apart from the perfect_foresight benchmark) and
noisy foresight (realised x (1 + 2% noise)). For each, the seconds of one backtest path with: the warm
OSQP fast path, the cvxpy DPP reference (one compiled problem per universe size), a cvxpy problem
rebuilt every day, and cvxportfolio (same objective, fed our mu and Sigma; its MarketSimulator is not
used, only its per-day policy solve is timed). Then the metrics of the benchmarks against issue 14's
anchors.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_backtest.py
"""

from __future__ import annotations

import logging
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vta_core.config.data_sections import CalendarConfig  # noqa: E402
from vta_core.config.portfolio_sections import PortfolioConfig  # noqa: E402
from vta_core.data.cleansing import cleanse  # noqa: E402
from vta_core.data.reading import read_prices, stocknet_path  # noqa: E402
from vta_core.portfolio import run_backtest  # noqa: E402
from vta_core.portfolio.backtest import decision_dates  # noqa: E402
from vta_core.portfolio.market import RiskModel, build_market, expected_returns  # noqa: E402
from vta_core.portfolio.optimizer import CvxpyMarkowitz, OsqpMarkowitz, scaled  # noqa: E402
from vta_core.portfolio.simulate import plan_markowitz, universe_reasons  # noqa: E402

START, END, HORIZON = "2016-09-06", "2017-08-31", 10
ANCHORS = {"equal_weight": (0.19, 0.077, 2.3, -0.042), "min_variance": (None, None, 2.8, None)}


def forecast_sets(prices: pd.DataFrame) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    parts: dict[str, list] = {"persistence": [], "foresight": [], "noisy_foresight": []}
    for ticker, g in prices.groupby("ticker"):
        d, a = g["date"].to_numpy(), g["Adj Close"].to_numpy()
        ends = np.flatnonzero((d >= np.datetime64(START)) & (d <= np.datetime64(END)))
        for step in range(1, HORIZON + 1):
            # Persistence needs no future: it forecasts every decision date (y_true NaN past the data end).
            ahead = ends + step
            truth = np.where(ahead < len(a), a[np.minimum(ahead, len(a) - 1)], np.nan)
            base = {"ticker": ticker, "window_end_date": d[ends], "step": step, "y_true": truth}
            parts["persistence"].append(pd.DataFrame(base | {"y_hat": a[ends]}))
            known = ahead < len(a)  # foresight exists only where the future is in the data
            parts["foresight"].append(pd.DataFrame(base | {"y_hat": truth})[known])
            noisy = truth * (1 + 0.02 * rng.normal(size=len(truth)))
            parts["noisy_foresight"].append(pd.DataFrame(base | {"y_hat": noisy})[known])
    out = {}
    for model, frames in parts.items():
        f = pd.concat(frames, ignore_index=True)
        out[model] = f.assign(model=model, seed=-1, fold=0, split="test", target_date=f["window_end_date"])
    return out


def _problems(market, risk, rows, mu):
    """The (mu, Sigma) of every day, as the backtest builds them (so every engine solves the same days)."""
    out = []
    for d, row in enumerate(rows):
        columns = np.flatnonzero(universe_reasons(market, risk, row, mu[d]) == "")
        if len(columns):  # days without forecasts (foresight near the data end) are not solved
            out.append((mu[d][columns], risk.covariance(row, columns)))
    return out


def time_rebuild(problems, gamma: float) -> float:
    import cvxpy as cp

    began = time.perf_counter()
    for mu, sigma in problems:
        mu_c, hessian = scaled(mu, sigma, gamma)
        w = cp.Variable(len(mu))
        cp.Problem(cp.Maximize(mu_c @ w - 0.5 * cp.quad_form(w, cp.psd_wrap(hessian))), [cp.sum(w) == 1, w >= 0]).solve(
            solver="CLARABEL"
        )
    return time.perf_counter() - began


def time_engine(engine, problems, gamma: float) -> tuple[float, list]:
    began = time.perf_counter()
    out = [engine.solve(mu, sigma, gamma).weights for mu, sigma in problems]
    return time.perf_counter() - began, out


def time_cvxportfolio(problems, gamma: float) -> tuple[float, list]:
    """cvxportfolio's SinglePeriodOptimization with our mu and Sigma, one policy per day.

    Same objective: ReturnsForecast(mu) - gamma/2 * FullCovariance(Sigma), LongOnly, NoCash (fully
    invested), no costs in the objective, executed with market_data=None (offline: all data given).
    A new policy per day because the day's universe (and so every DataFrame's index) changes.
    """
    import cvxportfolio as cvx

    logging.getLogger("cvxportfolio").setLevel(logging.ERROR)
    began = time.perf_counter()
    out = []
    day = pd.Timestamp("2020-01-02")
    for mu, sigma in problems:
        names = [f"T{i}" for i in range(len(mu))]
        policy = cvx.SinglePeriodOptimization(
            cvx.ReturnsForecast(r_hat=pd.Series(mu, index=names))
            - gamma / 2 * cvx.FullCovariance(pd.DataFrame(sigma, index=names, columns=names)),
            [cvx.LongOnly(), cvx.NoCash()],
            include_cash_return=False,
            solver="CLARABEL",
        )
        h = pd.Series(0.0, index=names + ["USDOLLAR"])
        h["USDOLLAR"] = 1e6
        trades, _, _ = policy.execute(h=h, market_data=None, t=day)
        out.append(((h + trades)[names] / 1e6).to_numpy())
    return time.perf_counter() - began, out


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    prices = cleanse(read_prices(stocknet_path()), CalendarConfig()).prices
    sets = forecast_sets(prices)
    scalers = pd.DataFrame(
        {"fold": 0, "ticker": sorted(prices["ticker"].unique()), "price_mean": 0.0, "price_std": 1.0}
    )
    config = PortfolioConfig(start=pd.Timestamp(START).date(), end=pd.Timestamp(END).date())
    market = build_market(prices, CalendarConfig())
    print(f"\nTiming per model, {config.gamma=}, lookback {config.lookback}, OMP_NUM_THREADS=1 (seconds)")
    print(
        f"{'forecasts':<18}{'days':>5}{'n':>4}{'osqp warm':>11}{'full path':>11}{'cvxpy DPP':>11}"
        f"{'rebuild':>9}{'cvxportf.':>11}{'DPP/osqp':>10}{'rebuild/osqp':>14}{'cvxpf/osqp':>12}{'max |dw|':>10}"
    )
    for name, preds in sets.items():
        dates = decision_dates(preds, market, config)
        rows = market.row_of(dates)
        mu_long = expected_returns(preds, scalers, market, config.mu, HORIZON)
        mu = np.full((len(dates), len(market.tickers)), np.nan)
        mu[np.searchsorted(dates, mu_long["date"]), np.searchsorted(market.tickers, mu_long["ticker"])] = mu_long["mu"]
        risk = RiskModel.create(market, config.lookback, config.shrinkage, config.min_history_share)
        problems = _problems(market, risk, rows, mu)
        began = time.perf_counter()
        plan_markowitz(market, risk, rows, mu, OsqpMarkowitz(None), config.gamma)  # Sigma cached: solves + bookkeeping
        full = time.perf_counter() - began
        t_osqp, w_osqp = time_engine(OsqpMarkowitz(None), problems, config.gamma)
        t_dpp, w_dpp = time_engine(CvxpyMarkowitz(None), problems, config.gamma)
        t_rebuild = time_rebuild(problems, config.gamma)
        t_cvxpf, w_cvxpf = time_cvxportfolio(problems, config.gamma)
        gap = max(np.abs(a - b).max() for a, b in zip(w_osqp, w_dpp, strict=True))
        gap_pf = max(np.abs(a - b).max() for a, b in zip(w_osqp, w_cvxpf, strict=True))
        print(
            f"{name:<18}{len(problems):>5}{len(problems[0][0]):>4}{t_osqp:>11.3f}{full:>11.3f}{t_dpp:>11.3f}"
            f"{t_rebuild:>9.2f}{t_cvxpf:>11.2f}{t_dpp / t_osqp:>10.1f}{t_rebuild / t_osqp:>14.1f}"
            f"{t_cvxpf / t_osqp:>12.1f}{gap:>10.1e}  (cvxportfolio |dw| {gap_pf:.1e})"
        )
    began = time.perf_counter()
    result = run_backtest(prices, pd.concat(sets.values(), ignore_index=True), scalers, config, CalendarConfig())
    print(f"\nrun_backtest, 4 benchmarks + 3 models, end to end: {time.perf_counter() - began:.2f} s")
    table = result.metrics.set_index("strategy")
    cols = ["annual_return", "annual_volatility", "sharpe", "max_drawdown"]
    print(f"\n{'strategy':<20}{'basis':<7}" + "".join(f"{c:>19}" for c in cols) + f"{'turnover/day':>14}")
    for name in table.index:
        for basis in ("gross", "net"):
            values = "".join(f"{table.loc[name, f'{c}_{basis}']:>19.4f}" for c in cols)
            print(f"{name:<20}{basis:<7}{values}{table.loc[name, 'avg_turnover']:>14.4f}")
    print(
        "\nIssue 14 anchors (gross): equal_weight CAGR 0.19, vol 0.077, Sharpe 2.3, MDD -0.042; "
        "min_variance Sharpe ~2.8"
    )


if __name__ == "__main__":
    main()
