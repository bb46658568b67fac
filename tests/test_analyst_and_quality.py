"""Rule-based analyst and reasoning-quality metrics, on hand-made windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vta_core.analyst.rule_based import damped_trend, narrative
from vta_core.evaluation.reasoning_quality import score_narrative
from vta_core.prompts.parser import parse_answer

STATS = {"min": -1.0, "min_day": 1, "max": 0.9, "max_day": 10, "mean": 0.0, "median": 0.05, "median_day": 6}
UP = {
    "sma": 0.5,
    "ema": 0.7,
    "momentum": 0.4,
    "macd": 0.12,
    "adx": 31.0,
    "rsi": 78.0,
    "stoch_k": 85.0,
    "willr": -10.0,
    "bb_upper": 1.0,
    "bb_lower": 0.1,
    "bb_middle": 0.5,
    "cci": 120.0,
    "stoch_d": 80.0,
}
SERIES = np.linspace(-1.0, 0.9, 10)
PROMPT = (
    "prices [-1, ..., 0.9]\n" + "\n".join(f"- {k}: {v}" for k, v in UP.items()) + "\nmin -1 day 1 max 0.9 day 10 mean 0"
)


def test_damped_trend_spans_persistence_and_drift():
    history = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(damped_trend(history, 3, 0.0), [[3, 3, 3]])
    np.testing.assert_allclose(damped_trend(history, 3, 1.0), [[4, 5, 6]])
    np.testing.assert_allclose(damped_trend(history, 2, 0.5), [[3.5, 3.75]])


def test_narrative_parses_and_is_grounded_and_consistent():
    forecast = damped_trend(SERIES[None, :], 10, 0.5)[0]
    text = narrative(SERIES, STATS, UP, forecast)
    parsed = parse_answer(text, 10)
    assert parsed.valid, parsed.error
    np.testing.assert_allclose(parsed.forecast, forecast, rtol=1e-3)
    for phrase in ("uptrend", "RSI is 78, which is overbought", "strong trend", "bullish", "rise"):
        assert phrase in text
    scores = score_narrative(text, PROMPT, UP, SERIES[-1], 10)
    assert scores.valid and scores.consistency == 1.0
    assert scores.claims_checked >= 4
    # Every quoted number but the forecast endpoint and the horizon comes from the prompt.
    assert scores.numbers_quoted - scores.numbers_grounded <= 2


def test_missing_indicators_read_as_undetermined():
    nan = {k: math.nan for k in UP}
    text = narrative(SERIES, STATS, nan, [0.9] * 10)
    assert "undetermined" in text and "RSI" not in text and parse_answer(text, 10).valid


@pytest.mark.parametrize(
    ("reasoning", "checked", "consistent"),
    [
        ("The stock is overbought.", 1, 1),
        ("The stock is oversold.", 1, 0),
        ("The stock is not oversold.", 0, 0),
        ("A clear downtrend with a weak trend reading.", 2, 0),
        ("An uptrend, bullish MACD, strong trend.", 3, 3),
        ("Nothing to claim here.", 0, 0),
    ],
)
def test_claim_consistency(reasoning, checked, consistent):
    completion = f"<think>{reasoning}</think><answer>[1, 2]</answer>"
    scores = score_narrative(completion, PROMPT, UP, SERIES[-1], 2)
    assert (scores.claims_checked, scores.claims_consistent) == (checked, consistent)
    assert math.isnan(scores.consistency) if checked == 0 else scores.consistency == consistent / checked


def test_grounding_counts_invented_numbers():
    completion = (
        "<think>RSI is 78 and CCI is 120, the SMA 0.5 but the target 123.4 is invented.</think><answer>[1]</answer>"
    )
    scores = score_narrative(completion, PROMPT, UP, SERIES[-1], 1)
    assert (scores.numbers_quoted, scores.numbers_grounded) == (4, 3)
    assert scores.grounding == 0.75
    assert not score_narrative("no tags at all", PROMPT, UP, 0.9, 1).valid
