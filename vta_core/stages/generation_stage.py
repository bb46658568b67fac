"""Reasoner generation stage: decode every val and test window (and some train windows) with one checkpoint;
predictions of the parsable outputs, narratives, reasoning quality and parse-failure rates."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.config.reasoner_sections import GenerationConfig, ReasonerConfig
from vta_core.data.windows import TARGET_COLUMN, WindowSet
from vta_core.evaluation import predictions, reasoning_quality
from vta_core.identities import StageName
from vta_core.progress import PercentHook, Steps
from vta_core.prompts.parser import CONTRADICTS
from vta_core.prompts.text import INDICATOR_LABELS
from vta_core.reasoner import corpus, generation, loading
from vta_core.reasoner.loading import Checkpoint
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows
from vta_core.stages.reasoner_common import EVALUATED

LOG = logging.getLogger(__name__)


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
        rows.append(s.row(name, split))
    return rows


@dataclass(frozen=True)
class _SplitPlan:
    """The windows of one split to decode: prompt records and windows, aligned, and their rows in the split."""

    split: str
    records: list[dict]
    ws: WindowSet
    rows: np.ndarray
    total: int  # windows in the split


def _plan(split: str, prompts: ArtifactRef, ws_all: WindowSet, limit: int, seed: int) -> _SplitPlan:
    """Every window of the split, or a seeded sample of `limit` of them (limit <= 0: all)."""
    records, ws = corpus.prompt_records(prompts, split), ws_all.select(split)
    _check_aligned(records, ws)
    rows = np.arange(len(records))
    if 0 < limit < len(records):
        rows = np.sort(np.random.default_rng(seed).choice(len(records), limit, replace=False))
    return _SplitPlan(split, [records[i] for i in rows], _subset(ws, rows), rows, len(records))


@stage(StageName.REASONER_GENERATION, unkeyed=("progress",))
def generation_stage(
    reasoner: ReasonerConfig,
    decoding: GenerationConfig,
    model_name: str,
    train_windows: int,
    model: ArtifactRef,
    prompts: ArtifactRef,
    windows: ArtifactRef,
    annotations: ArtifactRef,
    out: StageOutput,
    progress: PercentHook | None = None,
) -> ArtifactRef:
    """Decode every val and test window (and a seeded subset of `train_windows` train windows; -1 = all),
    write predictions (parsable windows only), narratives, reasoning quality and parse-failure rates.
    `progress(percent)`: windows decoded (first attempts) out of all the windows to decode."""
    started = time.perf_counter()
    ws_all = load_windows(windows)
    table = pd.read_parquet(require(annotations).file("annotations.parquet"))
    digits = int(pd.read_json(require(prompts).file("prompt_report.json"), typ="series").get("significant_digits", 4))
    net, tokenizer = loading.load_for_decoding(Checkpoint.read(require(model).path), reasoner)
    splits = (("train",) if train_windows != 0 else ()) + EVALUATED
    frames, narratives, quality = [], [], []
    report: dict[str, dict[str, Any]] = {}
    limits = {"train": train_windows} | {split: decoding.eval_windows or -1 for split in EVALUATED}
    plans = [_plan(split, prompts, ws_all, limits[split], reasoner.seed) for split in splits]
    steps = Steps(progress, sum(len(plan.records) for plan in plans))
    steps.start()
    for plan in plans:
        split, records, ws, rows = plan.split, plan.records, plan.ws, plan.rows
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
            on_batch=steps.advance,
            engine=decoding.engine,
            constrained=decoding.answer_grammar,
            last_prices=ws.inputs()[:, -1, TARGET_COLUMN] if decoding.retry_contradicting else None,
            digits=digits,
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
        withheld = int((errors == CONTRADICTS).sum())
        parsed = int(valid.sum()) + withheld  # a withheld answer parsed: its forecast contradicts its conclusion
        report[split] = {
            "windows": len(decoded),
            "windows_in_split": plan.total,
            "parsed": parsed,
            "parse_failure_rate": float(1.0 - parsed / len(decoded)) if len(decoded) else math.nan,
            "withheld": withheld,
            "forecasts": int(valid.sum()),
            "retried": int(sum(d.attempts > 1 for d in decoded)),
            "errors": {str(k): int(v) for k, v in errors.value_counts().items()},
            "in_sample": split == "train",
        }
    steps.finish()
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in predictions.PREDICTION_COLUMNS})
    with out.writing() as folder:
        write_parquet(folder / "predictions.parquet", pd.concat(frames, ignore_index=True) if frames else empty)
        write_parquet(folder / "narratives.parquet", pd.concat(narratives, ignore_index=True))
        write_parquet(folder / "quality.parquet", pd.DataFrame(quality, columns=reasoning_quality.QUALITY_COLUMNS))
        write_json(
            folder / "generation_report.json",
            {
                "model": model_name,
                "splits": report,
                "seconds": round(time.perf_counter() - started, 2),
                "note": "train-split forecasts are in-sample: the reasoner was trained on these windows",
            },
        )
    LOG.info("%s: parse-failure rate %s", model_name, {s: round(r["parse_failure_rate"], 4) for s, r in report.items()})
    return out.ref
