"""Automatic reasoning-quality metrics for any narrative (rule-based analyst or LLM reasoner).

- format validity: the completion parses (`vta_core.prompts.parser`);
- numeric grounding: share of the numbers quoted in the reasoning that also appear in the prompt
  (compared at the prompt's precision, so "71.23" matches a prompt value 71.2345 shown as 71.23);
- claim consistency: share of checkable claims that the window's indicators support: a zone or sign word
  after a named indicator is checked against that indicator ("RSI is overbought" only when RSI > 70, "RSI is
  neutral" only when it is in 30-70, "MACD is bearish" only when MACD < 0); an unattributed "overbought" when
  RSI, Stochastic %K or Williams %R is in its overbought zone, "uptrend" when the price or the EMA is above
  the SMA, and so on;
- conclusion agreement: the direction word of the reasoning's concluding sentence ("rise", "fall", "stay
  flat", ...) agrees with the answer's direction (its last value against the last price, at the printed
  precision: `rule_based.forecast_direction`, the rule the analyst writes its conclusion with).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from vta_core.analyst.rule_based import (
    ADX_STRONG,
    ADX_WEAK,
    RSI_HIGH,
    RSI_LOW,
    STOCH_HIGH,
    STOCH_LOW,
    WILLR_HIGH,
    WILLR_LOW,
    Direction,
    forecast_direction,
)
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.text import format_number

QUALITY_COLUMNS = [
    "model",
    "split",
    "valid",
    "numbers_quoted",
    "numbers_grounded",
    "claims_checked",
    "claims_consistent",
    "conclusion_agrees",
]
SUMMARY_COLUMNS = ["model", "split", "narratives", "format_valid", "grounding", "consistency", "conclusion_agreement"]
# A number; a full stop after it ends the sentence ("reaching 0.5123.") unless a digit follows.
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?!\w|\.\d)")
_NEGATION = re.compile(r"\b(not|no|neither|nor)\s+(\w+\s+)?$")
# Direction words of a conclusion; the analyst writes "rise", "fall" and "stay flat".
DIRECTION_WORDS: dict[Direction, tuple[str, ...]] = {
    "rise": ("rise", "rises", "rising", "rose", "risen", "increase", "increases", "increasing", "increased", "up")
    + ("upward", "upwards", "bullish", "climb", "climbs", "climbing"),
    "fall": ("fall", "falls", "falling", "fell", "fallen", "decline", "declines", "declining", "declined", "down")
    + ("downward", "downwards", "bearish", "drop", "drops", "dropping", "dropped"),
    "flat": ("flat", "stable", "sideways", "unchanged", "steady"),
}
_DIRECTION = re.compile(
    r"(?<![\w-])(" + "|".join(w for words in DIRECTION_WORDS.values() for w in words) + r")(?![\w-])"
)
_WORD_DIRECTION = {w: d for d, words in DIRECTION_WORDS.items() for w in words}
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class QualityScores:
    valid: bool
    numbers_quoted: int
    numbers_grounded: int
    claims_checked: int
    claims_consistent: int
    conclusion_agrees: bool | None = None  # None: no answer, or no single direction in the conclusion

    @property
    def grounding(self) -> float:
        return self.numbers_grounded / self.numbers_quoted if self.numbers_quoted else math.nan

    @property
    def consistency(self) -> float:
        return self.claims_consistent / self.claims_checked if self.claims_checked else math.nan

    def row(self, model: str, split: str) -> tuple:
        """One row of a quality table, in QUALITY_COLUMNS order."""
        return (
            model,
            split,
            self.valid,
            self.numbers_quoted,
            self.numbers_grounded,
            self.claims_checked,
            self.claims_consistent,
            self.conclusion_agrees,
        )


def _finite(ind: Mapping[str, float], name: str) -> float | None:
    value = ind.get(name)
    return value if value is not None and math.isfinite(value) else None


def _any(*conditions: bool | None) -> bool:
    return any(bool(c) for c in conditions if c is not None)


def _cmp(value: float | None, test: Callable[[float], bool]) -> bool | None:
    return None if value is None else test(value)


def _claims(ind: Mapping[str, float], last: float) -> dict[str, Callable[[], bool]]:
    """Claim word -> whether the indicators support it."""
    rsi, k, w = (_finite(ind, n) for n in ("rsi", "stoch_k", "willr"))
    sma, ema, macd, adx = (_finite(ind, n) for n in ("sma", "ema", "macd", "adx"))
    return {
        "overbought": lambda: _any(
            _cmp(rsi, lambda v: v > RSI_HIGH), _cmp(k, lambda v: v > STOCH_HIGH), _cmp(w, lambda v: v > WILLR_HIGH)
        ),
        "oversold": lambda: _any(
            _cmp(rsi, lambda v: v < RSI_LOW), _cmp(k, lambda v: v < STOCH_LOW), _cmp(w, lambda v: v < WILLR_LOW)
        ),
        "uptrend": lambda: sma is not None and (last > sma or (ema is not None and ema > sma)),
        "downtrend": lambda: sma is not None and (last < sma or (ema is not None and ema < sma)),
        "bullish": lambda: _any(_cmp(macd, lambda v: v > 0), _cmp(ema, lambda v: sma is not None and v > sma)),
        "bearish": lambda: _any(_cmp(macd, lambda v: v < 0), _cmp(ema, lambda v: sma is not None and v < sma)),
        "strong trend": lambda: adx is not None and adx > ADX_STRONG,
        "weak trend": lambda: adx is not None and adx < ADX_WEAK,
    }


# An indicator named earlier in the same sentence owns a zone or sign word: "RSI is neutral and Stochastic %K
# is overbought" claims %K overbought and RSI neutral, so each is checked against its own reading (a lenient
# "any oscillator" rule would pass "RSI is overbought" whenever %K alone is). Text is lower-cased first.
_OWNER = re.compile(r"(?<![\w-])(rsi|stochastic %k|williams %r|macd)(?![\w-])")
_ZONES = {"rsi": ("rsi", RSI_HIGH, RSI_LOW), "stochastic %k": ("stoch_k", STOCH_HIGH, STOCH_LOW)} | {
    "williams %r": ("willr", WILLR_HIGH, WILLR_LOW)
}
_MIDDLE_WORDS = ("neutral", "mid-range")


def _owner(text: str, start: int) -> str | None:
    """The indicator named last before `start` in the same sentence, if any."""
    sentence_start = max(text.rfind(". ", 0, start), text.rfind("; ", 0, start)) + 1
    names = _OWNER.findall(text, sentence_start, start)
    return names[-1] if names else None


def _owned_claim(owner: str, word: str, ind: Mapping[str, float]) -> bool | None:
    """Whether the named indicator supports the word (None: the word is no claim about that indicator)."""
    if owner == "macd":
        macd = _finite(ind, "macd")
        sign = {"bullish": lambda v: v > 0, "bearish": lambda v: v < 0, "neutral": lambda v: v == 0}.get(word)
        return None if sign is None else macd is not None and sign(macd)
    name, high, low = _ZONES[owner]
    value = _finite(ind, name)
    zone = {"overbought": lambda v: v > high, "oversold": lambda v: v < low}
    test = zone.get(word) or ((lambda v: low <= v <= high) if word in _MIDDLE_WORDS else None)
    return None if test is None else value is not None and test(value)


def _negated(text: str, start: int) -> bool:
    """Whether the word at `start` is negated ("not overbought", "no clear rise")."""
    return _NEGATION.search(text[max(0, start - 20) : start]) is not None


def _reasoning(narrative: str) -> str:
    """The `<think>` block of a completion, or the text before `<answer>`, or the whole text."""
    if "<think>" in narrative:
        narrative = narrative.split("<think>", 1)[1]
    return narrative.split("</think>", 1)[0].split("<answer>", 1)[0].strip()


def conclusion_direction(narrative: str) -> Direction | None:
    """The direction the reasoning's last sentence states: its one non-negated direction class, or None
    when it names none or several ("despite the bearish MACD, I expect a rise" is ambiguous)."""
    sentences = [s for s in _SENTENCE_END.split(_reasoning(narrative)) if s.strip()]
    if not sentences:
        return None
    text = sentences[-1].lower()
    found = {_WORD_DIRECTION[m.group(1)] for m in _DIRECTION.finditer(text) if not _negated(text, m.start())}
    return found.pop() if len(found) == 1 else None


def conclusion_agrees(
    narrative: str, answer_values: Sequence[float], last_price: float, digits: int = 4
) -> bool | None:
    """Whether the concluding sentence's direction word agrees with the answer's direction (its last value
    against the last observed price; flat when the two print the same at `digits` significant digits).
    None when there is no answer value or the conclusion states no single direction."""
    stated = conclusion_direction(narrative)
    if stated is None or len(answer_values) == 0:
        return None
    return stated == forecast_direction(float(last_price), float(answer_values[-1]), digits)


def score_narrative(
    completion: str, prompt: str, indicators: Mapping[str, float], last_price: float, horizon: int, digits: int = 4
) -> QualityScores:
    parsed = parse_answer(completion, horizon)
    reasoning = parsed.reasoning if parsed.reasoning else completion
    prompt_numbers = {format_number(float(m), digits) for m in _NUMBER.findall(prompt)}
    quoted = [format_number(float(m), digits) for m in _NUMBER.findall(reasoning)]
    grounded = sum(q in prompt_numbers for q in quoted)
    text = reasoning.lower()
    checked = consistent = 0
    claims = _claims(indicators, last_price)
    for word in (*claims, *_MIDDLE_WORDS):
        # Negated mentions ("not overbought") make no claim.
        for match in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
            if _negated(text, match.start()):
                continue
            owner = _owner(text, match.start())
            verdict = _owned_claim(owner, word, indicators) if owner is not None else None
            if verdict is None and word in claims:
                verdict = claims[word]()
            if verdict is not None:
                checked += 1
                consistent += verdict
    agrees = conclusion_agrees(reasoning, parsed.forecast, last_price, digits) if parsed.valid else None
    return QualityScores(parsed.valid, len(quoted), grounded, checked, consistent, agrees)


def quality_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and split: format validity rate, grounding, consistency and conclusion agreement (pooled over
    narratives; agreement over the narratives whose conclusion could be checked)."""
    agrees = rows["conclusion_agrees"].astype("boolean")
    rows = rows.assign(conclusion_checked=agrees.notna(), conclusion_agreed=agrees.fillna(False).astype(bool))
    grouped = rows.groupby(["model", "split"], observed=True)
    summary = grouped.agg(
        narratives=("valid", "size"),
        format_valid=("valid", "mean"),
        quoted=("numbers_quoted", "sum"),
        grounded=("numbers_grounded", "sum"),
        checked=("claims_checked", "sum"),
        consistent=("claims_consistent", "sum"),
        conclusions=("conclusion_checked", "sum"),
        agreed=("conclusion_agreed", "sum"),
    ).reset_index()
    summary["grounding"] = summary["grounded"] / summary["quoted"].where(summary["quoted"] > 0)
    summary["consistency"] = summary["consistent"] / summary["checked"].where(summary["checked"] > 0)
    summary["conclusion_agreement"] = summary["agreed"] / summary["conclusions"].where(summary["conclusions"] > 0)
    return summary[SUMMARY_COLUMNS]
