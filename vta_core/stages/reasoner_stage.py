"""Reasoner stages (SPEC section 5): base model, stage 0 warm start, stage 1 GRPO, stage 2 rejection
sampling + SFT, stage 3 GRPO, and generation for evaluation and fusion.

Each stage's key is its own config subsection, the model identity (`identity()`), the upstream
checkpoint's key and the prompt data keys, so changing stage-3 settings re-runs only stage 3 and
what decodes it. Every training stage writes `model.json` (base + adapter) beside its weights.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from datasets import Dataset

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, require, stage_key, write_json, write_parquet
from vta_core.config.sections import (
    GenerationConfig,
    GRPOStageConfig,
    LoRAConfig,
    ReasonerConfig,
    RejectionConfig,
    RewardConfig,
    SFTStageConfig,
)
from vta_core.data.windows import TARGET_COLUMN, WindowSet
from vta_core.evaluation import predictions, reasoning_quality
from vta_core.prompts.text import INDICATOR_LABELS
from vta_core.reasoner import corpus, generation, loading, rejection, rewards, tiny_model, training, trl_configs
from vta_core.reasoner.loading import Checkpoint
from vta_core.stages.data_stages import load_windows

LOG = logging.getLogger(__name__)
BASE = StageSpec("reasoner_base", "1", (tiny_model, loading))
WARM_START = StageSpec("reasoner_stage0", "1", (training, trl_configs, corpus))
GRPO = StageSpec("reasoner_grpo", "1", (training, trl_configs, rewards, corpus))
REJECTION = StageSpec("reasoner_stage2", "1", (training, trl_configs, rejection, generation, corpus))
GENERATION = StageSpec("reasoner_generation", "2", (generation, reasoning_quality))
EVALUATED = ("val", "test")


def identity(cfg: ReasonerConfig) -> ReasonerConfig:
    """Only what every stage reads (model id, dtype, device, seed, tiny sizes); the stage subsections are
    reset to defaults so they never enter another stage's key."""
    defaults = ReasonerConfig()
    return cfg.model_copy(
        update={
            name: getattr(defaults, name)
            for name in ("lora", "reward", "warm_start", "stage1", "rejection", "stage3", "generation")
        }
    )


def _work_dir(store: ArtifactStore, spec: StageSpec, key: str) -> Path:
    """Trainer checkpoints live outside the atomic artifact folder so a killed stage can resume."""
    return store.root / "_work" / spec.name / key


def _seed(cfg: ReasonerConfig) -> None:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)


def _finish(log: training.ProgressLog, out: Path, started: float, extra: dict) -> None:
    write_parquet(out / "progress.parquet", pd.DataFrame(log.rows))
    write_json(
        out / "training_report.json",
        {"seconds": round(time.perf_counter() - started, 2), "steps": log.rows[-1]["step"] if log.rows else 0, **extra},
    )


def base_stage(
    reasoner: ReasonerConfig, prompts: ArtifactRef | None, analyst: ArtifactRef | None, store: ArtifactStore
) -> ArtifactRef:
    """The tiny model built from the corpus, or a pointer to the configured HF model (nothing copied)."""
    key = stage_key(BASE, {"reasoner": reasoner, "prompts": prompts, "analyst": analyst})
    final = store.ref(BASE, key).path
    with store.writing(BASE, key) as out:
        if reasoner.is_tiny:
            if prompts is None or analyst is None:
                raise ValueError("the tiny-local reasoner needs the prompts and analyst artifacts for its corpus")
            records = corpus.subsample(
                corpus.analyst_records(analyst, "train"), reasoner.tiny.corpus_records, reasoner.seed
            )
            tiny_model.build_tiny_model(corpus.tokenizer_corpus(records), reasoner.tiny, out / "model", reasoner.seed)
            Checkpoint(base=str(final / "model"), adapter=None).write(out)
        else:
            Checkpoint(base=reasoner.model, adapter=None).write(out)
    return store.ref(BASE, key)


def warm_start_stage(
    reasoner: ReasonerConfig,
    warm_start: SFTStageConfig,
    lora: LoRAConfig,
    base: ArtifactRef,
    analyst: ArtifactRef,
    store: ArtifactStore,
    progress: training.Progress | None = None,
) -> ArtifactRef:
    """Stage 0: SFT on the rule-based analyst's narratives; writes a full model (LoRA merged if used)."""
    key = stage_key(
        WARM_START,
        {
            "reasoner": reasoner,
            "warm_start": warm_start,
            "lora": lora if not warm_start.full_finetune else None,
            "base": base,
            "analyst": analyst,
        },
    )
    started, final = time.perf_counter(), store.ref(WARM_START, key).path
    _seed(reasoner)
    records = corpus.subsample(corpus.analyst_records(analyst, "train"), warm_start.max_records, reasoner.seed)
    completions = [corpus.compact_narrative(r["completion"], warm_start.think_sentences) for r in records]
    model, tokenizer = loading.load_checkpoint(
        Checkpoint.read(require(base).path),
        reasoner,
        trainable=True,
        new_lora=None if warm_start.full_finetune else lora,
    )
    work = _work_dir(store, WARM_START, key)
    log = training.ProgressLog("stage 0", progress)
    model = training.run_sft(
        model,
        tokenizer,
        Dataset.from_dict(corpus.sft_rows(records, completions)),
        trl_configs.sft_config(warm_start, reasoner, work),
        log,
    )
    if not warm_start.full_finetune:
        model = model.merge_and_unload()  # later stages put their own LoRA on this full model
    with store.writing(WARM_START, key) as out:
        model.save_pretrained(out / "model")
        tokenizer.save_pretrained(out / "model")
        Checkpoint(base=str(final / "model"), adapter=None).write(out)
        _finish(log, out, started, {"records": len(records)})
    shutil.rmtree(work, ignore_errors=True)
    return store.ref(WARM_START, key)


def grpo_stage(
    name: str,
    reasoner: ReasonerConfig,
    grpo: GRPOStageConfig,
    lora: LoRAConfig,
    reward: RewardConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    store: ArtifactStore,
    progress: training.Progress | None = None,
) -> ArtifactRef:
    """Time-GRPO (stages 1 and 3): a new LoRA adapter on a full model, or the upstream adapter continued."""
    key = stage_key(
        GRPO,
        {
            "name": name,
            "reasoner": reasoner,
            "grpo": grpo,
            "lora": lora,
            "reward": reward,
            "init": init,
            "prompts": prompts,
        },
    )
    started, final = time.perf_counter(), store.ref(GRPO, key).path
    _seed(reasoner)
    offset = 1 if name == "stage 1" else 3  # different prompt subsamples for the two GRPO stages
    records = corpus.subsample(corpus.prompt_records(prompts, "train"), grpo.max_records, reasoner.seed + offset)
    start = Checkpoint.read(require(init).path)
    model, tokenizer = loading.load_checkpoint(start, reasoner, trainable=True, new_lora=lora)
    work = _work_dir(store, GRPO, key)
    log = training.ProgressLog(name, progress, reward.mse_scale, reward.mse_lambda, reward.mse_eps)
    model = training.run_grpo(
        model,
        tokenizer,
        Dataset.from_dict(corpus.grpo_rows(records)),
        rewards.reward_functions(reward),
        trl_configs.grpo_config(grpo, reasoner, work),
        log,
    )
    with store.writing(GRPO, key) as out:
        model.save_pretrained(out / "adapter")
        Checkpoint(base=start.base, adapter=str(final / "adapter")).write(out)
        _finish(log, out, started, {"stage": name, "records": len(records)})
    shutil.rmtree(work, ignore_errors=True)
    return store.ref(GRPO, key)


def rejection_stage(
    reasoner: ReasonerConfig,
    rejection_cfg: RejectionConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    store: ArtifactStore,
    progress: training.Progress | None = None,
) -> ArtifactRef:
    """Stage 2: decode the stage-1 model on training windows, keep the best fraction per (ticker, period)
    bucket, SFT the stage-1 adapter on those completions (loss on the completion only)."""
    key = stage_key(REJECTION, {"reasoner": reasoner, "rejection": rejection_cfg, "init": init, "prompts": prompts})
    started, final = time.perf_counter(), store.ref(REJECTION, key).path
    _seed(reasoner)
    records = corpus.subsample(corpus.prompt_records(prompts, "train"), rejection_cfg.max_windows, reasoner.seed + 2)
    start = Checkpoint.read(require(init).path)
    model, tokenizer = loading.load_checkpoint(start, reasoner, trainable=True)
    model.to(loading.torch_device(reasoner.device))
    horizon = len(records[0]["target"]) if records else 0
    decoded = generation.generate(
        model,
        tokenizer,
        records,
        horizon,
        rejection_cfg.batch_size,
        rejection_cfg.max_new_tokens,
        rejection_cfg.temperature,
        1.0,
        0,
        reasoner.seed,
    )
    mses = [rewards.forecast_mse(d.text, r["target"]) for d, r in zip(decoded, records, strict=False)]
    frame = pd.DataFrame(
        {
            "ticker": [r["ticker"] for r in records],
            "window_end_date": [r["window_end_date"] for r in records],
            "mse": [np.nan if m is None else m for m in mses],
        }
    )
    kept = rejection.select_best(frame, rejection_cfg.keep_fraction, rejection_cfg.period)
    chosen = kept.index.to_numpy()
    work = _work_dir(store, REJECTION, key)
    log = training.ProgressLog("stage 2", progress)
    if kept.empty:
        # Nothing parsable to imitate (an under-trained tiny model): keep the stage-1 adapter as it is rather
        # than fail the whole flow; the report says the SFT was skipped.
        LOG.warning("stage 2: no parsable completion among %d decoded training windows; SFT skipped", len(records))
    else:
        rows = corpus.sft_rows([records[i] for i in chosen], [decoded[i].text for i in chosen])
        model = training.run_sft(
            model, tokenizer, Dataset.from_dict(rows), trl_configs.sft_config(rejection_cfg.sft, reasoner, work), log
        )
    with store.writing(REJECTION, key) as out:
        model.save_pretrained(out / "adapter")
        Checkpoint(base=start.base, adapter=str(final / "adapter")).write(out)
        write_parquet(out / "selection.parquet", frame.assign(kept=frame.index.isin(chosen)))
        _finish(
            log,
            out,
            started,
            {
                "decoded": len(records),
                "parsable": int(frame["mse"].notna().sum()),
                "kept": len(chosen),
                "sft_skipped": bool(kept.empty),
                "kept_mean_mse": float(kept["mse"].mean()) if len(kept) else None,
                "decoded_mean_mse": float(frame["mse"].mean()),
            },
        )
    shutil.rmtree(work, ignore_errors=True)
    return store.ref(REJECTION, key)


def _subset(ws: WindowSet, rows: np.ndarray) -> WindowSet:
    return WindowSet(
        ws.panel, ws.dates, ws.index.iloc[rows].reset_index(drop=True), ws.scalers, ws.lookback, ws.horizon
    )


def _check_aligned(records: list[dict], ws: WindowSet) -> None:
    """Prompt records are written in window order per split; a mismatch would misalign forecasts."""
    ends = pd.to_datetime(ws.index["end_date"]).dt.strftime("%Y-%m-%d").to_numpy()
    tickers = ws.index["ticker"].astype(str).to_numpy()
    if len(records) != len(ws) or any(
        r["ticker"] != t or r["window_end_date"] != e for r, t, e in zip(records, tickers, ends, strict=False)
    ):
        raise ValueError("prompt records and windows are not aligned (rebuild the prompts artifact)")


def _quality(
    name: str, split: str, decoded: list, records: list[dict], ws: WindowSet, table: pd.DataFrame, digits: int
) -> list[tuple]:
    names = [n for n in INDICATOR_LABELS if n in table.columns]
    values, last = table[names].to_numpy(float), ws.inputs()[:, -1, TARGET_COLUMN]
    rows = []
    for i, (d, r) in enumerate(zip(decoded, records, strict=False)):
        prompt = "\n".join(m["content"] for m in r["prompt"])
        indicators = dict(zip(names, values[i], strict=True))
        s = reasoning_quality.score_narrative(d.text, prompt, indicators, last[i], ws.horizon, digits)
        rows.append((name, split, s.valid, s.numbers_quoted, s.numbers_grounded, s.claims_checked, s.claims_consistent))
    return rows


def generation_stage(
    reasoner: ReasonerConfig,
    decoding: GenerationConfig,
    model_name: str,
    train_windows: int,
    model: ArtifactRef,
    prompts: ArtifactRef,
    windows: ArtifactRef,
    annotations: ArtifactRef,
    store: ArtifactStore,
) -> ArtifactRef:
    """Decode every val and test window (and a seeded subset of `train_windows` train windows; -1 = all),
    write predictions (parsable windows only), narratives, reasoning quality and parse-failure rates."""
    key = stage_key(
        GENERATION,
        {
            "reasoner": reasoner,
            "decoding": decoding,
            "model_name": model_name,
            "train_windows": train_windows,
            "model": model,
            "prompts": prompts,
            "windows": windows,
            "annotations": annotations,
        },
    )
    started = time.perf_counter()
    ws_all = load_windows(windows)
    table = pd.read_parquet(require(annotations).file("annotations.parquet"))
    digits = int(pd.read_json(require(prompts).file("prompt_report.json"), typ="series").get("significant_digits", 4))
    net, tokenizer = loading.load_checkpoint(Checkpoint.read(require(model).path), reasoner, trainable=False)
    net.to(loading.torch_device(reasoner.device))
    splits = (("train",) if train_windows != 0 else ()) + EVALUATED
    frames, narratives, quality, report = [], [], [], {}
    for split in splits:
        records, ws = corpus.prompt_records(prompts, split), ws_all.select(split)
        _check_aligned(records, ws)
        rows = np.arange(len(records))
        total = len(records)
        limit = train_windows if split == "train" else (decoding.eval_windows or -1)
        if 0 < limit < len(records):
            rows = np.sort(np.random.default_rng(reasoner.seed).choice(len(records), limit, replace=False))
        records, ws = [records[i] for i in rows], _subset(ws, rows)
        decoded = generation.generate(
            net,
            tokenizer,
            records,
            ws.horizon,
            decoding.batch_size,
            decoding.max_new_tokens,
            decoding.temperature,
            decoding.retry_temperature,
            decoding.retries,
            reasoner.seed,
        )
        valid = np.array([d.parsed.valid for d in decoded], dtype=bool)
        if valid.any():
            y_hat = np.array([d.parsed.forecast for d, ok in zip(decoded, valid, strict=False) if ok], dtype=float)
            frames.append(predictions.prediction_frame(_subset(ws, np.flatnonzero(valid)), y_hat, model_name))
        narratives.append(generation.narratives_frame(records, decoded))
        if split in EVALUATED:
            split_table = table[table["split"].astype(str) == split].iloc[rows].reset_index(drop=True)
            quality.extend(_quality(model_name, split, decoded, records, ws, split_table, digits))
        errors = pd.Series([d.parsed.error_code for d in decoded if not d.parsed.valid], dtype=object)
        report[split] = {
            "windows": len(decoded),
            "windows_in_split": total,
            "parsed": int(valid.sum()),
            "parse_failure_rate": float(1.0 - valid.mean()) if len(valid) else math.nan,
            "retried": int(sum(d.attempts > 1 for d in decoded)),
            "errors": {str(k): int(v) for k, v in errors.value_counts().items()},
            "in_sample": split == "train",
        }
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in predictions.PREDICTION_COLUMNS})
    with store.writing(GENERATION, key) as out:
        write_parquet(out / "predictions.parquet", pd.concat(frames, ignore_index=True) if frames else empty)
        write_parquet(out / "narratives.parquet", pd.concat(narratives, ignore_index=True))
        write_parquet(out / "quality.parquet", pd.DataFrame(quality, columns=reasoning_quality.QUALITY_COLUMNS))
        write_json(
            out / "generation_report.json",
            {
                "model": model_name,
                "splits": report,
                "seconds": round(time.perf_counter() - started, 2),
                "note": "train-split forecasts are in-sample: the reasoner was trained on these windows",
            },
        )
    LOG.info("%s: parse-failure rate %s", model_name, {s: round(r["parse_failure_rate"], 4) for s, r in report.items()})
    return store.ref(GENERATION, key)
