"""Numbers and blocks of text that go into prompts: 4 significant digits, at most 4 decimals, 'n/a' if missing."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
    """`digits` significant digits with trailing zeros kept ("5" -> "5.000"), but never more than `digits`
    decimals ("0.007331" -> "0.0073"); never scientific notation.

    A near-constant width matters to the reasoner. A last close printed "5" or "-2" made the small model
    stutter ("[5.0, 5.0, 55.0, ...]"), and so did 8 characters of "0.007331" (21 of the 23 garbled answers of
    31,047 in the run with trailing zeros, RESULTS.md); "5.000" and "0.0073" are copied cleanly. Integers
    of `digits` digits or more print without a dot ("1234"); NaN/inf -> 'n/a'; no '-0'.
    """
    if value is None or not math.isfinite(value):
        return NOT_AVAILABLE
    # The exponent after rounding ("9.9996" -> "10.00"), then that many decimals. numpy's positional
    # formatter drops a zero that rounding creates (0.964 -> "0.964", not "0.9640"), so it is not used here.
    exponent = int(f"{float(value):.{digits - 1}e}".split("e")[1])
    decimals = min(digits - 1 - exponent, digits)
    text = f"{round(float(value), decimals):.{max(decimals, 0)}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


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
