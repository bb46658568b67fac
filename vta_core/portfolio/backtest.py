"""The one entry point: `run_backtest` (pure, in memory) and `write_backtest` (atomic files).

Strategies, all on the same decision dates, execution convention and costs (see `simulate`):
equal_weight (1/n daily), buy_and_hold (1/n on the first day, then drift), min_variance (mu = 0),
perfect_foresight (mu from the realised prices: an upper bound that looks ahead on purpose), then one
backtest per (model, seed) of the predictions table. Decision dates are the window_end_dates of
`config.split` in the predictions, within [config.start, config.end].
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.artifacts import write_json, write_parquet, write_text
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.portfolio_sections import ALL_BENCHMARKS, PortfolioConfig
from vta_core.portfolio.market import (
    Market,
    PortfolioDataError,
    PrintedCloses,
    RiskModel,
    build_market,
    expected_returns,
    foresight_returns,
)
from vta_core.portfolio.metrics import performance
from vta_core.portfolio.optimizer import Markowitz, make_solver
from vta_core.portfolio.report import equity_curve, excluded_markdown, table4, table4_markdown
from vta_core.portfolio.significance import sharpe_interval
from vta_core.portfolio.simulate import Plan, plan_equal_weight, plan_markowitz, simulate
from vta_core.progress import PercentHook, Steps

LOG = logging.getLogger(__name__)
BENCHMARK_SEED = -1  # benchmarks and deterministic models carry seed -1, like the predictions table


@dataclass(frozen=True)
class BacktestResult:
    metrics: pd.DataFrame  # one row per strategy: mean over seeds (and *_std), CIs, skip counts
    runs: pd.DataFrame  # one row per (strategy, seed): every metric and its own Sharpe CI
    daily: pd.DataFrame  # strategy, kind, seed, date, gross, net, turnover, cost
    weights: pd.DataFrame  # strategy, seed, decision_date, trade_date, ticker, weight (executed targets > 0)
    skipped: pd.DataFrame  # strategy, seed, date, ticker, reason (not_listed/no_price/no_forecast/short_history)
    excluded: pd.DataFrame  # model, seed, forecasts, slots, coverage: runs below config.min_forecast_coverage
    failures: pd.DataFrame  # strategy, seed, date, reason: decisions not traded (weights kept drifting)
    timings: pd.DataFrame  # strategy, seed, seconds (plan + simulate)
    decision_dates: np.ndarray  # datetime64[ns]


def decision_dates(predictions: pd.DataFrame, market: Market, config: PortfolioConfig) -> np.ndarray:
    """Sorted window_end_dates of config.split, within [start, end], that are sessions of the grid."""
    chosen = predictions[predictions["split"].astype(str) == config.split]
    dates = np.unique(pd.to_datetime(chosen["window_end_date"]).to_numpy().astype("datetime64[ns]"))
    if config.start is not None:
        dates = dates[dates >= np.datetime64(config.start, "ns")]
    if config.end is not None:
        dates = dates[dates <= np.datetime64(config.end, "ns")]
    off = dates[market.row_of(dates) < 0]
    if len(off):
        raise PortfolioDataError(f"{len(off)} decision date(s) are not sessions of the price grid, e.g. {off[:3]}")
    if len(dates) == 0:
        raise PortfolioDataError(f"no decision dates: the predictions hold no {config.split!r} windows in range")
    return dates


def run_backtest(
    prices: pd.DataFrame,
    predictions: pd.DataFrame,
    scalers: pd.DataFrame,
    config: PortfolioConfig,
    calendar: CalendarConfig,
    progress: PercentHook | None = None,
    printed: PrintedCloses | None = None,
) -> BacktestResult:
    """Backtest every benchmark in config.benchmarks and every (model, seed) of `predictions`.

    prices: cleaned long prices (date, ticker, Adj Close, ...); predictions: the long predictions table
    (standardised space); scalers: the windows' scalers (fold, ticker, price_mean, price_std); printed: models
    whose mu is measured from the last close as their prompt printed it (see `expected_returns`).
    progress(percent): decision days planned, over every strategy run; 100 once the tables are assembled.
    """
    market = build_market(prices, calendar)
    dates = decision_dates(predictions, market, config)
    rows = market.row_of(dates)
    horizon = config.horizon or int(predictions["step"].max())
    risk = RiskModel.create(market, config.lookback, config.shrinkage, config.min_history_share)

    def solver() -> Markowitz:
        # One solver per strategy run: a warm start must come from the same strategy's earlier days,
        # never from another strategy's (perfect foresight's state depends on future prices).
        return make_solver(config.engine, config.max_weight, config.cvxpy_solver)

    chosen = predictions[predictions["split"].astype(str) == config.split]
    clash = sorted(set(chosen["model"].astype(str)) & set(ALL_BENCHMARKS))
    if clash:
        raise PortfolioDataError(f"model name(s) {clash} collide with benchmark names; rename the model")
    mu_long = expected_returns(chosen, scalers, market, config.mu, horizon, printed)
    mu_long = mu_long[np.isin(mu_long["date"].to_numpy(), dates)]
    coverage = forecast_coverage(mu_long)
    excluded = coverage[coverage["coverage"] < config.min_forecast_coverage].reset_index(drop=True)
    for r in excluded.itertuples(index=False):
        LOG.warning(
            "%s seed %d not backtested: forecasts for %d of %d slots (%.1f %% < min_forecast_coverage %.0f %%)",
            r.model,
            r.seed,
            r.forecasts,
            r.slots,
            100 * r.coverage,
            100 * config.min_forecast_coverage,
        )
    dropped = pd.MultiIndex.from_frame(excluded[["model", "seed"]])
    mu_long = mu_long[~pd.MultiIndex.from_frame(mu_long[["model", "seed"]]).isin(dropped)]
    runs: list[tuple[str, str, int, Plan, float]] = []

    def timed(name: str, kind: str, seed: int, make: Callable[[], Plan]) -> None:
        began = time.perf_counter()
        plan = make()
        runs.append((name, kind, seed, plan, time.perf_counter() - began))

    model_runs = mu_long.groupby(["model", "seed"], sort=True)
    steps = Steps(progress, len(rows) * (len(config.benchmarks) + model_runs.ngroups))
    steps.start()
    tick = steps.advance
    mv_gamma = config.gamma if config.gamma > 0 else 1.0  # with mu = 0 any gamma > 0 gives the same weights
    makers = {
        "equal_weight": lambda: plan_equal_weight(market, rows, rebalance=True, on_decision=tick),
        "buy_and_hold": lambda: plan_equal_weight(market, rows, rebalance=False, on_decision=tick),
        "min_variance": lambda: plan_markowitz(market, risk, rows, None, solver(), mv_gamma, tick),
        "perfect_foresight": lambda: plan_markowitz(
            market, risk, rows, foresight_returns(market, rows, config.mu, horizon), solver(), config.gamma, tick
        ),
    }
    for name in config.benchmarks:
        timed(name, "benchmark", BENCHMARK_SEED, makers[name])
    for (model, seed), group in model_runs:
        matrix = _mu_matrix(group, market, dates)
        timed(
            str(model),
            "model",
            int(seed),
            functools.partial(plan_markowitz, market, risk, rows, matrix, solver(), config.gamma, tick),
        )
    result = _assemble(market, dates, runs, config, excluded)
    steps.finish()
    return result


def forecast_coverage(mu_long: pd.DataFrame) -> pd.DataFrame:
    """Per (model, seed): forecasts, the (date, ticker) slots any model forecasts, and their ratio.

    A model that forecasts a sample of the windows can only hold the tickers it happened to forecast each day;
    measured against the union of every model's slots, such a run stands out whatever the universe."""
    columns = ["model", "seed", "forecasts", "slots", "coverage"]
    if mu_long.empty:
        return pd.DataFrame(columns=columns)
    slots = len(mu_long[["date", "ticker"]].drop_duplicates())
    counts = mu_long.groupby(["model", "seed"], sort=True).size().rename("forecasts").reset_index()
    return counts.assign(slots=slots, coverage=counts["forecasts"] / slots)[columns]


def _mu_matrix(group: pd.DataFrame, market: Market, dates: np.ndarray) -> np.ndarray:
    """(decision dates, tickers) mu with NaN where the model has no forecast (-> no_forecast)."""
    out = np.full((len(dates), len(market.tickers)), np.nan)
    d = np.searchsorted(dates, group["date"].to_numpy())
    inside = (d < len(dates)) & (dates[np.minimum(d, len(dates) - 1)] == group["date"].to_numpy())
    t = np.searchsorted(market.tickers, group["ticker"].to_numpy())
    out[d[inside], t[inside]] = group["mu"].to_numpy()[inside]
    return out


def _assemble(
    market: Market, dates: np.ndarray, runs: list, config: PortfolioConfig, excluded: pd.DataFrame
) -> BacktestResult:
    daily_parts, weight_parts, skipped_parts, failure_parts, timing, run_rows = [], [], [], [], [], []
    for name, kind, seed, plan, planning in runs:
        began = time.perf_counter()
        daily, weights = simulate(market, plan, config.execution_lag, config.cost_rate)
        tag = {"strategy": name, "seed": seed}
        daily_parts.append(daily.assign(strategy=name, kind=kind, seed=seed))
        weight_parts.append(weights.assign(**tag))
        skipped_parts.append(plan.skipped.assign(**tag))
        failure_parts.append(plan.failures.assign(**tag))
        timing.append({**tag, "kind": kind, "seconds": planning + time.perf_counter() - began})
        stats = performance(
            daily["gross"].to_numpy(),
            daily["net"].to_numpy(),
            daily["turnover"].to_numpy(),
            daily["cost"].to_numpy(),
            config.risk_free,
        )
        counts = plan.skipped["reason"].value_counts()
        run_rows.append(
            {**tag, "kind": kind, **stats, "failed_days": len(plan.failures)}
            | {f"skipped_{r}": int(counts.get(r, 0)) for r in ("no_price", "no_forecast", "short_history")}
        )
    daily = pd.concat(daily_parts, ignore_index=True)[
        ["strategy", "kind", "seed", "date", "gross", "net", "turnover", "cost"]
    ]
    run_table = pd.DataFrame(run_rows)
    run_table = _with_intervals(run_table, daily, config)
    return BacktestResult(
        metrics=_aggregate(run_table, daily, config),
        runs=run_table,
        daily=daily,
        weights=pd.concat(weight_parts, ignore_index=True),
        skipped=pd.concat(skipped_parts, ignore_index=True),
        failures=pd.concat(failure_parts, ignore_index=True),
        excluded=excluded,
        timings=pd.DataFrame(timing),
        decision_dates=dates,
    )


def _interval(net: pd.Series, equal_weight: pd.Series | None, config: PortfolioConfig) -> dict:
    b = config.bootstrap
    bench = None
    if equal_weight is not None:
        both = pd.concat([net, equal_weight], axis=1, join="inner")
        net, bench = both.iloc[:, 0], both.iloc[:, 1].to_numpy()
    ci = sharpe_interval(
        net.to_numpy(),
        bench,
        block_length=b.block_length,
        samples=b.samples,
        level=b.level,
        kind=b.kind,
        seed=b.seed,
        risk_free=config.risk_free,
    )
    return {
        "sharpe_low": ci.low,
        "sharpe_high": ci.high,
        "sharpe_diff_ew": ci.diff,
        "diff_low": ci.diff_low,
        "diff_high": ci.diff_high,
    }


def _equal_weight_net(daily: pd.DataFrame) -> pd.Series | None:
    ew = daily[daily["strategy"] == "equal_weight"]
    return ew.set_index("date")["net"] if len(ew) else None


def _with_intervals(run_table: pd.DataFrame, daily: pd.DataFrame, config: PortfolioConfig) -> pd.DataFrame:
    ew = _equal_weight_net(daily)
    extra = []
    for r in run_table.itertuples(index=False):
        net = daily[(daily["strategy"] == r.strategy) & (daily["seed"] == r.seed)].set_index("date")["net"]
        extra.append(_interval(net, None if r.strategy == "equal_weight" else ew, config))
    return pd.concat([run_table, pd.DataFrame(extra)], axis=1)


def _aggregate(run_table: pd.DataFrame, daily: pd.DataFrame, config: PortfolioConfig) -> pd.DataFrame:
    """Mean (and std, ddof 1, 0 for one seed) over seeds; the CIs of a multi-seed model come from its
    seed-averaged daily net return (holding an equal share of every seed's portfolio)."""
    numeric = [c for c in run_table.columns if c not in ("strategy", "kind", "seed") and not c.startswith("sharpe_")]
    numeric += [c for c in run_table.columns if c in ("sharpe_gross", "sharpe_net")]
    ew = _equal_weight_net(daily)
    rows = []
    for (name, kind), group in run_table.groupby(["strategy", "kind"], sort=False):
        row = {
            "strategy": name,
            "kind": kind,
            "seeds": ",".join(str(s) for s in sorted(group["seed"]) if s >= 0) or "-",
        }
        row |= {c: group[c].mean() for c in numeric}
        row |= {
            f"{c}_std": (group[c].std(ddof=1) if len(group) > 1 else 0.0) for c in ("sharpe_net", "annual_return_net")
        }
        if len(group) == 1:
            row |= group.iloc[0][["sharpe_low", "sharpe_high", "sharpe_diff_ew", "diff_low", "diff_high"]].to_dict()
        else:
            net = daily[daily["strategy"] == name].groupby("date")["net"].mean()
            row |= _interval(net, ew, config)
        rows.append(row)
    return pd.DataFrame(rows)


def write_backtest(result: BacktestResult, folder: Path, preamble: str = "") -> None:
    """metrics/runs/daily/weights/skipped/failures/timings .parquet, table4.md (after `preamble`), equity_curve.png,
    summary.json."""
    for name in ("metrics", "runs", "daily", "weights", "skipped", "failures", "timings", "excluded"):
        write_parquet(folder / f"{name}.parquet", getattr(result, name))
    table = table4(result.metrics)
    write_parquet(folder / "table4.parquet", table)
    write_text(folder / "table4.md", preamble + table4_markdown(table) + excluded_markdown(result.excluded))
    equity_curve(result.daily, folder / "equity_curve.png")
    write_json(
        folder / "summary.json",
        {
            "decision_dates": [
                str(pd.Timestamp(result.decision_dates[0]).date()),
                str(pd.Timestamp(result.decision_dates[-1]).date()),
            ],
            "strategies": result.metrics["strategy"].tolist(),
            "failed_decisions": int(len(result.failures)),
            "not_backtested": result.excluded.to_dict("records"),
            "skipped_by_reason": result.skipped.groupby(["strategy", "reason"])
            .size()
            .rename("n")
            .reset_index()
            .to_dict("records"),
        },
    )
