"""Mapping of the released Qwen2.5-7B forecasts to (ticker, window end date), checked three ways."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vta_core.config.sections import PaperSplit, WindowConfig
from vta_core.data.schema import DATE, TICKER
from vta_core.data.splits import split_blocks
from vta_core.data.windows import TARGET_COLUMN, build_windows
from vta_core.external.released import ReleasedForecastError, map_released, released_path


@pytest.fixture(scope="module")
def mapped(stocknet_raw):
    return map_released(stocknet_raw, pd.read_parquet(released_path()), WindowConfig(), PaperSplit()).drop(
        columns="last"
    )


def test_every_forecast_maps_and_counts_follow_the_raw_rows(mapped):
    assert len(mapped) == 105_336 and mapped[TICKER].nunique() == 88
    aapl = mapped[mapped[TICKER] == "AAPL"].set_index("example_index")
    assert aapl["split"].value_counts().to_dict() == {"train": 861, "test": 242, "val": 118}
    assert str(aapl.loc[0, "window_end_date"])[:10] == "2012-09-17"  # the 10th trading day
    assert aapl.loc[861, "split"] == "val" and aapl.loc[860, "split"] == "train"


def test_null_row_counts_as_a_day_for_ptr_rex_snp(mapped):
    for ticker in ("PTR", "REX", "SNP"):
        rows = mapped[mapped[TICKER] == ticker]
        assert len(rows) == 1221  # as many as AAPL: the null row is one of their 1258 raw rows
        assert (rows["window_end_date"] == pd.Timestamp("2016-06-29")).sum() == 1


def test_test_forecasts_track_their_own_windows(mapped, stocknet_clean):
    """Correctly aligned, each test forecast's first step sits next to its own window's last price
    (correlation 0.999); moved by one window either way it fits clearly worse. (The release's train and
    validation forecasts are shuffled; their order is recovered in test_released_alignment.py.)"""
    prices = stocknet_clean[stocknet_clean[TICKER].isin(["AAPL", "XOM", "GMRE"])].reset_index(drop=True)
    dates = {str(t): g[DATE].to_numpy() for t, g in prices.groupby(TICKER, sort=False)}
    ws, _ = build_windows(prices, split_blocks(dates, PaperSplit(), WindowConfig()), 10, 10)
    test = ws.select("test")
    ours = test.index.assign(
        ticker=test.index[TICKER].astype(str), split="test", last=test.inputs()[:, -1, TARGET_COLUMN]
    )
    gaps = {}
    for shift in (-1, 0, 1):
        moved = mapped.assign(example_index=mapped["example_index"] + shift).drop(columns=["window_end_date", "split"])
        moved = moved.merge(mapped[[TICKER, "example_index", "window_end_date", "split"]], on=[TICKER, "example_index"])
        joined = ours.merge(moved.rename(columns={"window_end_date": "end_date"}), on=[TICKER, "split", "end_date"])
        assert len(joined) > 500
        gaps[shift] = float(np.mean((joined["h1"] - joined["last"]) ** 2))
        if shift == 0:
            assert np.corrcoef(joined["h1"], joined["last"])[0, 1] > 0.99
    assert gaps[0] < 0.5 * min(gaps[-1], gaps[1]), gaps


def test_a_release_with_missing_rows_is_refused(stocknet_raw):
    partial = pd.read_parquet(released_path())
    partial = partial[~((partial[TICKER] == "AAPL") & (partial["example_index"] == 5))]
    with pytest.raises(ReleasedForecastError, match="AAPL: release has 1220, raw rows give 1221"):
        map_released(stocknet_raw, partial, WindowConfig(), PaperSplit())
