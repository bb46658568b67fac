"""Order recovery of the release's shuffled train/validation forecasts (vta_core.external.released_alignment)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vta_core.config.sections import PaperSplit, WindowConfig
from vta_core.data.schema import TICKER
from vta_core.external.released import map_released, released_path
from vta_core.external.released_alignment import recover_order


@pytest.fixture(scope="module")
def mapped(stocknet_raw):
    return map_released(stocknet_raw, pd.read_parquet(released_path()), WindowConfig(), PaperSplit())


def _lasts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[TICKER, "split", "window_end_date", "last"]]


def test_a_shared_shuffle_of_in_order_test_forecasts_is_recovered_exactly(mapped):
    """The test forecasts are in window order (checked in test_released_forecasts). Shuffle 12 tickers'
    forecasts with one permutation, as the release did to train and validation, and recover it."""
    test = mapped[mapped["split"] == "test"]
    sizes = test.groupby(TICKER).size()
    tickers = sorted(sizes[sizes == 242].index)[:12]
    truth = test[test[TICKER].isin(tickers)].sort_values([TICKER, "example_index"])
    permutation = np.random.default_rng(7).permutation(242)
    horizon = [f"h{i}" for i in range(1, 11)]
    shuffled, expected = [], []
    for _, g in truth.groupby(TICKER):
        g = g.copy()
        ends = g["window_end_date"].to_numpy()
        g[horizon] = g[horizon].to_numpy()[permutation]  # position i now holds the forecast of window permutation[i]
        shuffled.append(g)
        expected.append(
            pd.DataFrame(
                {
                    TICKER: g[TICKER].to_numpy(),
                    "example_index": g["example_index"].to_numpy(),
                    "true_end": ends[permutation],
                }
            )
        )
    shuffled, expected = pd.concat(shuffled), pd.concat(expected)
    recovered, reports = recover_order(shuffled.drop(columns="last"), _lasts(truth), splits=("test",), min_tickers=8)
    assert [r.recovered for r in reports] == [True]
    merged = recovered.merge(expected, on=[TICKER, "example_index"], validate="one_to_one")
    assert len(merged) == 12 * 242
    assert (merged["window_end_date"] == merged["true_end"]).mean() > 0.99
    assert reports[0].median_corr_after > 0.99 > 0.5 > reports[0].median_corr_before


def test_release_train_and_validation_order_is_recovered(mapped):
    recovered, reports = recover_order(mapped.drop(columns="last"), _lasts(mapped))
    big = {(r.split, r.windows): r for r in reports if r.tickers >= 8}
    assert big[("train", 861)].recovered and big[("val", 118)].recovered
    for r in big.values():
        assert abs(r.median_corr_before) < 0.2 and r.median_corr_after > 0.98, r
    # Small groups are dropped and reported, never guessed.
    dropped = [r for r in reports if not r.recovered]
    assert all(r.estimated_from < 8 for r in dropped)
    kept = recovered.groupby("split").size()
    assert kept["test"] == (mapped["split"] == "test").sum()
    assert kept["train"] == sum(r.windows * r.tickers for r in reports if r.split == "train" and r.recovered)
    # Within a ticker, each window gets exactly one forecast.
    assert not recovered.duplicated([TICKER, "split", "window_end_date"]).any()


def test_too_few_tickers_are_not_recovered(mapped):
    few = mapped[mapped[TICKER].isin(["AAPL", "XOM"]) & (mapped["split"] == "val")]
    recovered, reports = recover_order(few.drop(columns="last"), _lasts(few), min_tickers=8)
    assert recovered.empty and [r.recovered for r in reports] == [False]
