"""Prompt number formatting and text blocks."""

from __future__ import annotations

import math

import pytest

from vta_core.prompts.text import format_number, indicator_block, series_text, statistics_block


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12345.678, "12350"),
        (0.000123456, "0.0001"),  # at most 4 decimals: the width stays near-constant
        (0.007331, "0.0073"),
        (-0.007331, "-0.0073"),
        (0.03496, "0.0350"),
        (-1.23456, "-1.235"),
        (0.5, "0.5000"),
        (100.0, "100.0"),
        (0.0, "0.000"),
        (-0.0, "0.000"),
        (-0.00001, "0.0000"),
        (71.23, "71.23"),
        (5.0, "5.000"),
        (-2.0, "-2.000"),
        (1234.5, "1234"),
        (123456.0, "123500"),
        (0.964, "0.9640"),
        (9.99996, "10.00"),
        (math.nan, "n/a"),
        (math.inf, "n/a"),
        (-math.inf, "n/a"),
        (1.00049, "1.000"),
        (0.99996, "1.000"),
    ],
)
def test_four_significant_digits_at_most_four_decimals(value, text):
    assert format_number(value) == text


def test_blocks():
    assert series_text([1.23456, math.nan, -2]) == "[1.235, n/a, -2.000]"
    stats = {"min": -1.2, "min_day": 3, "max": 2.5, "max_day": 10, "mean": 0.123456, "median": 0.1, "median_day": 5}
    assert statistics_block(stats).splitlines() == [
        "- Minimum: -1.200 (day 3)",
        "- Maximum: 2.500 (day 10)",
        "- Mean: 0.1235",
        "- Median: 0.1000 (day 5)",
    ]
    block = indicator_block({"rsi": 71.234, "adx": math.nan}, {"rsi": "5", "adx": "5"})
    assert block.splitlines() == ["- RSI (5): 71.23", "- ADX (5): n/a"]
