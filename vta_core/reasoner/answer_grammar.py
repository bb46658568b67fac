"""Grammar-constrained decoding of the answer format: `<think> text </think>` then `<answer>[v1, ..., vH]</answer>`.

Why: a small reasoner writes a sensible forecast but miscounts the values or drops a tag, and the strict
parser (vta_core.prompts.parser) then throws the window away. Structured generation, as vLLM and
outlines do it, removes that failure without touching what the model says: the reasoning is free
text, the tags and separators are forced, and inside the list only tokens that continue a number are
allowed (an optional minus, digits, at most one point) until exactly H values are written. The values
themselves stay the model's choice among those tokens, so the forecast is still its own.

The think block gets what `max_new_tokens` leaves after room for the answer; a model that has not closed
it by then has `</think>` forced. Works with any tokenizer whose digits, '.', '-', ',' and ']' appear
as tokens (Qwen2's one-digit-per-token pre-tokenizer, the offline tiny model's, Llama's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import torch

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN_TEXT, SEPARATOR_TEXT, CLOSE_TEXT = "\n<answer>[", ", ", "]</answer>"


class State(IntEnum):
    """Which tokens a row may emit next (a row of the mask table)."""

    FREE = 0  # forced rows (the choice is overridden) and finished rows
    THINK = 1  # anything but answer tags
    THINK_FIRST = 8  # the first reasoning token: not '</think>' either (an empty reasoning does not parse)
    NUMBER_START = 2  # '-' or a digit
    AFTER_MINUS = 3  # a digit
    INTEGER = 4  # a digit, '.', or the end of the value
    AFTER_POINT = 5  # a digit
    FRACTION = 6  # a digit or the end of the value
    END_ONLY = 7  # the end of the value (the value is as long as allowed)
    NEED_POINT = 9  # '.' or the end of the value (as many digits before the point as allowed)
    SIGN_CHOICE = 10  # the token before a value, plain ('[', ' ') or with the value's minus merged ('[-', ' -')


VALUE_CAN_END = (State.INTEGER, State.FRACTION, State.END_ONLY, State.NEED_POINT)


@dataclass
class _Row:
    forced: list[int] = field(default_factory=list)
    state: State = State.FREE
    after_forced: State = State.THINK
    tail: str = ""  # the last characters written in the think block (to spot a multi-token '</think>')
    think_tokens: int = 0
    values: int = 0  # values completed in the answer
    value_tokens: int = 0
    integer_digits: int = 0
    plain: int = -1  # in SIGN_CHOICE: the plain token; its signed twin is AnswerGrammar.signed[plain]


class AnswerGrammar:
    """Per-tokenizer token classes and the per-row automaton of the answer format."""

    def __init__(
        self, tokenizer, horizon: int, max_new_tokens: int, max_value_tokens: int = 8, max_integer_digits: int = 2
    ):
        # Values are standardised prices: more than `max_integer_digits` digits before the point (100 standard
        # deviations) is a runaway digit loop, not a forecast, so the grammar asks for the point there.
        self.horizon, self.max_value_tokens, self.max_integer_digits = horizon, max_value_tokens, max_integer_digits
        vocab = len(tokenizer)
        self.texts = [tokenizer.decode([i]) for i in range(vocab)]
        digits = torch.tensor([t.isdigit() and t.isascii() for t in self.texts])
        encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        self.think_open, self.think_close = encode(THINK_OPEN), encode(THINK_CLOSE)
        self.answer_open, self.separator, self.close = (
            encode(ANSWER_OPEN_TEXT),
            encode(SEPARATOR_TEXT),
            encode(CLOSE_TEXT),
        )
        self.eos = tokenizer.eos_token_id
        self.minus, self.point = self._single(encode("-"), "-"), self._single(encode("."), ".")
        reserve = len(self.think_close) + len(self.answer_open) + len(self.close) + 1
        reserve += horizon * (max_value_tokens + 1 + len(self.separator))  # +1: a digit after a final point
        self.think_budget = max_new_tokens - len(self.think_open) - reserve
        if self.think_budget < 1:
            raise ValueError(
                f"max_new_tokens {max_new_tokens} leaves no room to think: the answer of {horizon} values "
                f"needs up to {reserve} tokens"
            )
        table = torch.zeros((max(State) + 1, vocab), dtype=torch.bool)
        table[State.FREE] = True
        table[State.THINK] = True
        for tag in ("<answer>", "</answer>", THINK_OPEN):
            ids = encode(tag)
            if len(ids) == 1:  # a tag that is one token can be kept out of the reasoning
                table[State.THINK, ids[0]] = False
        # Ending the sequence inside the reasoning would leave no answer (sampling at T = 1 did, 3 in 1,000).
        table[State.THINK, self.eos] = False
        table[State.THINK_FIRST] = table[State.THINK]
        if len(self.think_close) == 1:
            table[State.THINK_FIRST, self.think_close[0]] = False
        table[State.NUMBER_START] = digits
        table[State.NUMBER_START, self.minus] = True
        table[State.AFTER_MINUS] = digits
        table[State.INTEGER] = digits
        table[State.INTEGER, self.point] = True
        table[State.AFTER_POINT] = digits
        table[State.FRACTION] = digits
        table[State.NEED_POINT, self.point] = True
        self.table = table  # END tokens (',' or ']') are added per row: which one depends on the count
        self.comma, self.bracket = self.separator[0], self.close[0]
        # Qwen2's pre-tokenizer keeps a run of punctuation together, so a trained model writes '[-0.3' and
        # ', -0.3' with merged tokens ('[-', ' -'). Forcing the plain '[' or ' ' would leave it only a bare
        # '-' it never saw there, and it drops the sign; so where a signed twin exists the last token
        # before a value is the model's choice between the two.
        self.signed = {
            plain: twin
            for plain in (self.answer_open[-1], self.separator[-1])
            if (twin := self._signed_twin(encode, self.texts[plain])) is not None
        }

    @staticmethod
    def _single(ids: list[int], text: str) -> int:
        if len(ids) != 1:
            raise ValueError(f"the answer grammar needs {text!r} to be one token, the tokenizer gives {ids}")
        return ids[0]

    @staticmethod
    def _signed_twin(encode, text: str) -> int | None:
        ids = encode(text + "-")
        return ids[0] if len(ids) == 1 else None

    def start(self, rows: int) -> list[_Row]:
        return [_Row(forced=list(self.think_open), after_forced=State.THINK_FIRST) for _ in range(rows)]

    def _end_token(self, row: _Row) -> int:
        return self.bracket if row.values == self.horizon - 1 else self.comma

    def constrain(self, logits: torch.Tensor, rows: list[_Row]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits (b, V) to each row's allowed tokens; also the forced token of each row (-1: none)."""
        states = torch.tensor([int(r.state) for r in rows], device=logits.device)
        allowed = self.table.to(logits.device)[states]  # (b, V)
        # Per-row extras (the end token of a value, the two sign choices) in one indexed write: one tensor
        # write per row made grammar decoding about 1.4x slower (RESULTS.md, decoding speed).
        extra_rows: list[int] = []
        extra_tokens: list[int] = []
        for i, row in enumerate(rows):
            if row.state in VALUE_CAN_END:
                extra_rows.append(i)
                extra_tokens.append(self._end_token(row))
            elif row.state is State.SIGN_CHOICE:
                extra_rows += [i, i]
                extra_tokens += [row.plain, self.signed[row.plain]]
        if extra_rows:
            index = torch.tensor([extra_rows, extra_tokens], device=logits.device)
            allowed[index[0], index[1]] = True
        forced = torch.tensor([r.forced[0] if r.forced else -1 for r in rows], device=logits.device)
        return logits.masked_fill(~allowed, float("-inf")), forced

    def observe(self, rows: list[_Row], tokens: list[int]) -> None:
        """Advance every row's automaton by the token it emitted."""
        for row, token in zip(rows, tokens, strict=True):
            if row.forced:
                row.forced.pop(0)
                if not row.forced:
                    row.state = row.after_forced
                continue
            if row.state in (State.THINK, State.THINK_FIRST):
                row.state = State.THINK
                row.think_tokens += 1
                row.tail = (row.tail + self.texts[token])[-32:]
                if row.tail.endswith(THINK_CLOSE):
                    self._force(row, self.answer_open, State.NUMBER_START)
                elif row.think_tokens >= self.think_budget:
                    self._force(row, self.think_close + self.answer_open, State.NUMBER_START)
                continue
            if row.state is State.FREE:
                continue
            self._number(row, token)

    def _force(self, row: _Row, ids: list[int], then: State) -> None:
        if then is State.NUMBER_START and ids and ids[-1] in self.signed:
            ids, then, row.plain = ids[:-1], State.SIGN_CHOICE, ids[-1]
        row.forced, row.after_forced, row.state = list(ids), then, State.FREE
        if not ids:
            row.state = then

    def _number(self, row: _Row, token: int) -> None:
        if row.state is State.SIGN_CHOICE:
            signed = token == self.signed[row.plain]
            row.state = State.AFTER_MINUS if signed else State.NUMBER_START
            row.value_tokens = int(signed)
            return
        if token in (self.comma, self.bracket) and row.state in VALUE_CAN_END:
            row.values += 1
            row.value_tokens = row.integer_digits = 0
            if row.values == self.horizon:
                self._force(row, self.close[1:] + [self.eos], State.FREE)
            else:
                self._force(row, self.separator[1:], State.NUMBER_START)
            return
        row.value_tokens += 1
        if token == self.minus:
            row.state = State.AFTER_MINUS
        elif token == self.point:
            row.state = State.AFTER_POINT
        elif row.state in (State.NUMBER_START, State.AFTER_MINUS):
            row.state, row.integer_digits = State.INTEGER, len(self.texts[token])
        elif row.state is State.INTEGER:
            row.integer_digits += len(self.texts[token])
        elif row.state is State.AFTER_POINT:
            row.state = State.FRACTION
        if row.value_tokens >= self.max_value_tokens and row.state in (State.INTEGER, State.FRACTION):
            row.state = State.END_ONLY
        elif row.state is State.INTEGER and row.integer_digits >= self.max_integer_digits:
            row.state = State.NEED_POINT
