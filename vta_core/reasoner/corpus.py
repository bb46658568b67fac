"""Prompt records and warm-start narratives read from the prompts and analyst artifacts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from vta_core.artifacts import ArtifactRef, require

# Sentence ends inside the analyst's <think> block: a period followed by a space (numbers like 0.25
# never have a space after their dot).
_SENTENCE_END = re.compile(r"(?<=\.)\s+")
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def read_jsonl(path: Path) -> Iterator[dict]:
    with path.open() as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def prompt_records(prompts: ArtifactRef, split: str) -> list[dict]:
    return list(read_jsonl(require(prompts).file(f"records_{split}.jsonl")))


def analyst_records(analyst: ArtifactRef, split: str = "train") -> list[dict]:
    """The analyst's prompt + completion records (its narratives) of one split."""
    path = require(analyst).file(f"narratives_{split}.jsonl")
    if not path.is_file():
        raise FileNotFoundError(f"the analyst wrote no {split} narratives (analyst.narratives_for) at {path}")
    return list(read_jsonl(path))


def warm_start_completion(record: dict, style: str) -> str:
    """The analyst's narrative of a record in the chosen style ("quoted": `completion`, "qualitative")."""
    field = "completion" if style == "quoted" else style
    if field not in record:
        raise KeyError(
            f"analyst record {record.get('ticker')} {record.get('window_end_date')} has no {style!r} narrative "
            "(rebuild the analyst artifact)"
        )
    return record[field]


def compact_narrative(completion: str, keep: Sequence[int] | None) -> str:
    """The completion with only the chosen sentences of its <think> block (indices; negative from the end)."""
    if keep is None:
        return completion
    match = _THINK.search(completion)
    if match is None:
        return completion
    sentences = [s for s in _SENTENCE_END.split(match.group(1).strip()) if s]
    chosen = sorted({i % len(sentences) for i in keep if -len(sentences) <= i < len(sentences)})
    body = " ".join(sentences[i] for i in chosen)
    return completion[: match.start(1)] + body + completion[match.end(1) :]


def subsample(records: list[dict], limit: int | None, seed: int) -> list[dict]:
    """A seeded subsample that keeps the records' order (None or a large limit = all of them)."""
    if limit is None or len(records) <= limit:
        return records
    keep = np.sort(np.random.default_rng(seed).choice(len(records), size=limit, replace=False))
    return [records[i] for i in keep]


def tokenizer_corpus(records: Sequence[dict]) -> Iterator[str]:
    """Prompt messages and completions: what the tiny tokenizer must encode compactly."""
    for record in records:
        for message in record["prompt"]:
            yield message["content"]
        for style in ("completion", "qualitative"):
            if style in record:
                yield record[style]


def sft_rows(records: Sequence[dict], completions: Sequence[str]) -> dict[str, list]:
    """Conversational prompt/completion columns; SFTTrainer then puts the loss on the completion only."""
    return {
        "prompt": [r["prompt"] for r in records],
        "completion": [[{"role": "assistant", "content": c}] for c in completions],
    }


def grpo_rows(records: Sequence[dict]) -> dict[str, list]:
    """Conversational prompts plus the target, which TRL hands to the reward functions as `target=`."""
    return {"prompt": [r["prompt"] for r in records], "target": [r["target"] for r in records]}
