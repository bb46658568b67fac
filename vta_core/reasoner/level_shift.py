"""Level-shift augmentation of stage-0 records: the same window, every price level moved by an integer k.

Why: the tiny reasoner learns to restate the last close and answer from it, but training windows rarely
have a standardised price beyond +-2.5 while test windows reach 12 (prices drift above their training
mean). Never having written a 3 before the point in a full prompt, it wrote 0.452 for 3.452, and those
windows were nearly all of its test MSE (RESULTS.md). Shifting a window's prices by k keeps it a valid
window: the price levels (series, minimum / maximum / mean / median, SMA, EMA, Bollinger bands, the last
close, the forecast) move by k and every other indicator (momentum, RSI, MACD, Williams %R, CCI, ADX,
stochastics) is a difference or a ratio of differences, so it does not change. The shift is applied to the
rendered text: each level number is re-printed as `format_number(value + k)`, the same rule the prompt
uses, so the prompt, the reasoning and the answer stay consistent with one another.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from vta_core.analyst.rule_based import forecast_direction
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.text import INDICATOR_LABELS, NOT_AVAILABLE, format_number
from vta_core.reasoner.copy_curriculum import last_close_text

_NUMBER = r"[+-]?\d+(?:\.\d+)?"
# Prompt lines whose value is a price level: the statistics and the level indicators (period labels vary).
_LEVEL_LINE_LABELS = ("Minimum", "Maximum", "Mean", "Median") + tuple(
    INDICATOR_LABELS[name] for name in ("sma", "ema", "bb_upper", "bb_middle", "bb_lower")
)
_LEVEL_LINE = re.compile(rf"^(- (?:{'|'.join(map(re.escape, _LEVEL_LINE_LABELS))})(?: \([^)]*\))?: )({_NUMBER})", re.M)
_SERIES = re.compile(r"\[([^\]]*)\]")
_ITEM = re.compile(_NUMBER)
# In prose (the instruction line and the analyst's sentences) a price level follows one of these words:
# "from the last close X", "ranged from X (day d) to Y", "with mean X", "The last price X", "the SMA X",
# "the EMA X", "upper Bollinger band X", "Bollinger bands (X to Y)", "reaching Y". Oscillators follow "is".
_LEVEL_WORDS = "from|to|mean|price|SMA|EMA|bands?|close|reaching"
_PROSE_LEVEL = re.compile(rf"(?<![\w-])((?:{_LEVEL_WORDS}) \(?)({_NUMBER})(?![\d.]*\d)")
_THINK = re.compile(r"(<think>)(.*?)(</think>)", re.S)
_ANSWER = re.compile(r"(<answer>)(.*?)(</answer>)", re.S)


class LevelShiftError(ValueError):
    """A record whose text does not have the shape the shift needs (no price series, no answer list)."""


def _shifter(k: int, digits: int) -> Callable[[str], str]:
    def shift(text: str) -> str:
        return text if text == NOT_AVAILABLE else format_number(float(text) + k, digits)

    return shift


def _shift_list(match: re.Match[str], shift: Callable[[str], str]) -> str:
    return "[" + _ITEM.sub(lambda m: shift(m.group(0)), match.group(1)) + "]"


def shift_prompt(user: str, k: int, digits: int = 4) -> str:
    """The user message with its price series, level statistics, level indicators and last close moved by k."""
    shift = _shifter(k, digits)
    if _SERIES.search(user) is None:
        raise LevelShiftError("no price series '[...]' in the user message")
    text = _SERIES.sub(lambda m: _shift_list(m, shift), user, count=1)
    text = _LEVEL_LINE.sub(lambda m: m.group(1) + shift(m.group(2)), text)
    # The prose after the data (the instruction "... from the last close X."): only the last paragraph.
    head, sep, tail = text.rpartition("\n\n")
    return head + sep + _PROSE_LEVEL.sub(lambda m: m.group(1) + shift(m.group(2)), tail)


def shift_completion(completion: str, k: int, digits: int = 4) -> str:
    """The analyst's completion with the price levels its reasoning quotes and its answer moved by k."""
    shift = _shifter(k, digits)
    answer = _ANSWER.search(completion)
    if answer is None or _SERIES.search(answer.group(2)) is None:
        raise LevelShiftError("no '<answer>[...]</answer>' in the completion")
    text = _THINK.sub(
        lambda m: m.group(1) + _PROSE_LEVEL.sub(lambda n: n.group(1) + shift(n.group(2)), m.group(2)) + m.group(3),
        completion,
    )
    return _ANSWER.sub(
        lambda m: m.group(1) + _SERIES.sub(lambda n: _shift_list(n, shift), m.group(2), count=1) + m.group(3), text
    )


def shift_record(record: dict, completion: str, k: int, digits: int = 4) -> tuple[dict, str] | None:
    """The record (its user message and target) and completion moved by k, or None when printing at `digits`
    significant digits would change the forecast's direction (a rise of 0.0001 on 0.4837 is flat on 3.484)."""
    horizon = len(record["target"])
    before = parse_answer(completion, horizon)
    new_completion = shift_completion(completion, k, digits)
    after = parse_answer(new_completion, horizon)
    try:
        last_text = last_close_text(record)
    except ValueError as err:
        raise LevelShiftError(str(err)) from err
    if not (before.valid and after.valid):
        raise LevelShiftError(f"unparsable record {record.get('ticker')} {record.get('window_end_date')}")
    user = record["prompt"][-1]["content"]
    last, new_last = float(last_text), float(_shifter(k, digits)(last_text))
    if forecast_direction(last, before.forecast[-1], digits) != forecast_direction(
        new_last, after.forecast[-1], digits
    ):
        return None
    prompt = [*record["prompt"][:-1], {**record["prompt"][-1], "content": shift_prompt(user, k, digits)}]
    return {**record, "prompt": prompt, "target": [v + k for v in record["target"]]}, new_completion


def level_shift_rows(
    records: Sequence[dict], completions: Sequence[str], fraction: float, max_shift: int, seed: int, digits: int = 4
) -> tuple[list[dict], list[str], int]:
    """The records with a seeded `fraction` of them shifted by a random nonzero integer in [-max_shift,
    max_shift]; also how many were shifted (a record whose direction the shift would change is kept as is)."""
    rng = np.random.default_rng(seed)
    ks = np.concatenate([np.arange(-max_shift, 0), np.arange(1, max_shift + 1)])
    rows, texts, shifted = [], [], 0
    for record, completion in zip(records, completions, strict=True):
        if max_shift > 0 and rng.random() < fraction:
            moved = shift_record(record, completion, int(rng.choice(ks)), digits)
            if moved is not None:
                record, completion = moved
                shifted += 1
        rows.append(record)
        texts.append(completion)
    return rows, texts, shifted
