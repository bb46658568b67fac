"""Batched decoding of chat prompts, strict parsing, retry at a higher temperature, then 'invalid'.

A window is retried when its output does not parse or, given the window's last price, when its answer
does not bear out its own concluding sentence ("stay flat from the last close 11.19" over an answer that
ends at 1.139: a garbled copy). An answer that still contradicts its conclusion after the retries is
withheld (error code `contradicts_conclusion`): the narrative is kept, the forecast is not used.
Windows whose output never parses are marked invalid; the fusion stage falls back to the
backbone's unconditional forecast for them. Prompts are decoded longest-first in batches of
similar length. Two engines give the same greedy tokens: "fast" (vta_core.reasoner.fast_decode,
the default) and "hf" (transformers' `generate`, kept as the reference and for models whose
forward the fast path does not support).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from vta_core.artifacts import ArtifactRef, require
from vta_core.evaluation.reasoning_quality import conclusion_agrees
from vta_core.prompts.parser import CONTRADICTS, ParsedAnswer, parse_answer
from vta_core.reasoner.answer_grammar import AnswerGrammar
from vta_core.reasoner.fast_decode import Sampling, fast_decode_texts

LOG = logging.getLogger(__name__)
Engine = Literal["fast", "hf"]
NARRATIVE_COLUMNS = ["ticker", "split", "window_end_date", "narrative", "valid", "error", "attempts"]


@dataclass(frozen=True)
class Decoded:
    text: str
    parsed: ParsedAnswer
    attempts: int


def _repetition_penalty(model) -> float:
    """The model's own generation-config penalty (Qwen2.5: 1.05), which `generate` would apply too."""
    config = getattr(model, "generation_config", None)
    return float(getattr(config, "repetition_penalty", None) or 1.0)


def _decode_batch(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, temperature: float) -> list[str]:
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    sampling = (
        {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        if temperature > 0
        else {"do_sample": False}
    )
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **sampling,
        )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def decode_texts(
    model,
    tokenizer,
    prompts: Sequence[str],
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    on_batch: Callable[[int], None] | None = None,
    engine: Engine = "fast",
    seed: int = 0,
    grammar: AnswerGrammar | None = None,
) -> list[str]:
    """One completion per prompt, in the prompts' order; `on_batch(n)` after each batch of n prompts.
    `grammar` (fast engine only) constrains every output to the answer format."""
    if engine == "fast":
        sampling = Sampling(temperature, _repetition_penalty(model))
        return fast_decode_texts(
            model, tokenizer, prompts, batch_size, max_new_tokens, sampling, seed, on_batch, grammar
        )
    if grammar is not None:
        raise ValueError("the answer grammar needs the fast engine (generation.engine: fast)")
    order = np.argsort([-len(p) for p in prompts], kind="stable")
    texts: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        decoded = _decode_batch(model, tokenizer, [prompts[i] for i in chunk], max_new_tokens, temperature)
        for i, text in zip(chunk, decoded, strict=True):
            texts[i] = text
        if on_batch is not None:
            on_batch(len(chunk))
    return texts


def contradicts(decoded: Decoded, last_price: float, digits: int = 4) -> bool:
    """A parsed answer that does not bear out its concluding sentence: the sentence states no single direction
    (a garbled conclusion), or not the direction of the answer's last value from `last_price`."""
    return decoded.parsed.valid and not conclusion_agrees(decoded.text, decoded.parsed.forecast, last_price, digits)


def _withheld(decoded: Decoded) -> Decoded:
    error = f"{CONTRADICTS}: the answer does not bear out the concluding sentence after every retry"
    return Decoded(decoded.text, ParsedAnswer(False, decoded.parsed.reasoning, (), error), decoded.attempts)


def chat_prompts(tokenizer, records: Sequence[dict]) -> list[str]:
    return [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in records]


def generate(
    model,
    tokenizer,
    records: Sequence[dict],
    horizon: int,
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    retry_temperature: float,
    retries: int,
    seed: int = 0,
    on_batch: Callable[[int], None] | None = None,
    engine: Engine = "fast",
    constrained: bool = False,
    last_prices: Sequence[float] | np.ndarray | None = None,
    digits: int = 4,
) -> list[Decoded]:
    """Decode every record; unparsable outputs are retried (sampling at `retry_temperature`) `retries` times.
    Given `last_prices` (one per record: the prompt's last close), so are answers that contradict their
    conclusion, and those still contradicting it are withheld. `on_batch(n)` hears of each first-pass batch of
    n records (the retries are not counted)."""
    if last_prices is not None and len(last_prices) != len(records):
        raise ValueError(f"{len(last_prices)} last prices for {len(records)} records")

    def accepted(d: Decoded, i: int) -> bool:
        return d.parsed.valid and (last_prices is None or not contradicts(d, float(last_prices[i]), digits))

    torch.manual_seed(seed)
    model.eval()
    prompts = chat_prompts(tokenizer, records)
    started = time.perf_counter()
    grammar = AnswerGrammar(tokenizer, horizon, max_new_tokens) if constrained else None
    texts = decode_texts(
        model, tokenizer, prompts, batch_size, max_new_tokens, temperature, on_batch, engine, seed, grammar
    )
    results = [Decoded(t, parse_answer(t, horizon), 1) for t in texts]
    for attempt in range(2, retries + 2):
        failed = [i for i, r in enumerate(results) if not accepted(r, i)]
        if not failed:
            break
        again = decode_texts(
            model,
            tokenizer,
            [prompts[i] for i in failed],
            batch_size,
            max_new_tokens,
            retry_temperature,
            engine=engine,
            seed=seed + attempt,
            grammar=grammar,
        )
        for i, text in zip(failed, again, strict=False):
            retry = Decoded(text, parse_answer(text, horizon), attempt)
            if accepted(retry, i) or not results[i].parsed.valid:
                results[i] = retry
    results = [r if accepted(r, i) or not r.parsed.valid else _withheld(r) for i, r in enumerate(results)]
    withheld = sum(r.parsed.error_code == CONTRADICTS for r in results)
    LOG.info(
        "decoded %d prompts in %.1f s; after %d retries %d unparsable, %d withheld for contradicting their conclusion",
        len(records),
        time.perf_counter() - started,
        retries,
        sum(not r.parsed.valid for r in results) - withheld,
        withheld,
    )
    return results


def narratives_frame(records: Sequence[dict], decoded: Sequence[Decoded]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": [r["ticker"] for r in records],
            "split": [r["split"] for r in records],
            "window_end_date": pd.to_datetime([r["window_end_date"] for r in records]),
            "narrative": [d.text for d in decoded],
            "valid": [d.parsed.valid for d in decoded],
            "error": [d.parsed.error_code for d in decoded],
            "attempts": np.asarray([d.attempts for d in decoded], dtype=np.int32),
        }
    )[NARRATIVE_COLUMNS]


def load_reasoner_forecasts(ref: ArtifactRef) -> pd.DataFrame:
    """The predictions table (vta_core.evaluation.predictions layout) of a reasoner generation artifact."""
    return pd.read_parquet(require(ref).file("predictions.parquet"))


def load_reasoner_narratives(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("narratives.parquet"))
