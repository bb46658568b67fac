"""The numbers of a narrative in price units.

Narratives (the run's reasoner's or the rule-based analyst's) quote numbers in the run's standardised space: the
prompt shows z-scored prices, z = (price - mean) / std with the window's scaler (`WindowSet.price_scale`), and the
statistics and indicators are computed on those z-scores. `to_price_units` maps each number back by its role,
read from the nearest preceding label in its sentence (the prompt's labels, `INDICATOR_LABELS` and the
statistics, and the analyst's phrasing):

- price level (close, last price, SMA, EMA, Bollinger bands, minimum / maximum / mean / median, "reaching X",
  every value of the `<answer>` list): z * std + mean;
- difference (momentum, MACD, a change; "by X" after a price level): z * std;
- unit-free (RSI, Williams %R, CCI, ADX, Stochastic), indicator periods ("(5)", "(2/5/2)", "2 sd"), day
  positions and counts ("day 7", "after 10 days"): kept as written.

A number whose role cannot be read is kept as written, marked " (std)" and counted. The rules are lexical: a
reasoner's free text can defeat them (e.g. "an increase of 0.05" after "the price" reads as a level).
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vta_core.prompts.text import INDICATOR_LABELS

STD_MARK = " (std)"


class Role(Enum):
    LEVEL = "level"  # a price: z * std + mean
    DIFFERENCE = "difference"  # a price change: z * std
    KEPT = "kept"  # unit-free, a period, a day or a count: as written


@dataclass(frozen=True)
class PriceNarrative:
    text: str  # the narrative with its numbers in price units
    mapped: int  # numbers rewritten as prices or price changes
    unmapped: int  # numbers whose role could not be read, kept standardised and marked " (std)"


# The role of every indicator the prompt shows (a test checks that each of INDICATOR_LABELS has one).
INDICATOR_ROLES: dict[str, Role] = {
    "sma": Role.LEVEL,
    "ema": Role.LEVEL,
    "momentum": Role.DIFFERENCE,
    "rsi": Role.KEPT,
    "macd": Role.DIFFERENCE,
    "willr": Role.KEPT,
    "cci": Role.KEPT,
    "adx": Role.KEPT,
    "bb_upper": Role.LEVEL,
    "bb_middle": Role.LEVEL,
    "bb_lower": Role.LEVEL,
    "stoch_k": Role.KEPT,
    "stoch_d": Role.KEPT,
}
_STATISTIC_LABELS = ("minimum", "maximum", "mean", "median")  # `statistics_block`: all price levels
_PHRASES: dict[Role, tuple[str, ...]] = {
    Role.LEVEL: (
        *_STATISTIC_LABELS,
        *("min", "max", "price", "prices", "last price", "close", "closes", "closing", "closed", "target"),
        *("support", "resistance", "band", "bands", "moving average", "average", "highest", "lowest", "peak"),
        *("trough", "forecast"),
    ),
    Role.DIFFERENCE: (
        *("change", "changes", "changed", "difference", "slope", "spread", "histogram", "signal line"),
        "moving average convergence divergence",
    ),
    Role.KEPT: (
        *("relative strength", "relative strength index", "commodity channel index", "average directional index"),
        *("directional", "%k", "%d", "%r"),
    ),
}
# Movement phrases ("the price ranged from", "reaching", "a rise to") carry no quantity of their own: the number
# after one has the role of the nearest label before it in its clause ("RSI may rise to 75"), a price level when
# the clause has none ("..., reaching 0.83 after 10 days").
MOVEMENT_PHRASES = (
    *("ranged", "reaching", "reach", "reaches", "reached", "ending at", "end at", "close at", "settle at"),
    *(f"{verb} to" for verb in ("rise", "rises", "rising", "rose", "fall", "falls", "falling", "fell", "climb")),
    *(f"{verb} to" for verb in ("drop", "decline", "increase", "decrease", "move", "moves", "return", "revert")),
)


def _label_roles() -> dict[str, Role]:
    """Lower-case phrase -> role: each indicator's label and its first word ("Bollinger", "MACD"), then the
    statistics' labels and common phrasing."""
    roles: dict[str, Role] = {}
    for name, label in INDICATOR_LABELS.items():
        for phrase in (label.lower(), label.split()[0].lower()):
            if roles.setdefault(phrase, INDICATOR_ROLES[name]) is not INDICATOR_ROLES[name]:
                raise ValueError(f"label {phrase!r} has two roles")
    for role, phrases in _PHRASES.items():
        for phrase in phrases:
            roles.setdefault(phrase, role)
    return roles


LABEL_ROLES = _label_roles()
_LABEL = re.compile(
    r"(?<![\w%])(?:"
    + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted([*LABEL_ROLES, *MOVEMENT_PHRASES], key=len)[::-1])
    + r")(?!\w)"
)
_CLAUSE = re.compile(r"[,;:]|\b(?:and|but|while|whereas)\b")
# A number: a sign only where a word or a number does not end just before it ("0.1-0.2" is two positive numbers);
# a full stop after it ends the sentence unless a digit follows.
_NUMBER = re.compile(r"(?:(?<![\w.)\]])[+-])?(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)")
_BOUNDARY = re.compile(r"[.!?](?=\s|$)|\n|</?think>|</?answer>")
_ANSWER = re.compile(r"<answer>.*?</answer>", re.DOTALL)
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_PERIODS = re.compile(r"\(\s*\d+(?:\s*[/,]\s*\d+)*(?:\s*,?\s*\d+\s*sd)?\s*\)")  # "(5)", "(2/5/2)", "(5, 2 sd)"
_DAY_BEFORE = re.compile(r"\b(?:day|session|step)s?\s*$")
_COUNT_AFTER = re.compile(  # "10 days", "5-day", "the next 10 standardised adjusted closing prices"
    r"(?:\s+|-)(?:(?:more|trading|next|previous|past|last|consecutive|daily|standardised|adjusted|closing)\s+)*"
    r"(?:days?|sessions?|steps?|values?|prices?|periods?|weeks?)\b"
)
_SD_AFTER = re.compile(r"\s*(?:sd|standard deviations?|sigma)\b")
_DIFFERENCE_MODIFIER = re.compile(r"\bby\b|\b(?:rise|fall|gain|drop|increase|decrease|decline|move|jump)s?\s+of\b")


def _format(value: float) -> str:
    """2 decimals from 1 up; 3 significant digits below (a penny stock's prices, small changes)."""
    if abs(value) >= 1:
        text = f"{value:.2f}"
        return "0.00" if text == "-0.00" else text
    # Trimmed for display ("0.5", "0.0008"): the prompt's fixed width is for the model, not the reader.
    text = np.format_float_positional(value, precision=3, unique=False, fractional=False, trim="-")
    return "0" if text == "-0" else text


def _within(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _phrase(label: re.Match[str]) -> str:
    return re.sub(r"\s+", " ", label.group())


def _role_of(before: str, labels: list[re.Match[str]]) -> Role:
    """The role the last label gives; a movement phrase passes on the role of the label before it in its clause."""
    if _phrase(labels[-1]) not in MOVEMENT_PHRASES:
        return LABEL_ROLES[_phrase(labels[-1])]
    clause = max((m.end() for m in _CLAUSE.finditer(before, 0, labels[-1].start())), default=0)
    nouns = [m for m in labels[:-1] if m.start() >= clause and _phrase(m) not in MOVEMENT_PHRASES]
    return LABEL_ROLES[_phrase(nouns[-1])] if nouns else Role.LEVEL


class _Reader:
    """The role of each number of one narrative."""

    def __init__(self, text: str):
        self.lower = text.lower()
        self.boundaries = [m.end() for m in _BOUNDARY.finditer(text)]
        self.periods = [m.span() for m in _PERIODS.finditer(text)]
        self.answer = [m.span() for m in _ANSWER.finditer(text)]

    def sentence_start(self, position: int) -> int:
        i = bisect.bisect_right(self.boundaries, position) - 1
        return self.boundaries[i] if i >= 0 else 0

    def role(self, number: re.Match[str], previous_end: int) -> Role | None:
        start, end = number.span()
        if _within(start, self.answer):
            return Role.LEVEL
        if _within(start, self.periods):
            return Role.KEPT
        begin = self.sentence_start(start)
        before, after = self.lower[begin:start], self.lower[end : end + 60]
        integer = number.group().isdigit()
        if _DAY_BEFORE.search(before) or (integer and _COUNT_AFTER.match(after)) or _SD_AFTER.match(after):
            return Role.KEPT
        labels = list(_LABEL.finditer(before))
        if not labels:
            return None
        label = labels[-1]
        role = _role_of(before, labels)
        since = before[max(label.end(), previous_end - begin) :]  # modifiers after the label and the last number
        if role is Role.LEVEL and _DIFFERENCE_MODIFIER.search(since):
            return Role.DIFFERENCE
        return role


def to_price_units(narrative: str, mean: float, std: float) -> PriceNarrative:
    """`narrative` with its standardised numbers in price units: price = z * std + mean, a change = z * std."""
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ValueError(f"a scaler needs a finite mean and a positive std, got mean {mean}, std {std}")
    reader = _Reader(narrative)
    dates = [m.span() for m in _DATE.finditer(narrative)]
    pieces: list[str] = []
    written = previous_end = mapped = unmapped = 0
    for number in _NUMBER.finditer(narrative):
        if _within(number.start(), dates):
            continue
        role = reader.role(number, previous_end)
        previous_end = number.end()
        value = float(number.group())
        if role is Role.KEPT:
            continue
        if role is None:
            replacement = number.group() + STD_MARK
            unmapped += 1
        else:
            replacement = _format(value * std + mean if role is Role.LEVEL else value * std)
            mapped += 1
        pieces += [narrative[written : number.start()], replacement]
        written = number.end()
    pieces.append(narrative[written:])
    return PriceNarrative("".join(pieces), mapped, unmapped)
