"""Naive baselines and error evaluation against independent plain-Python references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vta_core.baselines.naive import drift, persistence
from vta_core.config.sections import PaperSplit, WindowConfig
from vta_core.data.schema import DATE, TICKER
from vta_core.data.splits import split_blocks
from vta_core.data.windows import TARGET_COLUMN, build_windows
from vta_core.evaluation.errors import EvaluationError, per_ticker_errors, summary_errors
from vta_core.evaluation.predictions import PredictionShapeError, prediction_frame
from vta_core.evaluation.report import error_markdown


def test_persistence_and_drift_match_loops():
    rng = np.random.default_rng(1)
    history = rng.normal(size=(7, 10))
    for i in range(7):
        last, slope = history[i, -1], (history[i, -1] - history[i, 0]) / 9
        for h in range(4):
            assert persistence(history, 4)[i, h] == last
            assert drift(history, 4)[i, h] == pytest.approx(last + slope * (h + 1), abs=1e-12)


def test_drift_on_a_line_is_exact_and_single_step_falls_back():
    line = np.arange(10, dtype=float)[None, :] * 0.5 + 3
    np.testing.assert_allclose(drift(line, 3), [[8.0, 8.5, 9.0]])
    np.testing.assert_array_equal(drift(np.array([[2.0]]), 2), [[2.0, 2.0]])


@pytest.fixture(scope="module")
def windows(stocknet_clean):
    prices = stocknet_clean[stocknet_clean[TICKER].isin(["AAPL", "GMRE", "XOM"])].reset_index(drop=True)
    dates = {str(t): g[DATE].to_numpy() for t, g in prices.groupby(TICKER, sort=False)}
    ws, _ = build_windows(prices, split_blocks(dates, PaperSplit(), WindowConfig()), 10, 10)
    return ws.select(("val", "test")), prices


def test_prediction_rows_are_aligned_to_dates(windows):
    ws, prices = windows
    table = prediction_frame(ws, persistence(ws.inputs()[:, :, TARGET_COLUMN], 10), "persistence")
    assert len(table) == len(ws) * 10
    first = table[(table[TICKER] == "AAPL") & (table["split"] == "test")].iloc[:10]
    aapl = prices[prices[TICKER] == "AAPL"].reset_index(drop=True)
    end_row = aapl.index[aapl[DATE] == first["window_end_date"].iloc[0]][0]
    assert list(first["step"]) == list(range(1, 11))
    np.testing.assert_array_equal(first["target_date"].to_numpy(), aapl[DATE].to_numpy()[end_row + 1 : end_row + 11])
    with pytest.raises(PredictionShapeError, match="shape"):
        prediction_frame(ws, np.zeros((len(ws), 9)), "bad")
    with pytest.raises(PredictionShapeError, match="non-finite"):
        prediction_frame(ws, np.full((len(ws), 10), np.nan), "bad")


def test_errors_equal_a_per_ticker_loop(windows):
    ws, _ = windows
    history = ws.inputs()[:, :, TARGET_COLUMN]
    table = pd.concat(
        [
            prediction_frame(ws, persistence(history, 10), "persistence"),
            prediction_frame(ws, drift(history, 10), "drift"),
        ],
        ignore_index=True,
    )
    per_ticker = per_ticker_errors(table, ws.scalers)
    summary = summary_errors(per_ticker, ("test",))
    y_true = ws.targets()
    mean, std = ws.price_scale()
    for model, fn in [("persistence", persistence), ("drift", drift)]:
        y_hat = fn(history, 10)
        mses, maes, price_maes, mapes = [], [], [], []
        for ticker in ["AAPL", "GMRE", "XOM"]:
            rows = [
                i for i in range(len(ws)) if ws.index[TICKER].iloc[i] == ticker and ws.index["split"].iloc[i] == "test"
            ]
            diffs = [y_hat[i, h] - y_true[i, h] for i in rows for h in range(10)]
            mses.append(sum(d * d for d in diffs) / len(diffs))
            maes.append(sum(abs(d) for d in diffs) / len(diffs))
            price_maes.append(
                sum(abs(y_hat[i, h] - y_true[i, h]) * std[i] for i in rows for h in range(10)) / len(diffs)
            )
            mapes.append(
                100
                * sum(
                    abs(y_hat[i, h] - y_true[i, h]) * std[i] / (y_true[i, h] * std[i] + mean[i])
                    for i in rows
                    for h in range(10)
                )
                / len(diffs)
            )
        row = summary[(summary["model"] == model) & (summary["split"] == "test")].iloc[0]
        assert row["mse"] == pytest.approx(np.mean(mses), rel=1e-12)
        assert row["mae"] == pytest.approx(np.mean(maes), rel=1e-12)
        assert row["mae_price"] == pytest.approx(np.mean(price_maes), rel=1e-12)
        assert row["mape"] == pytest.approx(np.mean(mapes), rel=1e-12)
        assert row["tickers"] == 3


def test_seeds_give_mean_and_spread(windows):
    ws, _ = windows
    history = ws.inputs()[:, :, TARGET_COLUMN]
    frames = [
        prediction_frame(ws, persistence(history, 10) + shift, "noisy", seed=seed)
        for seed, shift in [(0, 0.0), (1, 0.1), (2, 0.2)]
    ]
    summary = summary_errors(per_ticker_errors(pd.concat(frames, ignore_index=True), ws.scalers), ("test",))
    row = summary.iloc[0]
    assert row["seeds"] == "0,1,2" and row["mae_std"] > 0
    markdown = error_markdown(summary)
    assert "| noisy | ours | 0,1,2 |" in markdown and " ± " in markdown
    assert "| persistence" not in markdown  # only what was evaluated is shown as ours
    assert "| VTA | paper" in markdown and "0.0659" in markdown


def test_missing_split_is_an_error(windows):
    ws, _ = windows
    table = prediction_frame(ws.select("test"), persistence(ws.select("test").inputs()[:, :, TARGET_COLUMN], 10), "p")
    with pytest.raises(EvaluationError, match="no predictions for split"):
        summary_errors(per_ticker_errors(table, ws.scalers), ("val", "test"))
