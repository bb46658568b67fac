"""Benchmark the training steps the cpu preset spends its time in, before and after three speed fixes.

1. Stage-0 SFT step of the tiny reasoner (cpu preset's model size, 16 records of 637 tokens, the last 160 labelled,
   through TRL's fused LM head, AdamW): TRL's CPU defaults (every position scored, activation checkpointing)
   against `training.labelled_positions_only` and `reasoner.gradient_checkpointing: null` (off for the tiny model).
2. CALF-like backbone training step (cpu preset's backbone, 6 channels, batch 256): prototype keys and values
   projected for every window (nn.MultiheadAttention on expanded keys, as before) against once per batch.
3. Six fusion epochs (cpu preset's psi on the CALF backbone, 30,000 windows, batch 256) with the frozen backbone
   run in every batch against its view computed once (`fusion.training.backbone_views`).

Synthetic inputs of the run's shapes, so it needs no data or artifacts:

    .venv/bin/python benchmarks/bench_training_steps.py [--threads 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vta_core.config import load_config
from vta_core.config.model_sections import TrainingConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.fusion.model import FusionModel
from vta_core.fusion.training import FusionArrays, fit_fusion
from vta_core.models import base, trainer
from vta_core.reasoner import loading, tiny_model, training


def seconds_per_call(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def _sft_step(path: Path, reasoner, compact: bool, recompute: bool, repeats: int) -> float:
    from trl.trainer import utils as trl_utils

    model, _ = loading.load_checkpoint(loading.Checkpoint(str(path), None), reasoner, trainable=True)
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    if recompute:
        model.gradient_checkpointing_enable()
    model.train()
    ids = torch.randint(0, model.config.vocab_size, (16, 637), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :477] = -100  # the prompt: only the last 160 tokens (the completion) carry a label
    optimiser = torch.optim.AdamW(model.parameters(), 1e-3)

    def step() -> None:
        optimiser.zero_grad()
        model(input_ids=ids, labels=labels, fused_lm_head=True).loss.backward()
        optimiser.step()

    with training.labelled_positions_only() if compact else contextlib.nullcontext():
        return seconds_per_call(step, repeats)


def sft_step_seconds(repeats: int) -> list[tuple[str, float]]:
    reasoner = load_config("cpu", environ={}).reasoner
    words = "price close above below band RSI MACD ADX trend 0 1 2 3 4 5 6 7 8 9 . - ,".split()
    texts = [" ".join(words[i % 7 :] * 20) for i in range(50)]
    with tempfile.TemporaryDirectory() as folder:
        path = tiny_model.build_tiny_model(texts, reasoner.tiny, Path(folder) / "model", seed=0)
        return [
            (label, _sft_step(path, reasoner, compact, recompute, repeats))
            for label, compact, recompute in (
                ("TRL CPU defaults: every position scored, activation checkpointing (before)", False, True),
                ("labelled positions only, activation checkpointing", True, True),
                ("labelled positions only, no activation checkpointing (after)", True, False),
            )
        ]


def _calf():
    backbone = load_config("cpu", environ={}).backbone
    trainer.seed_everything(0)
    net = base.build("calf", backbone, base.DataShape(10, 10, 6, TARGET_COLUMN), n_prototypes=128, prototype_dim=384)
    net.set_prototypes(torch.randn(128, 384))
    return net


def _expanded_attention(net):
    def attend(tokens: torch.Tensor) -> torch.Tensor:
        keys = net.prototype_projection(net.prototypes).unsqueeze(0).expand(tokens.shape[0], -1, -1)
        return net.cross_attention(tokens, keys, keys, need_weights=False)[0]

    return attend


def calf_step_seconds(repeats: int) -> list[tuple[str, float]]:
    rows = []
    for label, expanded in (("keys/values projected per window (before)", True), ("once per batch (after)", False)):
        net = _calf().train()
        if expanded:
            net._attend_to_prototypes = _expanded_attention(net)  # type: ignore[method-assign]
        optimiser = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], 1e-3)
        x, y = torch.randn(256, 10, 6), torch.randn(256, 10)

        def step(net=net, optimiser=optimiser, x=x, y=y) -> None:
            optimiser.zero_grad()
            net.loss(x, y).backward()
            optimiser.step()

        rows.append((label, seconds_per_call(step, repeats)))
    return rows


def fusion_training_seconds() -> list[tuple[str, float]]:
    rng = np.random.default_rng(0)
    net = _calf().eval()

    def arrays(n: int) -> FusionArrays:
        x = rng.normal(size=(n, 10, 6)).astype(np.float32)
        c = rng.normal(size=(n, 3))
        tickers = np.arange(n) % 88
        return FusionArrays(x, rng.normal(size=(n, 10)), c, np.ones(n, dtype=bool), trainer.predict(net, x), tickers)

    train, val = arrays(30_000), arrays(10_000)
    fusion = load_config("cpu", environ={}).fusion.training
    config = fusion.model_copy(update={"train": TrainingConfig(epochs=6, patience=6, batch_size=256)})
    rows = []
    ways = (("backbone run in every batch (before)", False), ("backbone view computed once (after)", True))
    for label, reuse in ways:
        psi = FusionModel(_calf(), len(fusion.attributes), fusion.hidden, finetune_backbone=False)
        started = time.perf_counter()
        fit_fusion(psi, train, val, config, seed=0, reuse_views=reuse)
        rows.append((label, time.perf_counter() - started))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = (
        ("stage-0 SFT step, 16 x 637 tokens", sft_step_seconds(args.repeats)),
        ("CALF training step, batch 256", calf_step_seconds(args.repeats)),
        ("fusion: 6 epochs on 30,000 windows, 7 validation passes on 10,000", fusion_training_seconds()),
    )
    lines = ["| what | way | seconds | speed-up |", "|---|---|---:|---:|"]
    for what, rows in sections:
        before = rows[0][1]
        lines += [f"| {what} | {way} | {seconds:.3f} | {before / seconds:.2f}x |" for way, seconds in rows]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
