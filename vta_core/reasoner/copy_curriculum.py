"""The copy curriculum of stage 0: short records that teach a small model to restate the last close.

Why: the analyst's training narratives conclude "... stay flat from the last close X over the next 10 days."
and answer ten copies of X, so the warm start asks above all for one skill, copying X from the prompt's
last line. On full prompts (about 450 tokens) the tiny model never learns it in the budget; on the last
line alone (about 20 tokens) it does, and keeps it when the full prompts follow (RESULTS.md: grounding
48 % -> 96 % on validation). Training values rarely have more than one digit before the point while
validation and test drift higher, so a share of the records carries a random last close instead, with every
integer digit 0-9 equally often, written the way the prompt writes numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np

from vta_core.prompts.parser import parse_answer
from vta_core.prompts.text import format_number
from vta_core.reasoner.corpus import compact_narrative

CopyContext = Literal["instruction", "indicators"]

_SERIES = re.compile(r"\[([^\]]*)\]")


def _number(text: str) -> re.Pattern[str]:
    """`text` as a whole number (not a piece of a longer one)."""
    return re.compile(rf"(?<![\d.]){re.escape(text)}(?![\d])")


def last_close_text(record: dict) -> str:
    """The last value of the price series in the record's user message, as the prompt prints it."""
    user = record["prompt"][-1]["content"]
    match = _SERIES.search(user)
    if match is None:
        raise ValueError(
            f"no price series '[...]' in the user message of {record.get('ticker')} {record.get('window_end_date')}"
        )
    return match.group(1).split(",")[-1].strip()


def _answers_only(completion: str, value: str, horizon: int) -> bool:
    """Whether every answer value is `value` (a flat forecast: the value can be replaced consistently)."""
    parsed = parse_answer(completion, horizon)
    return parsed.valid and all(v == float(value) for v in parsed.forecast)


def random_last_close(rng: np.random.Generator, digits: int = 4) -> str:
    """A value with 0-9 before the point (uniform), either sign, printed with `digits` significant digits."""
    value = (rng.integers(0, 10) + rng.random()) * (1 if rng.random() < 0.5 else -1)
    return format_number(float(value), digits)


def copy_rows(
    records: Sequence[dict],
    completions: Sequence[str],
    synthetic_fraction: float,
    seed: int,
    digits: int = 4,
    context: CopyContext = "instruction",
) -> tuple[list[dict], list[str]]:
    """Short records with their completions. context "instruction": the prompt is the user message's last line
    and the completion its concluding sentence alone (sentences about indicators the line does not show would
    teach the model to invent them). "indicators": the prompt is the user message's last two paragraphs (the
    default template's indicator block and instruction) and the completion is whole, so the model also learns to
    read its trend and oscillator judgements off the indicator lines on short sequences. In a seeded
    `synthetic_fraction` of the flat records the last close is replaced (prompt line and completion alike); those
    keep the instruction alone, since a replaced last close would contradict the indicators (price vs SMA)."""
    rng = np.random.default_rng(seed)
    rows, texts = [], []
    for record, full in zip(records, completions, strict=True):
        user = record["prompt"][-1]["content"]
        line, completion = user.rsplit("\n", 1)[-1], compact_narrative(full, (-1,))
        last = last_close_text(record)
        if last not in line:
            raise ValueError(
                f"the prompt's last line does not state the last close {last} ({record.get('ticker')} "
                f"{record.get('window_end_date')}): the copy curriculum needs a template ending with "
                "'{last_close}'"
            )
        if rng.random() < synthetic_fraction and _answers_only(completion, last, len(record["target"])):
            value = random_last_close(rng, digits)
            line, completion = _number(last).sub(value, line), _number(last).sub(value, completion)
        elif context == "indicators":
            line, completion = "\n\n".join(user.split("\n\n")[-2:]), full
        rows.append({**record, "prompt": [{"role": "user", "content": line}]})
        texts.append(completion)
    return rows, texts
