"""The copy curriculum of stage 0: short records, consistent replacement of the last close, bad templates."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vta_core.prompts.parser import parse_answer
from vta_core.reasoner.copy_curriculum import copy_rows, last_close_text, random_last_close


def _record(series: str, last_line: str, ticker: str = "AAPL") -> dict:
    user = f"Standardised prices, oldest first:\n[{series}]\n\nStatistics:\n- Mean: 0.12\n\n{last_line}"
    return {
        "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": user}],
        "ticker": ticker,
        "window_end_date": "2016-03-04",
        "target": [0.0, 0.0],
    }


def _flat(value: str) -> str:
    return (
        f"<think>I expect the price to stay flat from the last close {value} over the next 2 days.</think>\n"
        f"<answer>[{value}, {value}]</answer>"
    )


FLAT = _record("0.3, 0.123, 0.12", "Predict the next 2 closing prices from the last close 0.12.")
RISE = _record("0.3, 0.5", "Predict the next 2 closing prices from the last close 0.5.")
RISE_TEXT = (
    "<think>I expect the price to rise from the last close 0.5 over the next 2 days, reaching 0.6.</think>\n"
    "<answer>[0.55, 0.6]</answer>"
)


def test_prompts_are_cut_to_the_instruction_and_real_values_kept_without_synthetic_share():
    rows, texts = copy_rows([FLAT, RISE], [_flat("0.12"), RISE_TEXT], 0.0, seed=0)
    assert [r["prompt"] for r in rows] == [
        [{"role": "user", "content": "Predict the next 2 closing prices from the last close 0.12."}],
        [{"role": "user", "content": "Predict the next 2 closing prices from the last close 0.5."}],
    ]
    assert texts == [_flat("0.12"), RISE_TEXT]
    assert rows[0]["target"] == FLAT["target"] and rows[0]["ticker"] == "AAPL"


def test_a_synthetic_last_close_replaces_every_copy_and_nothing_else():
    rows, texts = copy_rows([FLAT, RISE], [_flat("0.12"), RISE_TEXT], 1.0, seed=3)
    value = re.search(r"last close (\S+)\.$", rows[0]["prompt"][0]["content"]).group(1)
    assert value != "0.12" and texts[0] == _flat(value)
    assert parse_answer(texts[0], 2).forecast == (float(value), float(value))
    # a forecast that is not flat would contradict a replaced last close: it keeps its real one
    assert texts[1] == RISE_TEXT and rows[1]["prompt"][0]["content"].endswith("last close 0.5.")


THINKING = (
    "<think>The price and the EMA are above the SMA: an uptrend. RSI is neutral. I expect the price to rise from "
    "the last close 0.5 over the next 2 days, reaching 0.6.</think>\n<answer>[0.55, 0.6]</answer>"
)


def test_instruction_rows_keep_the_concluding_sentence_and_indicator_rows_the_indicator_block():
    (short,), (text,) = copy_rows([RISE], [THINKING], 0.0, seed=0)
    assert short["prompt"][0]["content"] == "Predict the next 2 closing prices from the last close 0.5."
    assert text == RISE_TEXT  # the judgements need the indicators, which the last line does not show
    (row,), (text,) = copy_rows([RISE], [THINKING], 0.0, seed=0, context="indicators")
    assert row["prompt"] == [
        {
            "role": "user",
            "content": "Statistics:\n- Mean: 0.12\n\nPredict the next 2 closing prices from the last close 0.5.",
        }
    ]
    assert text == THINKING
    # A synthetic last close would contradict the indicators: such a row keeps the instruction alone.
    (row,), (text,) = copy_rows([FLAT], [_flat("0.12")], 1.0, seed=3, context="indicators")
    assert "\n" not in row["prompt"][0]["content"] and "0.12" not in text


def test_a_number_that_only_starts_like_the_last_close_is_not_replaced():
    text = _flat("0.12").replace("over the next", "above 0.123 over the next")
    _, (out,) = copy_rows([FLAT], [text], 1.0, seed=1)
    assert "above 0.123 over" in out and "0.12," not in out


def test_synthetic_values_cover_every_integer_digit_and_both_signs():
    rng = np.random.default_rng(0)
    values = [float(random_last_close(rng)) for _ in range(2000)]
    assert {int(abs(v)) for v in values} == set(range(10))
    assert 0.4 < np.mean([v < 0 for v in values]) < 0.6
    assert all(len(str(abs(v)).replace(".", "").lstrip("0")) <= 4 for v in values)  # 4 significant digits


def test_the_share_of_synthetic_records_follows_the_fraction_and_the_seed():
    records, texts = [FLAT] * 400, [_flat("0.12")] * 400
    replaced = lambda out: sum(t != _flat("0.12") for t in out)  # noqa: E731
    half = copy_rows(records, texts, 0.5, seed=7)[1]
    assert 160 < replaced(half) < 240
    assert copy_rows(records, texts, 0.5, seed=7)[1] == half
    assert copy_rows(records, texts, 0.5, seed=8)[1] != half


def test_a_template_whose_last_line_omits_the_last_close_is_refused_with_the_window():
    old = _record("0.3, 0.12", "Predict the next 2 closing prices.", ticker="XOM")
    with pytest.raises(ValueError, match=r"last close 0.12 \(XOM 2016-03-04\).*\{last_close\}"):
        copy_rows([old], [_flat("0.12")], 0.0, seed=0)


def test_last_close_is_read_from_the_series():
    assert last_close_text(FLAT) == "0.12"
    with pytest.raises(ValueError, match="no price series"):
        last_close_text({"prompt": [{"role": "user", "content": "nothing"}], "ticker": "AAPL"})
