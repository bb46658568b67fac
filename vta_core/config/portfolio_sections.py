"""Config of the portfolio backtest (SPEC section 7, issue 14): Markowitz on each model's forecasts.

Grouped by topic: the optimisation problem, the inputs it reads (mu, Sigma), execution and costs,
which decision dates and strategies, and the significance tests. Every field is validated when the
section is built, so a negative risk aversion or cost fails before any work starts.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vta_core.config.base import PositiveInt, Section

Benchmark = Literal["equal_weight", "buy_and_hold", "min_variance", "perfect_foresight"]
ALL_BENCHMARKS: tuple[Benchmark, ...] = ("equal_weight", "buy_and_hold", "min_variance", "perfect_foresight")


class BootstrapConfig(Section):
    """Block bootstrap of daily returns for Sharpe confidence intervals (paired with equal-weight)."""

    kind: Literal["stationary", "circular"] = Field(
        default="stationary",
        description="stationary: geometric block lengths with mean block_length (Politis-Romano); "
        "circular: fixed block_length blocks wrapping around the end",
    )
    block_length: PositiveInt = Field(
        default=10, description="mean (stationary) or fixed (circular) block length, days"
    )
    samples: Annotated[int, Field(ge=100)] = Field(default=2000, description="bootstrap resamples")
    level: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(default=0.95, description="two-sided confidence level")
    seed: int = Field(default=0, description="seed of the resampling; the same seed gives the same intervals")


class PortfolioConfig(Section):
    """Daily long-only, fully invested Markowitz backtest of every model's forecasts and the benchmarks."""

    # --- the problem: max mu'w - gamma/2 w'Sigma w, sum w = 1, 0 <= w <= max_weight
    gamma: Annotated[float, Field(ge=0.0)] = Field(
        default=2.0,
        description="risk aversion on daily mu and daily Sigma; 0 = pure return maximisation (an LP)",
    )
    max_weight: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        default=None, description="upper bound on each weight; None = only w >= 0 and sum w = 1"
    )
    # --- expected returns from the forecasts (price space, each scaler inverted)
    mu: Literal["horizon_rate", "next_day"] = Field(
        default="horizon_rate",
        description="horizon_rate: (P_hat[t+h] / P[t])^(1/h) - 1; next_day: P_hat[t+1] / P[t] - 1; "
        "P[t] is the last observed Adj Close at the decision date t",
    )
    horizon: PositiveInt | None = Field(
        default=None, description="forecast step h used by horizon_rate; None = the largest step in the predictions"
    )
    prompted_base: Literal["as_printed", "observed"] = Field(
        default="as_printed",
        description="P[t] of a model that answers a prompt (the analyst and the reasoner stages): as_printed = the "
        "last close as its prompt printed it (prompt.significant_digits, in standardised units), so that an answer "
        "repeating the printed close is mu = 0 and not the rounding error of the print; observed = the observed "
        "Adj Close, as for every other model",
    )
    # --- risk model
    lookback: Annotated[int, Field(ge=2)] = Field(
        default=60, description="trailing sessions of realised daily Adj Close returns ending at t for Sigma"
    )
    min_history_share: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.9,
        description="share of the lookback returns a ticker needs to enter the day's problem (else "
        "short_history); Sigma then uses the sessions where every chosen ticker has a return",
    )
    shrinkage: Literal["ledoit_wolf", "none"] = Field(
        default="ledoit_wolf", description="Ledoit-Wolf shrinkage of the sample covariance, or the plain sample one"
    )
    # --- execution and costs
    execution_lag: PositiveInt = Field(
        default=1,
        description="sessions of the exchange calendar between the decision close and the trade close "
        "(1 = trade at the next session's close; never a calendar day)",
    )
    costs_bps: Annotated[float, Field(ge=0.0)] = Field(
        default=10.0, description="proportional cost, basis points of traded value (turnover)"
    )
    risk_free: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="annual risk-free rate for Sharpe and Sortino (daily = risk_free / 252)"
    )
    # --- decision dates and strategies
    split: Literal["train", "val", "test"] = Field(
        default="test", description="decision dates are the window_end_dates of this split"
    )
    start: dt.date | None = Field(default=None, description="first decision date (inclusive); None = no bound")
    end: dt.date | None = Field(default=None, description="last decision date (inclusive); None = no bound")
    benchmarks: tuple[Benchmark, ...] = Field(default=ALL_BENCHMARKS, description="benchmark strategies to run")
    min_forecast_coverage: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.9,
        description="a (model, seed) whose forecasts cover less than this share of the (decision date, ticker) "
        "slots that any model forecasts is not backtested but listed with its coverage: its portfolio could only "
        "hold the few tickers it happened to forecast each day (the cpu preset's reasoner stages 0-2 decode a "
        "1,000-window sample), so its row would measure that churn, not its forecasts; 0 backtests every model",
    )
    # --- solver
    engine: Literal["osqp", "cvxpy"] = Field(
        default="osqp",
        description="osqp: the raw OSQP fast path (polished, warm-started); cvxpy: the DPP reference problem",
    )
    cvxpy_solver: Literal["CLARABEL", "OSQP"] = Field(
        default="CLARABEL", description="solver cvxpy calls when engine is cvxpy"
    )
    # --- significance
    bootstrap: BootstrapConfig = BootstrapConfig()

    @model_validator(mode="after")
    def _dates_ordered(self) -> PortfolioConfig:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"portfolio.start ({self.start}) must not be after portfolio.end ({self.end})")
        if len(set(self.benchmarks)) != len(self.benchmarks):
            raise ValueError("portfolio.benchmarks lists a benchmark twice")
        return self

    @property
    def cost_rate(self) -> float:
        """Cost per unit of turnover (10 bps -> 0.001)."""
        return self.costs_bps / 1e4
