"""Benchmark the reasoner stages end to end on one preset: stage times, test MSE, parse, grounding, decode speed.

Runs the real stage functions (data, annotation, prompts, analyst, then the reasoner's base,
stage 0, stage 1, stage 2, stage 3 and the generation after each stage) into an ArtifactStore
(a temporary folder unless --home is given; a rerun with the same --home reuses finished stages),
without Prefect, and prints a table: seconds per stage, standardised test MSE (per-ticker mean,
vta_core.evaluation.errors) on the windows whose output parsed, the persistence MSE on the same
windows, the parse-failure rate per split, the reasoning quality per stage and split (format validity,
numeric grounding, claim consistency, conclusion agreement), and decoding speed on the stage-3 checkpoint:
windows/s of transformers' `generate` as the stages decoded before (LoRA unmerged) against the fast engine
(merged), with how many texts are identical (benchmarks/bench_decode.py). `--home runs/artifacts` after a
`make run` of the same preset reuses every finished stage (its seconds are those the run recorded in the
stage's report) and only measures what is left.

    .venv/bin/python benchmarks/bench_reasoner.py [--preset smoke|cpu] [--home DIR] [--threads N]
                                                  [--decode-windows 512] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from bench_decode import markdown as decode_markdown
from bench_decode import time_decoding

from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config import load_config
from vta_core.data.windows import TARGET_COLUMN
from vta_core.evaluation import errors, paper_numbers, predictions, reasoning_quality
from vta_core.identities import REASONER_STAGE_MODELS
from vta_core.reasoner import corpus, generation, loading
from vta_core.reasoner.generation import load_reasoner_forecasts
from vta_core.reasoner.loading import Checkpoint
from vta_core.stages import annotation_stage, cleanse_stage, loaders, prompts_stage, reasoner_common, windows_stage
from vta_core.stages.analyst_stage import analyst_stage
from vta_core.stages.generation_stage import generation_stage
from vta_core.stages.grpo_stage import grpo_stage
from vta_core.stages.reasoner_base_stage import base_stage
from vta_core.stages.rejection_stage import rejection_stage
from vta_core.stages.warm_start_stage import warm_start_stage

LOG = logging.getLogger("bench_reasoner")


@dataclass
class StageTimes:
    """Seconds per stage label; `reused`: the labels found complete in --home (their seconds are the recorded ones)."""

    seconds: dict[str, float] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)


def recorded_seconds(ref: ArtifactRef) -> float:
    """The training or generation seconds the run that made an artifact wrote into its report (NaN: none)."""
    for name in ("training_report.json", "generation_report.json"):
        if ref.file(name).is_file():
            return float(json.loads(ref.file(name).read_text()).get("seconds", float("nan")))
    return float("nan")


def timed(label: str, times: StageTimes, fn, *args, **kwargs):
    """Run a stage and time it, unless its artifact is already complete in the store: stages do not check
    their own cache (the Prefect task layer does), so without this a rerun would recompute every stage."""
    if args and isinstance(args[-1], ArtifactStore):  # stages take their store as a keyword
        args, kwargs = args[:-1], {**kwargs, "store": args[-1]}
    done = fn.output(*args, **kwargs).ref
    if done.is_complete():
        times.seconds[label] = recorded_seconds(done)
        times.reused.add(label)
        LOG.info("%s: reused %s (recorded %.1f s)", label, done.path, times.seconds[label])
        return done
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    times.seconds[label] = time.perf_counter() - started
    LOG.info("%s: %.1f s", label, times.seconds[label])
    return out


def test_mse(preds: pd.DataFrame, scalers: pd.DataFrame) -> float:
    test = preds[preds["split"].astype(str) == "test"]
    if test.empty:
        return float("nan")
    per = errors.per_ticker_errors(test, scalers)
    return float(per["mse"].mean())


def markdown(frame: pd.DataFrame) -> str:
    """A Markdown table without the optional `tabulate` dependency."""
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decode-windows", type=int, default=512, help="test windows for the decode speed table")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    cfg = load_config(args.preset, overrides=args.overrides, environ={})
    home = args.home or Path(tempfile.mkdtemp(prefix="bench_reasoner_"))
    store, r = ArtifactStore(home), cfg.reasoner
    times = StageTimes()
    total = time.perf_counter()
    cleaned = timed(
        "data: cleanse",
        times,
        cleanse_stage.cleanse_stage,
        cfg.data.source,
        cfg.data.calendar,
        cleanse_stage.source_fingerprint(cfg.data.source),
        store,
    )
    windows = timed(
        "data: windows", times, windows_stage.windows_stage, cfg.data.window, cfg.data.split, cleaned, store
    )
    ann = timed("data: annotation", times, annotation_stage.annotation_stage, cfg.annotation, windows, store)
    prompts = timed("data: prompts", times, prompts_stage.prompts_stage, cfg.prompt, ann, windows, store)
    analyst = timed("data: analyst", times, analyst_stage, cfg.analyst, ann, prompts, windows, store)
    upstream = time.perf_counter() - total
    started = time.perf_counter()
    ident = reasoner_common.identity(r)
    base = timed(
        "base model", times, base_stage, ident, prompts if r.is_tiny else None, analyst if r.is_tiny else None, store
    )
    stage0 = (
        timed(
            "stage 0 (warm start SFT)",
            times,
            warm_start_stage,
            ident,
            r.warm_start,
            None if r.warm_start.full_finetune else r.lora,
            base,
            analyst,
            store,
        )
        if r.warm_start_on
        else None
    )
    stage1 = timed(
        "stage 1 (GRPO)",
        times,
        grpo_stage,
        "stage 1",
        ident,
        r.stage1,
        r.lora,
        r.reward,
        stage0 or base,
        prompts,
        store,
    )
    stage2 = timed("stage 2 (rejection + SFT)", times, rejection_stage, ident, r.rejection, stage1, prompts, store)
    stage3 = timed(
        "stage 3 (GRPO)", times, grpo_stage, "stage 3", ident, r.stage3, r.lora, r.reward, stage2, prompts, store
    )
    n_train = -1 if r.generation.train_windows is None else r.generation.train_windows
    gens = {}
    for name, ref, n in (
        ("stage 0", stage0, 0),
        ("stage 1", stage1, 0),
        ("stage 2", stage2, 0),
        ("stage 3", stage3, n_train),
    ):
        if ref is not None:
            gens[name] = timed(
                f"generate {name}",
                times,
                generation_stage,
                ident,
                r.generation.keyed_for(final=name == "stage 3"),
                REASONER_STAGE_MODELS[name.replace(" ", "")],  # the flow's model names: the same keys as its run
                n,
                ref,
                prompts,
                windows,
                ann,
                store,
            )
    reasoner_seconds = time.perf_counter() - started

    ws = loaders.load_windows(windows)
    scalers = ws.scalers
    test = ws.select("test")
    persistence = predictions.prediction_frame(
        test, np.repeat(test.inputs()[:, -1:, TARGET_COLUMN], ws.horizon, 1), "persistence"
    )
    rows = []
    for name, ref in gens.items():
        preds = load_reasoner_forecasts(ref)
        report = json.loads(ref.file("generation_report.json").read_text())["splits"]
        keys = preds[preds["split"].astype(str) == "test"][["ticker", "window_end_date"]].drop_duplicates()
        same = persistence.astype({"ticker": str}).merge(keys.astype({"ticker": str}), on=["ticker", "window_end_date"])
        rows.append(
            {
                "model": f"reasoner ({name})",
                "test MSE (parsed)": test_mse(preds, scalers),
                "persistence MSE (same windows)": test_mse(same, scalers),
                **{f"parse fail {s}": report[s]["parse_failure_rate"] for s in report},
                "test windows parsed": report["test"]["parsed"],
                "test windows": report["test"]["windows"],
            }
        )
    table = pd.DataFrame(rows)
    quality = reasoning_quality.quality_summary(
        pd.concat([pd.read_parquet(ref.file("quality.parquet")) for ref in gens.values()], ignore_index=True)
    )
    checkpoint = Checkpoint.read(stage3.path)
    records = corpus.prompt_records(prompts, "test")
    sample = np.sort(
        np.random.default_rng(cfg.seed).choice(len(records), min(args.decode_windows, len(records)), replace=False)
    )
    _, tokenizer = loading.load_checkpoint(checkpoint, r, trainable=False)
    speed = time_decoding(checkpoint, r, generation.chat_prompts(tokenizer, [records[i] for i in sample]))
    stage_table = pd.DataFrame(
        {
            "stage": list(times.seconds),
            "seconds": [round(v, 1) for v in times.seconds.values()],
            "source": [
                "recorded by the run that made it" if k in times.reused else "measured now" for k in times.seconds
            ],
        }
    )
    (home / "bench_reasoner.json").write_text(json.dumps({"times": times.seconds, "rows": rows}, indent=2, default=str))
    print(f"\npreset {args.preset}, threads {args.threads}, home {home}")
    print(markdown(stage_table))
    print(
        f"\nthis invocation: upstream data stages {upstream:.1f} s, reasoner stages (training + generation) "
        f"{reasoner_seconds:.1f} s; {len(times.reused)} stages reused from --home"
    )
    print(f"persistence test MSE (all test windows): {test_mse(persistence, scalers):.4f}")
    print(markdown(table))
    print("\nreasoning quality (pooled over the decoded windows of each split)")
    print(markdown(quality))
    print(f"\ndecoding speed, stage-3 checkpoint, greedy, {len(sample)} test windows")
    print(decode_markdown(speed))
    print("\npaper ablation (Qwen2.5-7B, test MSE): " + ", ".join(f"{m} {v}" for m, v in paper_numbers.ABLATION))


if __name__ == "__main__":
    main()
