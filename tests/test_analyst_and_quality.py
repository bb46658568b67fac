"""Rule-based analyst and reasoning-quality metrics, on hand-made windows."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vta_core.analyst.rule_based import damped_trend, forecast_direction, narrative
from vta_core.evaluation.reasoning_quality import (
    QUALITY_COLUMNS,
    SUMMARY_COLUMNS,
    conclusion_agrees,
    conclusion_direction,
    quality_summary,
    score_narrative,
)
from vta_core.evaluation.report import quality_markdown
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.text import INDICATOR_LABELS, format_number

GOLDEN = Path(__file__).parent / "golden"

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
    for phrase in ("uptrend", "RSI is 78.00, which is overbought", "strong trend", "bullish", "rise"):
        assert phrase in text
    scores = score_narrative(text, PROMPT, UP, SERIES[-1], 10)
    assert scores.valid and scores.consistency == 1.0
    assert scores.claims_checked >= 4
    # Every quoted number but the forecast endpoint and the horizon comes from the prompt.
    assert scores.numbers_quoted - scores.numbers_grounded <= 2


DOWN = {**UP, "sma": 1.2, "ema": 1.0, "macd": -0.2, "adx": 15.0, "rsi": 22.0, "stoch_k": 50.0}
DOWN |= {"bb_upper": 1.5, "bb_lower": 0.95}


@pytest.mark.parametrize(
    ("indicators", "sentences"),
    [
        (
            UP,
            [
                "The price and the EMA are above the SMA: an uptrend.",
                "MACD is bullish and ADX shows a strong trend.",
                "RSI is overbought and Stochastic %K is overbought.",
                "The price is inside the Bollinger bands.",
            ],
        ),
        (
            DOWN,
            [
                "The price and the EMA are below the SMA: a downtrend.",
                "MACD is bearish and ADX shows a weak trend.",
                "RSI is oversold and Stochastic %K is mid-range.",
                "The price is below the lower Bollinger band.",
            ],
        ),
        ({**UP, "sma": 0.8, "adx": 22.0, "rsi": math.nan}, ["no clear trend.", "a moderate trend.", "%K is overb"]),
        ({k: math.nan for k in UP}, ["There is not enough data for the moving averages. Weighing"]),
    ],
)
def test_qualitative_narrative_states_the_same_judgements_in_words(indicators, sentences):
    forecast = damped_trend(SERIES[None, :], 10, 0.5)[0]
    text = narrative(SERIES, STATS, indicators, forecast, style="qualitative")
    for sentence in sentences:
        assert sentence in text
    assert text.split("Weighing")[1] == narrative(SERIES, STATS, indicators, forecast).split("Weighing")[1]
    assert parse_answer(text, 10).valid


def test_qualitative_narratives_are_consistent_and_quote_only_the_conclusion():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ind = {
            k: v * rng.uniform(-0.5, 2.0) if k not in ("rsi", "stoch_k", "adx") else rng.uniform(0, 100)
            for k, v in UP.items()
        }
        ind["willr"] = -rng.uniform(0, 100)
        series = SERIES + rng.normal(0, 0.3)
        forecast = damped_trend(series[None, :], 10, 1.0)[0]
        text = narrative(series, STATS, ind, forecast, style="qualitative")
        scores = score_narrative(text, PROMPT, ind, series[-1], 10)
        assert scores.consistency == 1.0 and scores.claims_checked >= 3, text
        reasoning = parse_answer(text, 10).reasoning
        quoted = re.findall(r"-?\d+\.\d+|\d+", reasoning.replace("%K", "").replace("%R", ""))
        assert set(quoted) <= {format_number(series[-1]), format_number(forecast[-1]), "10"}, reasoning


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
        # A zone or sign word after a named indicator is checked against that indicator (RSI 78, %K 85, MACD > 0).
        ("RSI is neutral.", 1, 0),
        ("RSI is overbought and Stochastic %K is mid-range.", 2, 1),
        ("Williams %R is -10.00 (overbought). MACD is bearish.", 2, 1),
        ("MACD is bullish and ADX shows a strong trend.", 2, 2),
        ("The mood is neutral.", 0, 0),  # no indicator named: a middle word claims nothing
    ],
)
def test_claim_consistency(reasoning, checked, consistent):
    completion = f"<think>{reasoning}</think><answer>[1, 2]</answer>"
    scores = score_narrative(completion, PROMPT, UP, SERIES[-1], 2)
    assert (scores.claims_checked, scores.claims_consistent) == (checked, consistent)
    assert math.isnan(scores.consistency) if checked == 0 else scores.consistency == consistent / checked


def test_a_named_oscillator_owns_its_zone_word():
    """RSI 60 with %K 85: the any-oscillator rule would accept "RSI is overbought"; attribution does not."""
    mixed = {**UP, "rsi": 60.0}
    claims = lambda text: score_narrative(f"<think>{text}</think><answer>[1]</answer>", PROMPT, mixed, 0.9, 1)  # noqa: E731
    assert (claims("RSI is overbought.").claims_checked, claims("RSI is overbought.").claims_consistent) == (1, 0)
    assert claims("RSI is neutral and Stochastic %K is overbought.").consistency == 1.0
    assert claims("The stock is overbought.").consistency == 1.0  # unattributed: any oscillator in its zone


def test_grounding_counts_invented_numbers():
    completion = (
        "<think>RSI is 78 and CCI is 120, the SMA 0.5 but the target 123.4 is invented.</think><answer>[1]</answer>"
    )
    scores = score_narrative(completion, PROMPT, UP, SERIES[-1], 1)
    assert (scores.numbers_quoted, scores.numbers_grounded) == (4, 3)
    assert scores.grounding == 0.75
    assert not score_narrative("no tags at all", PROMPT, UP, 0.9, 1).valid


def test_grounding_checks_a_number_that_ends_a_sentence():
    prompt = PROMPT + "\nlast 0.5123"
    grounded = "<think>The SMA is 0.5. The price ends reaching 0.5123.</think><answer>[1]</answer>"
    invented = "<think>The SMA is 0.5. The price ends reaching 9.876.</think><answer>[1]</answer>"
    scores = score_narrative(grounded, prompt, UP, 0.9, 1)
    assert (scores.numbers_quoted, scores.numbers_grounded) == (2, 2)
    scores = score_narrative(invented, prompt, UP, 0.9, 1)
    assert (scores.numbers_quoted, scores.numbers_grounded) == (2, 1)


def _think(conclusion: str) -> str:
    return f"<think>RSI is 78, which is overbought. {conclusion}</think>\n<answer>[0, 0]</answer>"


@pytest.mark.parametrize(
    ("conclusion", "answer", "expected"),
    [
        ("Weighing these signals, I expect the price to rise, reaching 0.95 after 2 days.", [0.92, 0.95], True),
        ("Weighing these signals, I expect the price to rise, reaching 0.85 after 2 days.", [0.88, 0.85], False),
        ("Weighing these signals, I expect the price to fall, reaching 0.85 after 2 days.", [0.88, 0.85], True),
        ("Weighing these signals, I expect the price to stay flat, reaching 0.9 after 2 days.", [0.9, 0.9], True),
        ("Weighing these signals, I expect the price to stay flat, reaching 0.95 after 2 days.", [0.9, 0.95], False),
        # Below the printed precision (4 significant digits) a change is flat, as the analyst writes it.
        ("I expect the price to stay flat.", [0.9, 0.900004], True),
        ("I expect the price to rise.", [0.9, 0.900004], False),
        ("The outlook is bullish.", [1.0, 1.1], True),
        ("Prices should increase.", [1.0, 1.1], True),
        ("The outlook is bearish and prices decline.", [1.0, 0.7], True),
        ("Expect a move down.", [1.0, 1.1], False),
        ("Trading should stay sideways.", [0.9, 0.9], True),
        ("The price is stable.", [0.9, 1.5], False),
        ("The price will not fall; it will rise.", [1.0, 1.1], True),  # the negated word is no claim
        ("Despite the bearish MACD, I expect a rise.", [1.0, 1.1], None),  # two directions: ambiguous
        ("It is hard to say.", [1.0, 1.1], None),  # no direction word
        ("No clear rise.", [1.0, 1.1], None),
        ("Hard to say.", [], None),  # no answer values
    ],
)
def test_conclusion_agrees(conclusion, answer, expected):
    assert conclusion_agrees(_think(conclusion), answer, 0.9) is expected


def test_conclusion_is_the_last_sentence_only():
    text = _think("Earlier the price fell. Hard to say what comes next.")
    assert conclusion_direction(text) is None and conclusion_agrees(text, [0.5], 0.9) is None
    assert conclusion_direction("no tags: I expect the price to fall.") == "fall"


def test_analyst_says_flat_below_the_printed_precision():
    """The analyst and the check share `forecast_direction`: a change the printed numbers cannot show is flat."""
    series = np.r_[np.linspace(0.8, 0.83, 9), 0.8312]
    forecast = np.full(10, 0.83121)  # prints as 0.8312, like the last price
    text = narrative(series, STATS, UP, forecast)
    assert "stay flat from the last close 0.8312 over the next 10 days." in text
    assert forecast_direction(0.8312, 0.83121) == "flat" and forecast_direction(0.8312, 0.8313) == "rise"
    assert forecast_direction(0.8312, 0.8311) == "fall" and forecast_direction(0.8312, math.nan) == "flat"
    scores = score_narrative(text, PROMPT, UP, series[-1], 10)
    assert scores.conclusion_agrees is True


def _golden_window(path):
    """Series, statistics, indicators and the analyst's narrative as the golden file shows them."""
    text = path.read_text()
    prompt, completion = text.split("=== rule-based analyst ===\n", 1)
    series = np.array([float(v) for v in re.search(r"oldest first:\n\[(.*)\]", prompt).group(1).split(",")])
    stats = {}
    for name, key in (("Minimum", "min"), ("Maximum", "max"), ("Median", "median")):
        value, day = re.search(rf"- {name}: (\S+) \(day (\d+)\)", prompt).groups()
        stats[key], stats[f"{key}_day"] = float(value), int(day)
    stats["mean"] = float(re.search(r"- Mean: (\S+)", prompt).group(1))
    indicators = {
        name: float(re.search(rf"- {re.escape(label)}(?: \([^)]*\))?: (\S+)", prompt).group(1))
        for name, label in INDICATOR_LABELS.items()
    }
    return series, stats, indicators, completion.strip()


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.txt")), ids=lambda p: p.stem)
def test_golden_analyst_conclusions_agree_with_their_answers(golden):
    series, stats, indicators, written = _golden_window(golden)
    parsed = parse_answer(written, 10)
    assert parsed.valid and conclusion_agrees(written, parsed.forecast, series[-1]) is True
    # The analyst re-run on the golden numbers writes the golden narrative, and at any damping its
    # conclusion agrees with its answer (rise, fall and flat all occur across these windows and dampings).
    directions = set()
    for phi in (0.0, 0.5, 1.0):
        text = narrative(series, stats, indicators, damped_trend(series[None, :], 10, phi)[0])
        if phi == 0.0:
            assert text == written
        answer = parse_answer(text, 10).forecast
        assert conclusion_agrees(text, answer, series[-1]) is True, text
        directions.add(conclusion_direction(text))
    assert len(directions) >= 2


def test_quality_summary_reports_conclusion_agreement():
    rows = pd.DataFrame(
        [
            ("analyst", "test", True, 4, 4, 1, 1, True),
            ("analyst", "test", True, 4, 3, 1, 0, False),
            ("analyst", "test", False, 2, 2, 0, 0, None),
            ("analyst", "val", True, 2, 2, 0, 0, None),
        ],
        columns=QUALITY_COLUMNS,
    )
    table = quality_summary(rows)
    assert list(table.columns) == SUMMARY_COLUMNS
    summary = table.set_index("split")
    assert summary.loc["test", "conclusion_agreement"] == 0.5  # the unchecked narrative is not counted
    assert math.isnan(summary.loc["val", "conclusion_agreement"])
    assert summary.loc["test", "grounding"] == 0.9
    markdown = quality_markdown(table)
    assert "| conclusion agrees |" in markdown and "| 50.0% |" in markdown
