"""Automatic reasoning-quality metrics for any narrative (rule-based analyst or LLM reasoner).

- format validity: the completion parses (`vta_core.prompts.parser`);
- numeric grounding: share of the numbers quoted in the reasoning that also appear in the prompt
  (compared at the prompt's precision, so "71.23" matches a prompt value 71.2345 shown as 71.23);
- claim consistency: share of checkable claims that the window's indicators support, e.g.
  "overbought" only when RSI, Stochastic %K or Williams %R is in its overbought zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
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
]
_NUMBER = re.compile(r"(?<![\w.])[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?![\w.])")


@dataclass(frozen=True)
class QualityScores:
    valid: bool
    numbers_quoted: int
    numbers_grounded: int
    claims_checked: int
    claims_consistent: int

    @property
    def grounding(self) -> float:
        return self.numbers_grounded / self.numbers_quoted if self.numbers_quoted else math.nan

    @property
    def consistency(self) -> float:
        return self.claims_consistent / self.claims_checked if self.claims_checked else math.nan


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
    for word, supported in _claims(indicators, last_price).items():
        # Negated mentions ("not overbought") make no claim.
        for match in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text):
            if re.search(r"\b(not|no|neither|nor)\s+(\w+\s+)?$", text[max(0, match.start() - 20) : match.start()]):
                continue
            checked += 1
            consistent += bool(supported())
    return QualityScores(parsed.valid, len(quoted), grounded, checked, consistent)


def quality_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per model and split: format validity rate, grounding and consistency (pooled over narratives)."""
    grouped = rows.groupby(["model", "split"], observed=True)
    summary = grouped.agg(
        narratives=("valid", "size"),
        format_valid=("valid", "mean"),
        quoted=("numbers_quoted", "sum"),
        grounded=("numbers_grounded", "sum"),
        checked=("claims_checked", "sum"),
        consistent=("claims_consistent", "sum"),
    ).reset_index()
    summary["grounding"] = summary["grounded"] / summary["quoted"].where(summary["quoted"] > 0)
    summary["consistency"] = summary["consistent"] / summary["checked"].where(summary["checked"] > 0)
    return summary[["model", "split", "narratives", "format_valid", "grounding", "consistency"]]
