"""Numbers and blocks of text that go into prompts: 4 significant digits, 'n/a' for missing values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

NOT_AVAILABLE = "n/a"

INDICATOR_LABELS = {
    "sma": "SMA",
    "ema": "EMA",
    "momentum": "Momentum",
    "rsi": "RSI",
    "macd": "MACD line",
    "willr": "Williams %R",
    "cci": "CCI",
    "adx": "ADX",
    "bb_upper": "Bollinger upper",
    "bb_middle": "Bollinger middle",
    "bb_lower": "Bollinger lower",
    "stoch_k": "Stochastic %K",
    "stoch_d": "Stochastic %D",
}


def format_number(value: float, digits: int = 4) -> str:
    """`digits` significant digits, never scientific notation; NaN/inf -> 'n/a'; no '-0'."""
    if value is None or not math.isfinite(value):
        return NOT_AVAILABLE
    text = np.format_float_positional(float(value), precision=digits, unique=False, fractional=False, trim="-")
    return "0" if text in {"-0", "0", "-0."} else text


def series_text(values: Sequence[float], digits: int = 4) -> str:
    return "[" + ", ".join(format_number(v, digits) for v in values) + "]"


def statistics_block(stats: Mapping[str, float], digits: int = 4) -> str:
    """Statistics of one window; `*_day` entries are 1-based day positions within the window."""
    day = lambda key: str(int(stats[key]))  # noqa: E731
    return "\n".join(
        [
            f"- Minimum: {format_number(stats['min'], digits)} (day {day('min_day')})",
            f"- Maximum: {format_number(stats['max'], digits)} (day {day('max_day')})",
            f"- Mean: {format_number(stats['mean'], digits)}",
            f"- Median: {format_number(stats['median'], digits)} (day {day('median_day')})",
        ]
    )


def indicator_block(values: Mapping[str, float], periods: Mapping[str, str], digits: int = 4) -> str:
    """One line per indicator, e.g. '- RSI (5): 71.23'; missing values read 'n/a'."""
    lines = []
    for name, label in INDICATOR_LABELS.items():
        if name in values:
            period = periods.get(name)
            suffix = f" ({period})" if period else ""
            lines.append(f"- {label}{suffix}: {format_number(values[name], digits)}")
    return "\n".join(lines)
