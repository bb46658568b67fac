"""The strict answer parser: one case per failure mode, each with its reason."""

from __future__ import annotations

import pytest

from vta_core.prompts.parser import parse_answer

GOOD = "<think>RSI is 71.2, overbought.</think>\n<answer> [0.1, -0.2, 3, 4e-1] </answer>"


def test_valid_answer():
    parsed = parse_answer(GOOD, 4)
    assert parsed.valid and parsed.error is None
    assert parsed.forecast == (0.1, -0.2, 3.0, 0.4)
    assert parsed.reasoning == "RSI is 71.2, overbought."


def test_whitespace_is_allowed_around_blocks():
    assert parse_answer("  \n<think> x </think>   <answer>[1,2]</answer>\n\n", 2).valid


@pytest.mark.parametrize(
    ("text", "code", "detail"),
    [
        ("<answer>[1, 2]</answer>", "missing_tag", "<think>"),
        ("<think>x<answer>[1, 2]</answer>", "missing_tag", "</think>"),
        ("<think>x</think> [1, 2]", "missing_tag", "<answer>"),
        ("<think>x</think><answer>[1, 2]", "missing_tag", "</answer>"),
        ("<think>x</think><answer>[1, 2]</answer><answer>[1, 2]</answer>", "repeated_tag", "<answer>"),
        ("<answer>[1, 2]</answer><think>x</think>", "tag_order", "order"),
        ("Sure! <think>x</think><answer>[1, 2]</answer>", "text_before_think", "Sure!"),
        ("<think>x</think> so: <answer>[1, 2]</answer>", "text_between_blocks", "whitespace"),
        ("<think>x</think><answer>[1, 2]</answer> hope this helps", "text_after_answer", "hope"),
        ("<think>  </think><answer>[1, 2]</answer>", "empty_reasoning", "empty"),
        ("<think>x</think><answer>1, 2</answer>", "not_a_list", "bracketed"),
        ("<think>x</think><answer>[1, 2, 3]</answer>", "wrong_count", "expected 2 values, got 3"),
        ("<think>x</think><answer>[1]</answer>", "wrong_count", "got 1"),
        ("<think>x</think><answer>[]</answer>", "wrong_count", "got 0"),
        ("<think>x</think><answer>[1, abc]</answer>", "non_numeric", "value 2 is 'abc'"),
        ("<think>x</think><answer>[1, ]</answer>", "non_numeric", "value 2 is ''"),
        ("<think>x</think><answer>[NaN, 1]</answer>", "non_finite", "value 1 is 'NaN'"),
        ("<think>x</think><answer>[1, -inf]</answer>", "non_finite", "value 2 is '-inf'"),
        ("<think>x</think><answer>[1, 1e999]</answer>", "non_finite", "overflows"),
    ],
)
def test_each_failure_mode_has_its_reason(text, code, detail):
    parsed = parse_answer(text, 2)
    assert not parsed.valid and parsed.forecast == ()
    assert parsed.error_code == code, parsed.error
    assert detail in parsed.error


def test_reasoning_is_kept_on_answer_errors():
    parsed = parse_answer("<think>trend up</think><answer>[1]</answer>", 2)
    assert parsed.reasoning == "trend up" and parsed.error_code == "wrong_count"
