"""The fast decoding path: the same tokens as `model.generate`, several times the windows per second.

`generate` spends most of a tiny model's time outside the matrix products: a padded prefill whose
mask forces the slow attention path, logits for every prompt position, and a Python loop of logits
processors per step. Here, per batch of prompts of similar length:

1. prefill each group of prompts of *exactly* equal token length in one forward with no padding (so
   attention takes the plain causal path) and ask for the last position's logits only;
2. splice the groups' key/value caches right-aligned into one left-padded cache, with an attention
   mask that hides the padding and explicit position ids (each row continues from its own length);
3. decode one token per step for the whole batch, drop rows that emitted EOS (their cache rows go
   too), stop at `max_new_tokens`.

Greedy decoding gives `generate`'s tokens (tested); sampling draws from the same distribution with
its own seeded generator. A repetition penalty (Qwen2.5 ships 1.05 in its generation config) is
applied exactly as transformers' `RepetitionPenaltyLogitsProcessor` does, over prompt and output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from vta_core.reasoner import decode_step
from vta_core.reasoner.answer_grammar import AnswerGrammar

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy at temperature 0, else sampling from softmax(logits / T)."""

    temperature: float = 0.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature < 0 or self.repetition_penalty <= 0:
            raise ValueError(f"need temperature >= 0 and repetition_penalty > 0, got {self}")


def _penalised(logits: torch.Tensor, seen: torch.Tensor | None, penalty: float) -> torch.Tensor:
    """transformers' repetition penalty: seen tokens' positive logits / p, negative logits x p."""
    if seen is None:
        return logits
    scaled = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, scaled, logits)


def _next_tokens(
    logits: torch.Tensor, seen: torch.Tensor | None, sampling: Sampling, generator: torch.Generator | None
) -> torch.Tensor:
    """logits (B, V) -> token ids (B,)."""
    logits = _penalised(logits.float(), seen, sampling.repetition_penalty)
    if sampling.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _prefill(model, rows: list[list[int]]) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """One forward over prompts of equal length: per-layer (keys, values) and the last position's logits."""
    ids = torch.tensor(rows, dtype=torch.long, device=model.device)  # (g, L)
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    kv = [(layer.keys, layer.values) for layer in cache.layers]  # each (g, kv_heads, L, head_dim)
    return kv, out.logits[:, -1, :]  # (g, V)


def _groups(ids: list[list[int]]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(ids):
        groups.setdefault(len(row), []).append(i)
    return groups


class _CacheStepper:
    """Decoding through the model's own forward and a transformers DynamicCache (any architecture)."""

    def __init__(self, model, ids: list[list[int]]):
        from transformers import DynamicCache

        lengths = torch.tensor([len(r) for r in ids], dtype=torch.long, device=model.device)
        width = int(lengths.max())
        keys: list[torch.Tensor] = []
        values: list[torch.Tensor] = []
        self.logits: torch.Tensor | None = None
        for length, members in _groups(ids).items():
            kv, last = _prefill(model, [ids[i] for i in members])
            index = torch.tensor(members, dtype=torch.long, device=model.device)
            if self.logits is None:
                self.logits = last.new_zeros((len(ids), last.shape[-1]))
                for k, v in kv:
                    shape = (len(ids), k.shape[1], width, k.shape[3])
                    keys.append(k.new_zeros(shape))
                    values.append(v.new_zeros(shape))
            self.logits[index] = last
            for layer, (k, v) in enumerate(kv):
                keys[layer][index, :, width - length :] = k  # right-aligned: row i's padding is on the left
                values[layer][index, :, width - length :] = v
        columns = torch.arange(width, device=model.device).unsqueeze(0)
        self.model, self.lengths = model, lengths
        self.mask = (columns >= (width - lengths).unsqueeze(1)).long()  # (B, width)
        self.cache = DynamicCache(ddp_cache_data=list(zip(keys, values, strict=True)))

    def keep(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.mask, self.lengths = self.mask[rows], self.lengths[rows]

    def step(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(tokens), 1))], dim=1)
        position = (self.lengths + step).unsqueeze(1)  # (b, 1): each row continues from its own length
        out = self.model(
            input_ids=tokens.unsqueeze(1),
            attention_mask=self.mask,
            position_ids=position,
            past_key_values=self.cache,
            use_cache=True,
        )
        return out.logits[:, -1, :]


class _KVStepper:
    """Decoding through decode_step.KVDecoder: a preallocated cache written in place (Qwen2 / Llama)."""

    def __init__(self, model, ids: list[list[int]], max_new_tokens: int):
        lengths = torch.tensor([len(r) for r in ids], dtype=torch.long, device=model.device)
        self.decoder: decode_step.KVDecoder | None = None
        self.logits: torch.Tensor | None = None
        for length, members in _groups(ids).items():
            kv, last = _prefill(model, [ids[i] for i in members])
            index = torch.tensor(members, dtype=torch.long, device=model.device)
            if self.decoder is None or self.logits is None:
                k = kv[0][0]  # (g, kv_heads, L, head_dim)
                self.decoder = decode_step.KVDecoder.allocate(
                    model, len(ids), k.shape[1], k.shape[3], int(lengths.max()), max_new_tokens, k
                )
                self.logits = last.new_zeros((len(ids), last.shape[-1]))
            self.logits[index] = last
            self.decoder.place(index, length, kv)
        self.lengths = lengths

    def keep(self, rows: torch.Tensor) -> None:
        assert self.decoder is not None
        self.decoder.keep(rows)
        self.lengths = self.lengths[rows]

    def step(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        assert self.decoder is not None
        return self.decoder.step(tokens, self.lengths + step)


def _seen_tokens(ids: list[list[int]], vocab: int, device: torch.device) -> torch.Tensor:
    seen = torch.zeros((len(ids), vocab), dtype=torch.bool, device=device)
    for i, row in enumerate(ids):
        seen[i, torch.tensor(row, dtype=torch.long, device=device)] = True
    return seen


def decode_batch(
    model,
    ids: list[list[int]],
    max_new_tokens: int,
    eos_token_id: int,
    sampling: Sampling,
    generator: torch.Generator | None = None,
    preallocated: bool | None = None,
    grammar: AnswerGrammar | None = None,
) -> list[list[int]]:
    """Generated token ids of each prompt (token id lists), EOS included when emitted. `preallocated`:
    decode through decode_step's in-place cache (None: whenever the architecture supports it);
    `grammar`: constrain the output to the answer format (vta_core.reasoner.answer_grammar)."""
    use_kv = decode_step.supports(model) if preallocated is None else preallocated
    stepper = _KVStepper(model, ids, max_new_tokens) if use_kv else _CacheStepper(model, ids)
    logits = stepper.logits
    assert logits is not None
    seen = _seen_tokens(ids, logits.shape[-1], logits.device) if sampling.repetition_penalty != 1.0 else None
    out: list[list[int]] = [[] for _ in ids]
    alive = torch.arange(len(ids), device=logits.device)  # original row of each batch row
    rows = grammar.start(len(ids)) if grammar is not None else []
    for step in range(max_new_tokens):
        forced = None
        if grammar is not None:
            logits, forced = grammar.constrain(logits, rows)
        token = _next_tokens(logits, seen, sampling, generator)  # (b,)
        if forced is not None:
            token = torch.where(forced >= 0, forced, token)
        if grammar is not None:
            grammar.observe(rows, token.tolist())
        for row, t in zip(alive.tolist(), token.tolist(), strict=True):
            out[row].append(t)
        if step == max_new_tokens - 1:
            break
        going = token != eos_token_id
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            stepper.keep(keep)
            alive, token = alive[keep], token[keep]
            rows = [rows[i] for i in keep.tolist()] if grammar is not None else rows
            seen = None if seen is None else seen[keep]
        if seen is not None:
            seen[torch.arange(len(token), device=token.device), token] = True
        logits = stepper.step(token, step)
    return out


def fast_decode_texts(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int,
    max_new_tokens: int,
    sampling: Sampling,
    seed: int = 0,
    on_batch: Callable[[int], None] | None = None,
    grammar: AnswerGrammar | None = None,
) -> list[str]:
    """One completion per prompt, in the prompts' order (special tokens skipped, as `generate`'s path does).
    Prompts are batched longest first so a batch's rows differ little in length."""
    ids: list[list[int]] = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    generator = None
    if sampling.temperature > 0:
        generator = torch.Generator(device=model.device).manual_seed(seed)
    texts = [""] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            tokens = decode_batch(
                model,
                [ids[i] for i in chunk],
                max_new_tokens,
                tokenizer.eos_token_id,
                sampling,
                generator,
                grammar=grammar,
            )
            for i, text in zip(chunk, tokenizer.batch_decode(tokens, skip_special_tokens=True), strict=True):
                texts[i] = text
            if on_batch is not None:
                on_batch(len(chunk))
    return texts
