"""A model that forecasts a sample of the windows is listed, not backtested (PortfolioConfig.min_forecast_coverage).

Why it matters, measured: the cpu preset's reasoner stages 0-2 decode 1,000 of 20,875 test windows; backtested,
their portfolios held the few tickers sampled each day, turned over 1.89 of the book a day and scored net
Sharpe -1.82 while their forecasts were persistence's.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tests.portfolio_fixtures import forecasts, identity_scalers, panel
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.portfolio_sections import PortfolioConfig
from vta_core.portfolio import run_backtest, write_backtest
from vta_core.portfolio.backtest import forecast_coverage

CAL = CalendarConfig()


def _table(prices: pd.DataFrame) -> pd.DataFrame:
    """'full' forecasts every (day, ticker); 'sample' a fixed seeded third of them, seeds 0 and 1."""
    full = forecasts(prices, "2016-09-01", "2016-10-31", model="full", horizon=2)
    windows = full[["window_end_date", "ticker"]].drop_duplicates()
    kept = windows.sample(frac=1 / 3, random_state=0)
    sample = full.merge(kept, on=["window_end_date", "ticker"]).assign(model="sample")
    return pd.concat([full, sample.assign(seed=0), sample.assign(seed=1)], ignore_index=True)


def test_coverage_is_counted_against_every_model_s_slots():
    mu = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b"],
            "seed": [-1, -1, -1, 0, 0],
            "date": pd.to_datetime(["2016-09-01", "2016-09-01", "2016-09-02", "2016-09-02", "2016-09-05"]),
            "ticker": ["X", "Y", "X", "X", "Y"],
            "mu": [0.0, np.nan, 0.1, 0.2, 0.3],  # a forecast without a price still counts as a forecast
        }
    )
    got = forecast_coverage(mu).set_index("model")
    assert got.loc["a", "slots"] == got.loc["b", "slots"] == 4  # (09-01 X, 09-01 Y, 09-02 X, 09-05 Y)
    assert got.loc["a", "coverage"] == pytest.approx(3 / 4) and got.loc["b", "coverage"] == pytest.approx(2 / 4)
    assert forecast_coverage(mu.iloc[:0]).empty


def test_a_sampled_model_is_listed_with_its_coverage_and_not_backtested(tmp_path):
    prices = panel(start="2016-05-02", end="2016-12-30")
    config = PortfolioConfig(benchmarks=("equal_weight",), lookback=20)
    table = _table(prices)
    result = run_backtest(prices, table, identity_scalers(prices), config, CAL)
    assert set(result.metrics["strategy"]) == {"equal_weight", "full"}
    assert "sample" not in set(result.daily["strategy"])
    excluded = result.excluded.set_index("seed")
    assert list(excluded.index) == [0, 1] and set(excluded["model"]) == {"sample"}
    assert excluded["coverage"].to_numpy() == pytest.approx([1 / 3, 1 / 3], abs=0.01)
    full = table[table["model"] == "full"][["window_end_date", "ticker"]].drop_duplicates()
    assert (excluded["slots"] == len(full)).all()
    write_backtest(result, tmp_path)
    markdown = (tmp_path / "table4.md").read_text()
    forecasts_made = int(excluded["forecasts"].iloc[0])
    assert f"sample seed 0: {forecasts_made:,} of {int(excluded['slots'].iloc[0]):,}" in markdown
    assert "`min_forecast_coverage`" in markdown
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["seed"] for r in summary["not_backtested"]] == [0, 1]
    assert len(pd.read_parquet(tmp_path / "excluded.parquet")) == 2


def test_coverage_zero_backtests_every_model_and_full_coverage_lists_nothing(tmp_path):
    prices = panel(start="2016-05-02", end="2016-12-30")
    config = PortfolioConfig(benchmarks=("equal_weight",), lookback=20, min_forecast_coverage=0.0)
    result = run_backtest(prices, _table(prices), identity_scalers(prices), config, CAL)
    assert set(result.runs["strategy"]) == {"equal_weight", "full", "sample"} and result.excluded.empty
    write_backtest(result, tmp_path)
    assert "Not backtested" not in (tmp_path / "table4.md").read_text()


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_min_forecast_coverage_is_a_share(bad):
    with pytest.raises(ValidationError, match="min_forecast_coverage"):
        PortfolioConfig(min_forecast_coverage=bad)
