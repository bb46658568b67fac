"""Level-shift augmentation: shifting the rendered text equals rendering the shifted window (independent path:
`chat_records` and the analyst's `narrative` on raw values moved by k)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vta_core.analyst.rule_based import narrative
from vta_core.prompts.records import PromptParts, chat_records
from vta_core.prompts.template import DEFAULT_SYSTEM, DEFAULT_USER
from vta_core.prompts.text import INDICATOR_LABELS
from vta_core.reasoner.level_shift import LevelShiftError, level_shift_rows, shift_record

LEVEL_INDICATORS = ("sma", "ema", "bb_upper", "bb_middle", "bb_lower")
PERIODS = {name: "5" for name in INDICATOR_LABELS}
# Values with at most 3 decimals and |v| < 1: 4 significant digits print them exactly before and after a shift,
# so the two paths cannot differ by double rounding.
SERIES = np.array([-0.012, -0.04, -0.005, 0.019, -0.084, -0.096, -0.043, 0.034, 0.082, 0.131])
STATS = {"min": -0.096, "min_day": 6, "max": 0.131, "max_day": 10, "mean": -0.002, "median": -0.009, "median_day": 1}
INDICATORS = {
    "sma": 0.022,
    "ema": 0.053,
    "momentum": 0.215,
    "rsi": 76.33,
    "macd": 0.053,
    "willr": -4.56,
    "cci": 95.6,
    "adx": 46.06,
    "bb_upper": 0.186,
    "bb_middle": 0.022,
    "bb_lower": -0.143,
    "stoch_k": 92.5,
    "stoch_d": 73.65,
}


def _window(k: int, forecast: np.ndarray) -> tuple[dict, str]:
    """The record and the analyst's full narrative of the window with every price level moved by k."""
    stats = {c: v + k if c in ("min", "max", "mean", "median") else v for c, v in STATS.items()}
    ind = {n: v + k if n in LEVEL_INDICATORS else v for n, v in INDICATORS.items()}
    table = pd.DataFrame(
        [{**stats, **ind, "window_end_date": pd.Timestamp("2015-06-30"), "ticker": "AAPL", "split": "train", "fold": 0}]
    )
    parts = PromptParts(DEFAULT_SYSTEM, DEFAULT_USER, 4, PERIODS)
    targets = (forecast + k)[None, :]
    record = next(chat_records((SERIES + k)[None, :], targets, table, parts, tuple(INDICATORS)))
    return record, narrative(SERIES + k, stats, ind, forecast + k)


@pytest.mark.parametrize("k", [3, -2, 9, -12])
def test_shifting_the_text_equals_rendering_the_shifted_window(k):
    flat = np.full(10, SERIES[-1])
    record, completion = _window(0, flat)
    expected_record, expected_completion = _window(k, flat)
    shifted = shift_record(record, completion, k)
    assert shifted is not None
    new_record, new_completion = shifted
    assert new_record["prompt"] == expected_record["prompt"]
    assert new_completion == expected_completion
    np.testing.assert_allclose(new_record["target"], expected_record["target"])


def test_oscillators_are_left_alone_and_levels_move():
    record, completion = _window(0, np.full(10, SERIES[-1]))
    new_record, new_completion = shift_record(record, completion, 5)
    user = new_record["prompt"][-1]["content"]
    assert "- RSI (5): 76.33" in user and "- MACD line (5): 0.053" in user and "- Momentum (5): 0.215" in user
    assert "- SMA (5): 5.022" in user and "- Bollinger lower (5): 4.857" in user
    assert user.endswith("from the last close 5.131.")
    assert "RSI is 76.33" in new_completion and "(day 6)" in new_completion and "next 10 days" in new_completion
    assert new_record["prompt"][0] == record["prompt"][0]  # the system message has no price


def test_a_rising_forecast_keeps_its_direction_words_and_numbers():
    rising = SERIES[-1] + np.linspace(0.01, 0.1, 10)
    record, completion = _window(0, rising)
    expected_record, expected_completion = _window(2, rising)
    assert "rise" in completion
    assert shift_record(record, completion, 2)[1] == expected_completion


def test_a_shift_that_would_flatten_the_printed_forecast_is_refused():
    # 0.1311 -> 0.1312 is a rise at 4 significant digits; 3.131 -> 3.131 after a shift of 3 is flat.
    record, completion = _window(0, np.full(10, 0.1311))
    completion = completion.replace("0.1311", "0.1312")
    record["prompt"][-1]["content"] = record["prompt"][-1]["content"].replace("0.131]", "0.1311]")
    assert shift_record(record, completion, 3) is None


def test_rows_shift_the_seeded_fraction_by_nonzero_bounded_integers():
    record, completion = _window(0, np.full(10, SERIES[-1]))
    records, completions = [record] * 400, [completion] * 400
    rows, texts, shifted = level_shift_rows(records, completions, fraction=0.5, max_shift=4, seed=0)
    moves = [round(r["target"][0] - record["target"][0]) for r in rows]
    assert shifted == sum(m != 0 for m in moves) and 160 < shifted < 240
    assert set(moves) <= {-4, -3, -2, -1, 0, 1, 2, 3, 4} and {-4, 4} <= set(moves)
    assert level_shift_rows(records, completions, 0.5, 4, seed=0) == (rows, texts, shifted)
    assert level_shift_rows(records, completions, 0.0, 4, seed=0)[2] == 0


def test_a_record_without_a_price_series_is_refused():
    record, completion = _window(0, np.full(10, SERIES[-1]))
    record["prompt"][-1]["content"] = "no data here"
    with pytest.raises(LevelShiftError, match="AAPL"):
        shift_record(record, completion, 1)
