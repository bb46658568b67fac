"""Indicators and statistics equal TA-Lib / plain-Python references, in window and history mode."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from vta_core.annotation.indicators import (
    INDICATORS,
    IndicatorPeriods,
    compute_indicators,
    gather_history,
    window_statistics,
)
from vta_core.data.schema import TICKER


def talib_last(close, high, low, p: IndicatorPeriods) -> dict[str, float]:
    """Reference: one TA-Lib call per indicator on one series, value at its last day."""
    upper, middle, lower = talib.BBANDS(close, p.bbands, p.bb_nbdev, p.bb_nbdev, 0)
    k, d = talib.STOCH(high, low, close, p.stoch_fastk, p.stoch_slowk, 0, p.stoch_slowd, 0)
    return {
        "sma": talib.SMA(close, p.sma)[-1],
        "ema": talib.EMA(close, p.ema)[-1],
        "momentum": talib.MOM(close, p.momentum)[-1],
        "rsi": talib.RSI(close, p.rsi)[-1],
        "macd": talib.MACD(close, p.macd_fast, p.macd_slow, p.macd_signal)[0][-1],
        "willr": talib.WILLR(high, low, close, p.willr)[-1],
        "cci": talib.CCI(high, low, close, p.cci)[-1],
        "adx": talib.ADX(high, low, close, p.adx)[-1],
        "bb_upper": upper[-1],
        "bb_middle": middle[-1],
        "bb_lower": lower[-1],
        "stoch_k": k[-1],
        "stoch_d": d[-1],
    }


def assert_matches_talib(close, high, low, first_valid, periods):
    got = compute_indicators(close, high, low, first_valid, periods)
    refs = [talib_last(close[i, f:], high[i, f:], low[i, f:], periods) for i, f in enumerate(first_valid)]
    for name in INDICATORS:
        expected = np.array([r[name] for r in refs])
        assert not np.isinf(got[name]).any(), name
        np.testing.assert_allclose(got[name], expected, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


@pytest.fixture(scope="module")
def hlc(stocknet_clean):
    """Close/High/Low per ticker for tickers with long, short and late-starting histories."""
    out = {}
    for ticker in ("AAPL", "XOM", "GMRE", "BABA"):
        rows = stocknet_clean[stocknet_clean[TICKER] == ticker]
        out[ticker] = tuple(rows[c].to_numpy() for c in ("Close", "High", "Low"))
    return out


@pytest.mark.parametrize("ticker", ["AAPL", "XOM", "GMRE", "BABA"])
def test_window_mode_equals_talib(hlc, ticker):
    close, high, low = hlc[ticker]
    rows = np.arange(len(close) - 9)[:, None] + np.arange(10)[None, :]
    # Raw prices and the same windows z-scored (what the prompts show) both match.
    for shift, scale in [(0.0, 1.0), (close.mean(), close.std())]:
        mats = [(m[rows] - shift) / scale for m in (close, high, low)]
        assert_matches_talib(*mats, np.zeros(len(rows), dtype=np.int64), IndicatorPeriods.for_lookback(10))


@pytest.mark.parametrize("ticker", ["AAPL", "GMRE"])
def test_history_mode_equals_talib_including_short_histories(hlc, ticker):
    close, high, low = hlc[ticker]
    ends = np.arange(len(close))
    first = np.zeros(len(close), dtype=np.int64)
    mats = []
    for column in (close, high, low):
        matrix, first_valid = gather_history(column, ends, first, 60)
        mats.append(matrix)
    assert first_valid[0] == 59 and first_valid[59] == 0  # the first rows have short histories
    assert_matches_talib(*mats, first_valid, IndicatorPeriods.standard())


def test_gather_history_is_causal_and_per_ticker():
    column = np.arange(10, dtype=float)  # two tickers: rows 0-3 and 4-9
    matrix, first_valid = gather_history(column, np.array([2, 5, 9]), np.array([0, 4, 4]), 4)
    np.testing.assert_array_equal(first_valid, [1, 2, 0])
    np.testing.assert_array_equal(matrix[0], [np.nan, 0, 1, 2])
    np.testing.assert_array_equal(matrix[1], [np.nan, np.nan, 4, 5])
    np.testing.assert_array_equal(matrix[2], [6, 7, 8, 9])


def _case(kind: str, n: int = 10):
    steps = np.arange(n, dtype=float)
    close = {
        "flat": np.full(n, 3.0),
        "spike": np.where(steps == n // 2, 9.0, 1.0),
        "up": 1 + steps,
        "down": 20 - steps,
        "short": 1 + steps,
        "zero_range": np.full(n, 2.0),
    }[kind]
    if kind == "short":
        close = close[:4]
    spread = 0.0 if kind in {"flat", "zero_range"} else 0.5
    return close[None, :], (close + spread)[None, :], (close - spread)[None, :]


@pytest.mark.parametrize("kind", ["flat", "spike", "up", "down", "short", "zero_range"])
def test_edge_cases_match_talib_and_are_never_infinite(kind):
    close, high, low = _case(kind)
    assert_matches_talib(close, high, low, np.zeros(1, dtype=np.int64), IndicatorPeriods.for_lookback(10))


def test_edge_case_values_are_defined():
    close, high, low = _case("flat")
    got = {
        k: v[0]
        for k, v in compute_indicators(
            close, high, low, np.zeros(1, np.int64), IndicatorPeriods.for_lookback(10)
        ).items()
    }
    # TA-Lib's own guarded values on flat prices, which we keep.
    assert got["rsi"] == 0.0 and got["willr"] == 0.0 and got["cci"] == 0.0 and got["stoch_k"] == 0.0
    assert got["bb_upper"] == got["bb_lower"] == 3.0 and got["momentum"] == 0.0
    short = compute_indicators(*_case("short"), np.zeros(1, np.int64), IndicatorPeriods.for_lookback(10))
    assert all(np.isnan(short[name][0]) for name in INDICATORS)  # not enough data: n/a


def test_statistics_equal_a_plain_reference():
    rng = np.random.default_rng(3)
    series = np.round(rng.normal(size=(200, 10)), 1)  # rounding creates ties
    series[0] = 1.0
    stats = window_statistics(series)
    for i, row in enumerate(series):
        values = list(row)
        assert stats["min"][i] == min(values) and stats["min_day"][i] == values.index(min(values)) + 1
        assert stats["max"][i] == max(values) and stats["max_day"][i] == values.index(max(values)) + 1
        assert stats["mean"][i] == pytest.approx(sum(values) / 10, rel=1e-12)
        assert stats["median"][i] == pytest.approx(float(np.median(row)), rel=1e-12)
        lower_middle = sorted(values)[4]
        assert row[int(stats["median_day"][i]) - 1] == lower_middle
    odd = window_statistics(np.array([[3.0, 1.0, 2.0]]))
    assert odd["median"][0] == 2.0 and odd["median_day"][0] == 3


def test_periods_rule_and_validation():
    p = IndicatorPeriods.for_lookback(10)
    assert (p.sma, p.ema, p.rsi, p.adx, p.bbands, p.stoch_fastk) == (5, 5, 5, 5, 5, 5)
    assert (p.macd_fast, p.macd_slow, p.macd_signal) == (2, 5, 2)
    assert IndicatorPeriods.for_lookback(60) == IndicatorPeriods.standard()
    with pytest.raises(ValueError, match="rsi"):
        IndicatorPeriods(rsi=1)
    with pytest.raises(ValueError, match="macd_fast"):
        IndicatorPeriods(macd_fast=30, macd_slow=26)
