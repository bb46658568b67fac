"""Strict parser of a reasoner's output: `<think> ... </think>` then `<answer> [v1, ..., vH] </answer>`.

Every failure has its own error code so parse-failure rates can be broken down by cause. Only
whitespace may stand before `<think>`, between `</think>` and `<answer>`, and after `</answer>`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_NON_FINITE = re.compile(r"^[+-]?(?:nan|inf|infinity)$", re.IGNORECASE)
TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@dataclass(frozen=True)
class ParsedAnswer:
    valid: bool
    reasoning: str
    forecast: tuple[float, ...]
    error: str | None = None  # "<code>: <detail>" when not valid

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else self.error.split(":", 1)[0]


# Not a parse error: the code a decoder gives a parsed answer it withholds because the answer contradicts the
# narrative's own concluding sentence (vta_core.reasoner.generation).
CONTRADICTS = "contradicts_conclusion"


def _fail(code: str, detail: str, reasoning: str = "") -> ParsedAnswer:
    return ParsedAnswer(False, reasoning, (), f"{code}: {detail}")


def parse_answer(text: str, horizon: int) -> ParsedAnswer:
    """Parse one completion; `horizon` is the number of values the answer must hold."""
    for tag in TAGS:
        count = text.count(tag)
        if count == 0:
            return _fail("missing_tag", f"no {tag} tag")
        if count > 1:
            return _fail("repeated_tag", f"{tag} appears {count} times")
    think_open, think_close = text.index("<think>"), text.index("</think>")
    answer_open, answer_close = text.index("<answer>"), text.index("</answer>")
    if not think_open < think_close < answer_open < answer_close:
        return _fail("tag_order", "expected <think> ... </think> <answer> ... </answer> in this order")
    reasoning = text[think_open + len("<think>") : think_close].strip()
    if text[:think_open].strip():
        return _fail("text_before_think", f"{text[:think_open].strip()[:40]!r}", reasoning)
    if text[think_close + len("</think>") : answer_open].strip():
        return _fail("text_between_blocks", "only whitespace may separate </think> and <answer>", reasoning)
    if text[answer_close + len("</answer>") :].strip():
        return _fail("text_after_answer", f"{text[answer_close + len('</answer>') :].strip()[:40]!r}", reasoning)
    if not reasoning:
        return _fail("empty_reasoning", "the <think> block is empty", reasoning)
    body = text[answer_open + len("<answer>") : answer_close].strip()
    if not (body.startswith("[") and body.endswith("]")):
        return _fail("not_a_list", "the answer must be a bracketed list [v1, ..., vH]", reasoning)
    items = [item.strip() for item in body[1:-1].split(",")] if body[1:-1].strip() else []
    values = []
    for position, item in enumerate(items, start=1):
        if _NON_FINITE.match(item):
            return _fail("non_finite", f"value {position} is {item!r}", reasoning)
        if not _NUMBER.match(item):
            return _fail("non_numeric", f"value {position} is {item!r}", reasoning)
        value = float(item)
        if not math.isfinite(value):  # e.g. 1e999 overflows to inf
            return _fail("non_finite", f"value {position} ({item}) overflows", reasoning)
        values.append(value)
    if len(values) != horizon:
        return _fail("wrong_count", f"expected {horizon} values, got {len(values)}", reasoning)
    return ParsedAnswer(True, reasoning, tuple(values))
