"""Narrative numbers back in price units: each role against a hand computation (mean 100, std 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vta_core.inference.narrative_units import INDICATOR_ROLES, LABEL_ROLES, Role, to_price_units
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.text import INDICATOR_LABELS

MEAN, STD = 100.0, 10.0
GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("written", "expected", "mapped", "unmapped"),
    [
        # Price levels: z * 10 + 100.
        ("The last price 0.5 is above the SMA 0.25.", "The last price 105.00 is above the SMA 102.50.", 2, 0),
        ("The EMA 0.8019 is above the SMA.", "The EMA 108.02 is above the SMA.", 1, 0),
        (
            "The price is above the upper Bollinger band 1.2.",
            "The price is above the upper Bollinger band 112.00.",
            1,
            0,
        ),
        ("Bollinger lower (5, 2 sd): 0.7297", "Bollinger lower (5, 2 sd): 107.30", 1, 0),
        ("inside the Bollinger bands (0.7297 to 0.8401).", "inside the Bollinger bands (107.30 to 108.40).", 2, 0),
        (
            "Over the window the price ranged from 0.7546 (day 7) to 0.8808 (day 2), with mean 0.8134.",
            "Over the window the price ranged from 107.55 (day 7) to 108.81 (day 2), with mean 108.13.",
            3,
            0,
        ),
        ("- Minimum: -1.25 (day 7)\n- Median: 0.1 (day 5)", "- Minimum: 87.50 (day 7)\n- Median: 101.00 (day 5)", 2, 0),
        # The forecast: "reaching X" (also at a sentence's end and negative) and every value of the answer.
        (
            "I expect the price to stay flat, reaching -0.3036 after 10 days.",
            "I expect the price to stay flat, reaching 96.96 after 10 days.",
            1,
            0,
        ),
        (
            "Weighing these signals, the price ends reaching -0.3036.",
            "Weighing these signals, the price ends reaching 96.96.",
            1,
            0,
        ),
        ("I expect a rise to 0.2.", "I expect a rise to 102.00.", 1, 0),
        (
            "<think>Flat.</think>\n<answer>[0.1, -0.2, 1.326]</answer>",
            "<think>Flat.</think>\n<answer>[101.00, 98.00, 113.26]</answer>",
            3,
            0,
        ),
        # Differences: z * 10.
        ("Momentum is 0.03496, positive.", "Momentum is 0.35, positive.", 1, 0),
        ("The MACD line is -0.0123, bearish.", "The MACD line is -0.123, bearish.", 1, 0),
        ("MACD line (2/5/2): 0.25", "MACD line (2/5/2): 2.50", 1, 0),
        ("The price rose by 0.05 to 0.9.", "The price rose by 0.5 to 109.00.", 2, 0),
        ("A change of -0.2 is likely.", "A change of -2.00 is likely.", 1, 0),
        # Unit-free oscillators, periods, days and counts stay as written.
        ("RSI is 71.23, which is overbought.", "RSI is 71.23, which is overbought.", 0, 0),
        ("Williams %R is -10.8 (overbought).", "Williams %R is -10.8 (overbought).", 0, 0),
        (
            "CCI (5): 128.7 and ADX is 31, indicating a strong trend.",
            "CCI (5): 128.7 and ADX is 31, indicating a strong trend.",
            0,
            0,
        ),
        ("Stochastic %K is 54.63 (mid-range).", "Stochastic %K is 54.63 (mid-range).", 0, 0),
        ("RSI may rise to 75.", "RSI may rise to 75.", 0, 0),
        (
            "Over the last 10 trading days, a 5-day SMA of 0.5.",
            "Over the last 10 trading days, a 5-day SMA of 105.00.",
            1,
            0,
        ),
        ("On 2017-06-30 the SMA was 0.5.", "On 2017-06-30 the SMA was 105.00.", 1, 0),
        # No label in the sentence: kept standardised, marked and counted.
        ("I think 0.5 is likely.", "I think 0.5 (std) is likely.", 0, 1),
        ("RSI is 60. Then -0.25.", "RSI is 60. Then -0.25 (std).", 0, 1),
    ],
)
def test_each_role_maps_like_the_hand_computation(written, expected, mapped, unmapped):
    result = to_price_units(written, MEAN, STD)
    assert result.text == expected
    assert (result.mapped, result.unmapped) == (mapped, unmapped)


def test_every_indicator_of_the_prompt_has_a_role():
    assert set(INDICATOR_ROLES) == set(INDICATOR_LABELS)
    oscillators = {"rsi", "willr", "cci", "adx", "stoch_k", "stoch_d"}
    assert {n for n, r in INDICATOR_ROLES.items() if r is Role.KEPT} == oscillators
    assert LABEL_ROLES["bollinger"] is Role.LEVEL and LABEL_ROLES["macd line"] is Role.DIFFERENCE


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.txt")), ids=lambda p: p.stem)
def test_analyst_narratives_map_completely(golden):
    """Every number of a real analyst narrative has a role; the answer becomes z * std + mean."""
    text = golden.read_text().split("=== rule-based analyst ===\n", 1)[1]
    mean, std = 152.37, 3.81
    result = to_price_units(text, mean, std)
    assert result.unmapped == 0 and result.mapped > 10
    z, priced = parse_answer(text, 10), parse_answer(result.text, 10)
    assert priced.valid
    np.testing.assert_allclose(priced.forecast, np.asarray(z.forecast) * std + mean, atol=0.005)
    assert "RSI is " + text.split("RSI is ", 1)[1].split(",", 1)[0] in result.text  # oscillator untouched


def test_small_values_keep_significant_digits_and_a_bad_scaler_is_refused():
    assert to_price_units("Momentum is 0.0004.", 0.0, 2.0).text == "Momentum is 0.0008."
    assert to_price_units("The SMA 0.5.", 0.3, 0.1).text == "The SMA 0.35."
    for std in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="positive std"):
            to_price_units("The SMA 0.5.", 1.0, std)
