"""generation.generate's retries: unparsable answers and answers that contradict their own conclusion are
decoded again; an answer still contradicting its conclusion after every retry is withheld, not used."""

from __future__ import annotations

import pytest

from vta_core.prompts.parser import CONTRADICTS, parse_answer
from vta_core.reasoner import generation

FLAT = "<think>RSI is neutral. I expect the price to stay flat from the last close 2.611.</think>"
RISE = "<think>MACD is bullish. I expect the price to rise from the last close 2.611, reaching 2.7.</think>"
GARBLED_THINK = "<think>I expect the price to stay flat from the last close 2.611, 1.611, 1.611, 1.</think>"
FLAT_ANSWER = "<answer>[" + ", ".join(["2.611"] * 3) + "]</answer>"
GARBLED_ANSWER = "<answer>[2.61, 1.611, 1.611]</answer>"
RISE_ANSWER = "<answer>[2.65, 2.68, 2.7]</answer>"


def _decoded(text: str) -> generation.Decoded:
    return generation.Decoded(text, parse_answer(text, 3), 1)


@pytest.mark.parametrize(
    ("text", "contradicts"),
    [
        (FLAT + FLAT_ANSWER, False),
        (RISE + RISE_ANSWER, False),
        (FLAT + GARBLED_ANSWER, True),  # "stay flat" over an answer that falls to 1.611
        (RISE + FLAT_ANSWER, True),
        (GARBLED_THINK + FLAT_ANSWER, False),  # the last sentence still says "stay flat"
        ("<think>The bands are wide.</think>" + FLAT_ANSWER, True),  # no direction: nothing bears out
        ("no tags at all", False),  # unparsable: a parse failure, not a contradiction
    ],
)
def test_contradicts_table(text, contradicts):
    assert generation.contradicts(_decoded(text), 2.611) is contradicts


class _ScriptedDecoder:
    """Stands in for decode_texts: the n-th call returns the n-th script entry (one text per prompt asked)."""

    def __init__(self, monkeypatch, script: list[dict[str, str]]):
        self.calls: list[tuple[list[str], float]] = []
        self.script = script
        monkeypatch.setattr(generation, "decode_texts", self)
        monkeypatch.setattr(generation, "chat_prompts", lambda _tok, records: [r["id"] for r in records])

    def __call__(self, model, tokenizer, prompts, batch_size, max_new_tokens, temperature, *args, **kwargs):
        answers = self.script[len(self.calls)]
        self.calls.append((list(prompts), temperature))
        return [answers[p] for p in prompts]


class _Model:
    def eval(self):
        return self


def _generate(records, last_prices, retries=2):
    return generation.generate(_Model(), None, records, 3, 8, 64, 0.0, 0.7, retries, last_prices=last_prices, digits=4)


def test_contradicting_answer_is_retried_and_the_agreeing_retry_kept(monkeypatch):
    records = [{"id": "a"}, {"id": "b"}]
    decoder = _ScriptedDecoder(
        monkeypatch,
        [{"a": FLAT + FLAT_ANSWER, "b": FLAT + GARBLED_ANSWER}, {"b": FLAT + FLAT_ANSWER}],
    )
    out = _generate(records, [2.611, 2.611])
    assert decoder.calls == [(["a", "b"], 0.0), (["b"], 0.7)]  # only the contradicting window, sampled
    assert [d.parsed.valid for d in out] == [True, True]
    assert [d.attempts for d in out] == [1, 2]
    assert out[1].parsed.forecast == (2.611, 2.611, 2.611)


def test_answer_contradicting_after_every_retry_is_withheld_with_its_text(monkeypatch):
    decoder = _ScriptedDecoder(
        monkeypatch,
        [{"a": FLAT + GARBLED_ANSWER}, {"a": RISE + FLAT_ANSWER}, {"a": "unparsable"}],
    )
    (out,) = _generate([{"id": "a"}], [2.611], retries=2)
    assert len(decoder.calls) == 3
    assert not out.parsed.valid and out.parsed.error_code == CONTRADICTS
    assert out.text == FLAT + GARBLED_ANSWER  # the first parsed attempt's narrative is kept for reading
    assert out.attempts == 1


def test_without_last_prices_only_parse_failures_are_retried(monkeypatch):
    decoder = _ScriptedDecoder(
        monkeypatch, [{"a": FLAT + GARBLED_ANSWER, "b": "unparsable"}, {"b": FLAT + FLAT_ANSWER}]
    )
    out = _generate([{"id": "a"}, {"id": "b"}], None)
    assert decoder.calls[1] == (["b"], 0.7)
    assert [d.parsed.valid for d in out] == [True, True]  # the garbled answer is used as it stands


def test_last_prices_must_match_the_records():
    with pytest.raises(ValueError, match="1 last prices for 2 records"):
        _generate([{"id": "a"}, {"id": "b"}], [2.611])
