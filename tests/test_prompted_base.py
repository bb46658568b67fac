"""A prompted model's mu is measured from the last close as its prompt printed it (PortfolioConfig.prompted_base).

The reference for "as printed" is the prompt's own formatter, `format_number`: a flat answer copies that text.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tests.portfolio_fixtures import forecasts, panel
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.portfolio_sections import PortfolioConfig
from vta_core.identities import ModelId
from vta_core.portfolio import run_backtest
from vta_core.portfolio.market import PrintedCloses, build_market, expected_returns, quoted_values
from vta_core.prompts.text import format_number
from vta_core.stages.backtest_stage import PROMPTED_MODELS

CAL = CalendarConfig()
MEAN, STD = 120.0, 30.0  # standardised prices near -2.3 .. 1: four significant digits round them visibly


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (0.570349, 0.5703),
        (-0.0073311, -0.0073),
        (9.99961, 10.0),
        (1234.4, 1234.0),
        (-0.00004, 0.0),
        (math.nan, math.nan),
        (math.inf, math.nan),
    ],
)
def test_quoted_values_read_back_what_the_prompt_prints(value, printed):
    got = quoted_values(np.array([value]), 4)[0]
    if math.isnan(printed):
        assert math.isnan(got) and format_number(value, 4) == "n/a"
    else:
        assert got == printed == float(format_number(value, 4))


def _scalers(prices: pd.DataFrame) -> pd.DataFrame:
    tickers = sorted(prices["ticker"].unique())
    return pd.DataFrame({"fold": 0, "ticker": tickers, "price_mean": MEAN, "price_std": STD})


def _flat_answers(prices: pd.DataFrame, model: str, start: str, end: str, horizon: int = 3) -> pd.DataFrame:
    """Every step repeats the last close as a prompt prints it, in standardised units (the analyst's answer)."""
    frame = forecasts(prices, start, end, model=model, horizon=horizon)
    last = prices.set_index(["ticker", "date"])["Adj Close"]
    observed = last.loc[list(zip(frame["ticker"], frame["window_end_date"], strict=True))].to_numpy()
    frame["y_hat"] = [float(format_number(z, 4)) for z in (observed - MEAN) / STD]
    return frame


def test_a_flat_prompted_answer_has_mu_zero_and_other_models_keep_the_observed_close():
    prices = panel(start="2016-06-01", end="2016-10-31")
    analyst = _flat_answers(prices, ModelId.ANALYST, "2016-09-01", "2016-09-30")
    other = analyst.assign(model="calf")  # the same numbers from a model that saw no prompt
    table = pd.concat([analyst, other], ignore_index=True)
    market = build_market(prices, CAL)
    printed = PrintedCloses(PROMPTED_MODELS, 4)
    mu = expected_returns(table, _scalers(prices), market, "horizon_rate", 3, printed)
    assert (mu.loc[mu["model"] == ModelId.ANALYST, "mu"] == 0.0).all()
    noise = mu.loc[mu["model"] == "calf", "mu"].abs()
    assert (noise > 0).mean() > 0.9 and noise.max() < 1e-4  # the print's rounding error, kept for other models
    observed = expected_returns(table, _scalers(prices), market, "horizon_rate", 3, None)
    assert observed["mu"].to_numpy() == pytest.approx(mu.loc[mu["model"] == "calf", "mu"].tolist() * 2, abs=0)


def test_prompted_base_stops_the_optimiser_trading_on_rounding():
    prices = panel(start="2016-06-01", end="2016-12-30")
    preds = _flat_answers(prices, ModelId.ANALYST, "2016-09-01", "2016-11-30")
    config = PortfolioConfig(benchmarks=("min_variance",), lookback=40)

    def turnover(printed: PrintedCloses | None) -> tuple[float, float]:
        result = run_backtest(prices, preds, _scalers(prices), config, CAL, printed=printed)
        means = result.daily.groupby("strategy")["turnover"].mean()
        return float(means[str(ModelId.ANALYST)]), float(means["min_variance"])

    as_printed, min_variance = turnover(PrintedCloses(PROMPTED_MODELS, 4))
    observed, _ = turnover(None)
    assert as_printed == pytest.approx(min_variance, abs=1e-6)  # no view: the minimum-variance book
    assert observed > 2 * min_variance  # measured from the observed close it churns on the rounding error


def test_prompted_base_is_validated():
    assert PortfolioConfig().prompted_base == "as_printed"
    with pytest.raises(ValidationError, match="prompted_base"):
        PortfolioConfig(prompted_base="rounded")


def test_every_reasoner_stage_and_the_analyst_are_prompted_and_no_time_series_model_is():
    assert {ModelId.ANALYST, ModelId.REASONER_STAGE0, ModelId.REASONER_STAGE3} <= PROMPTED_MODELS
    assert not {ModelId.BACKBONE, ModelId.PERSISTENCE, ModelId.VTA_REASONER, ModelId.LLM_RELEASED} & PROMPTED_MODELS
