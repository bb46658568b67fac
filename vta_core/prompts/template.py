"""The prompt template: a system message with the answer format and a user message with the data.

Templates use `{name}` placeholders (str.format). Validation rejects unknown placeholders and
missing required ones, so a bad template fails at configuration time, not mid-run.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

DEFAULT_SYSTEM = (
    "You are an expert financial technical analyst. You are given the last {lookback} trading days of a "
    "stock's standardised prices together with summary statistics and technical indicators. Reason about "
    "trend, momentum, overbought or oversold conditions and volatility, then predict the next {horizon} "
    "standardised adjusted closing prices. Answer exactly in this format:\n"
    "<think> your step-by-step analysis </think>\n"
    "<answer> [v1, v2, ..., v{horizon}] </answer>"
)
DEFAULT_USER = (
    "Standardised prices of the last {lookback} trading days, oldest first:\n{series}\n\n"
    "Statistics:\n{statistics}\n\n"
    "Technical indicators:\n{indicators}\n\n"
    "Predict the next {horizon} closing prices from the last close {last_close}."
)
# The instruction repeats the last close (a departure from the paper's prompt, which shows it only as the last
# series value): the concluding sentence of a narrative restates it with the same words, which a small model
# copies from there by pattern (RESULTS.md, stage-0 recipes), so its answer starts from the right level.
PLACEHOLDERS = frozenset(
    {"lookback", "horizon", "series", "last_close", "statistics", "indicators", "ticker", "end_date"}
)
REQUIRED_USER = frozenset({"series", "horizon"})
REQUIRED_SYSTEM_TEXT = ("<think>", "</think>", "<answer>", "</answer>")


class TemplateError(ValueError):
    """A prompt template with unknown or missing placeholders."""


def placeholders(template: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as err:
        raise TemplateError(f"malformed template: {err}") from err


def validate_templates(system: str, user: str) -> list[str]:
    """Every problem with the pair of templates (empty list when fine)."""
    problems = []
    for name, template in (("system_template", system), ("user_template", user)):
        try:
            fields = placeholders(template)
        except TemplateError as err:
            problems.append(f"{name}: {err}")
            continue
        unknown = sorted(f for f in fields if f not in PLACEHOLDERS)
        if unknown:
            problems.append(f"{name}: unknown placeholder(s) {unknown}; allowed: {sorted(PLACEHOLDERS)}")
        if name == "user_template":
            missing = sorted(REQUIRED_USER - fields)
            if missing:
                problems.append(f"user_template: missing required placeholder(s) {missing}")
    absent = [tag for tag in REQUIRED_SYSTEM_TEXT if tag not in system]
    if absent:
        problems.append(f"system_template: must state the answer format; missing {absent}")
    return problems


def render(template: str, values: Mapping[str, str | int]) -> str:
    return template.format(**values)
