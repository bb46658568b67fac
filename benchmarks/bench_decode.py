"""Benchmark reasoner decoding: windows/s of transformers' `generate` (before) against the fast path (after).

Decodes the same seeded sample of test-window prompts greedily with a reasoner checkpoint three ways:
`generate` on the model as the stages loaded it before (LoRA unmerged), `generate` on the merged model,
and the fast engine on the merged model; prints windows/s, speed-up and how many texts are identical
to the first way's. Without --checkpoint it builds the preset's data stages and base model in --home
(a temporary folder unless given; a rerun with the same --home reuses them) and times the untrained
model, which never emits EOS early: every window runs the full `max_new_tokens`, the worst case.

    .venv/bin/python benchmarks/bench_decode.py [--preset cpu] [--home DIR] [--checkpoint DIR]
                                                [--windows 512] [--threads 2] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vta_core.artifacts import ArtifactStore
from vta_core.config import load_config
from vta_core.config.reasoner_sections import ReasonerConfig
from vta_core.config.sections import VTAConfig
from vta_core.reasoner import corpus, generation, loading
from vta_core.reasoner.loading import Checkpoint
from vta_core.stages import annotation_stage, cleanse_stage, prompts_stage, reasoner_common, windows_stage
from vta_core.stages.analyst_stage import analyst_stage
from vta_core.stages.reasoner_base_stage import base_stage

LOG = logging.getLogger("bench_decode")


@dataclass(frozen=True)
class DecodeTiming:
    way: str
    windows: int
    seconds: float
    identical: int  # texts equal to the reference way's

    @property
    def per_second(self) -> float:
        return self.windows / self.seconds


def _decode(model, tokenizer, prompts: list[str], cfg: ReasonerConfig, engine: str) -> tuple[list[str], float]:
    g = cfg.generation
    started = time.perf_counter()
    texts = generation.decode_texts(
        model, tokenizer, prompts, g.batch_size, g.max_new_tokens, 0.0, engine=engine, seed=cfg.seed
    )
    return texts, time.perf_counter() - started


def time_decoding(checkpoint: Checkpoint, cfg: ReasonerConfig, prompts: list[str]) -> list[DecodeTiming]:
    """Before (generate, adapter unmerged, as the stages decoded until now) and after (fast, merged)."""
    unmerged, tokenizer = loading.load_checkpoint(checkpoint, cfg, trainable=False)
    unmerged.eval()
    reference, seconds = _decode(unmerged, tokenizer, prompts, cfg, "hf")
    rows = [DecodeTiming("generate, LoRA unmerged (before)", len(prompts), seconds, len(prompts))]
    merged, tokenizer = loading.load_for_decoding(checkpoint, cfg)
    for way, engine in (("generate, LoRA merged", "hf"), ("fast engine, LoRA merged (after)", "fast")):
        texts, seconds = _decode(merged, tokenizer, prompts, cfg, engine)
        same = sum(a == b for a, b in zip(texts, reference, strict=True))
        rows.append(DecodeTiming(way, len(prompts), seconds, same))
        LOG.info("%s: %.1f windows/s", way, len(prompts) / seconds)
    return rows


def markdown(rows: list[DecodeTiming]) -> str:
    base = rows[0].per_second
    lines = ["| way | windows | seconds | windows/s | speed-up | identical texts |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.way} | {r.windows} | {r.seconds:.1f} | {r.per_second:.1f} | {r.per_second / base:.2f}x "
            f"| {r.identical}/{r.windows} |"
        )
    return "\n".join(lines)


def _base_checkpoint(cfg: VTAConfig, store: ArtifactStore):
    cleaned = cleanse_stage.cleanse_stage(
        cfg.data.source, cfg.data.calendar, cleanse_stage.source_fingerprint(cfg.data.source), store=store
    )
    windows = windows_stage.windows_stage(cfg.data.window, cfg.data.split, cleaned, store=store)
    ann = annotation_stage.annotation_stage(cfg.annotation, windows, store=store)
    prompts = prompts_stage.prompts_stage(cfg.prompt, ann, windows, store=store)
    analyst = analyst_stage(cfg.analyst, ann, prompts, windows, store=store)
    r = cfg.reasoner
    base = base_stage(
        reasoner_common.identity(r), prompts if r.is_tiny else None, analyst if r.is_tiny else None, store=store
    )
    return Checkpoint.read(base.path), prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--checkpoint", type=Path, default=None, help="a stage artifact folder with model.json")
    parser.add_argument("--windows", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = load_config(args.preset, overrides=args.overrides, environ={})
    store = ArtifactStore(args.home or Path(tempfile.mkdtemp(prefix="bench_decode_")))
    checkpoint, prompts_ref = _base_checkpoint(cfg, store)
    if args.checkpoint is not None:
        checkpoint = Checkpoint.read(args.checkpoint)
    records = corpus.prompt_records(prompts_ref, "test")
    rows = np.sort(np.random.default_rng(cfg.seed).choice(len(records), min(args.windows, len(records)), replace=False))
    _, tokenizer = loading.load_checkpoint(checkpoint, cfg.reasoner, trainable=False)
    prompts = generation.chat_prompts(tokenizer, [records[i] for i in rows])
    timings = time_decoding(checkpoint, cfg.reasoner, prompts)
    g = cfg.reasoner.generation
    print(f"\npreset {args.preset}, threads {args.threads}, checkpoint {args.checkpoint or 'base (untrained)'}")
    print(f"greedy, batch_size {g.batch_size}, max_new_tokens {g.max_new_tokens}, {len(prompts)} test windows")
    print(markdown(timings))


if __name__ == "__main__":
    main()
