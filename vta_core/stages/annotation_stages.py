"""Annotation and prompt stages (paper tasks 4-5): statistics + indicators per window, then chat records."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from vta_core.annotation import indicators as ind
from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, require, stage_key, write_json, write_parquet
from vta_core.config.sections import AnnotationConfig, PromptConfig
from vta_core.data.schema import VALUE_COLUMNS
from vta_core.data.windows import WindowSet
from vta_core.prompts import records, template, text
from vta_core.stages.data_stages import load_windows

LOG = logging.getLogger(__name__)
ANNOTATE = StageSpec("annotation", "1", (ind,))
PROMPTS = StageSpec("prompts", "1", (records, template, text))
_COL = {name: VALUE_COLUMNS.index(name) for name in VALUE_COLUMNS}


def periods_for(annotation: AnnotationConfig, lookback: int) -> ind.IndicatorPeriods:
    """Paper rule in window mode (period = min(T - 5, default)); standard periods in history mode."""
    base = (
        ind.IndicatorPeriods.for_lookback(lookback) if annotation.mode == "window" else ind.IndicatorPeriods.standard()
    )
    fields = {k: v for k, v in annotation.period_overrides.items()}
    return ind.IndicatorPeriods(**{**base.__dict__, **fields, "bb_nbdev": annotation.bb_nbdev})


def _adjusted_hlc(panel: np.ndarray, price_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (rows,) close/high/low; with Adj Close, High and Low are adjusted by the same factor."""
    close = panel[:, _COL[price_column]]
    factor = close / panel[:, _COL["Close"]]
    return close, panel[:, _COL["High"]] * factor, panel[:, _COL["Low"]] * factor


def _series(ws: WindowSet, annotation: AnnotationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled (n, L) close/high/low matrices ending at each window's last day, and first_valid."""
    close, high, low = _adjusted_hlc(np.asarray(ws.panel), annotation.price_column)
    starts = ws.index["start"].to_numpy(np.int64)
    ends = starts + ws.lookback - 1
    if annotation.mode == "window":
        rows = starts[:, None] + np.arange(ws.lookback)[None, :]
        first_valid = np.zeros(len(ws), dtype=np.int64)
        mats = [close[rows], high[rows], low[rows]]
    else:
        ticker_first = ws.ticker_first_rows()
        mats, first_valid = [], None
        for column in (close, high, low):
            mat, first_valid = ind.gather_history(column, ends, ticker_first, annotation.history_length)
            mats.append(mat)
    mean, std = ws.price_scale()
    scaled = [(m - mean[:, None]) / std[:, None] for m in mats]
    return scaled[0], scaled[1], scaled[2], first_valid


def annotate_windows(ws: WindowSet, annotation: AnnotationConfig) -> tuple[pd.DataFrame, ind.IndicatorPeriods]:
    """Statistics and indicators of every window of `ws` (also used by `vta predict` on new data)."""
    periods = periods_for(annotation, ws.lookback)
    close, high, low, first_valid = _series(ws, annotation)
    values = ind.compute_indicators(close, high, low, first_valid, periods)
    shown = close[:, -ws.lookback :]  # statistics describe the series the prompt shows: the window itself
    stats = ind.window_statistics(shown)
    frame = pd.DataFrame(
        {
            "window": np.arange(len(ws), dtype=np.int64),
            "fold": ws.index["fold"].to_numpy(),
            "ticker": ws.index["ticker"],
            "split": ws.index["split"],
            "window_end_date": ws.index["end_date"],
            **{name: stats[name] for name in records.STAT_COLUMNS},
            **{name: values[name] for name in ind.INDICATORS},
        }
    )
    return frame, periods


def annotation_stage(annotation: AnnotationConfig, windows: ArtifactRef, store: ArtifactStore) -> ArtifactRef:
    key = stage_key(ANNOTATE, {"annotation": annotation, "windows": windows})
    frame, periods = annotate_windows(load_windows(windows), annotation)
    with store.writing(ANNOTATE, key) as out:
        write_parquet(out / "annotations.parquet", frame)
        write_json(
            out / "periods.json",
            {"mode": annotation.mode, "price_column": annotation.price_column, "labels": periods.labels()},
        )
    LOG.info("annotated %d windows (%s mode)", len(frame), annotation.mode)
    return store.ref(ANNOTATE, key)


def prompts_stage(
    prompt: PromptConfig, annotations: ArtifactRef, windows: ArtifactRef, store: ArtifactStore
) -> ArtifactRef:
    key = stage_key(PROMPTS, {"prompt": prompt, "annotations": annotations, "windows": windows})
    ws = load_windows(windows)
    table = pd.read_parquet(require(annotations).file("annotations.parquet"))
    meta = json.loads(annotations.file("periods.json").read_text())
    parts = records.PromptParts(prompt.system_template, prompt.user_template, prompt.significant_digits, meta["labels"])
    price_column = meta["price_column"]
    shown = ws.inputs()[:, :, _COL[price_column]]
    counter = records.TokenCounter(prompt.tokenizer)
    lengths, over = [], []
    with store.writing(PROMPTS, key) as out:
        handles = {s: (out / f"records_{s}.jsonl").open("w") for s in ("train", "val", "test")}
        try:
            for record in records.chat_records(shown, ws.targets(), table, parts, ind.INDICATORS):
                n_tokens = counter.count_record(record)
                lengths.append(n_tokens)
                if n_tokens > prompt.max_prompt_tokens:
                    over.append(
                        {"ticker": record["ticker"], "window_end_date": record["window_end_date"], "tokens": n_tokens}
                    )
                handles[record["split"]].write(json.dumps(record) + "\n")
        finally:
            for handle in handles.values():
                handle.close()
        lengths_arr = np.asarray(lengths)
        report = {
            "records": len(lengths),
            "exact_token_counts": counter.exact,
            "significant_digits": prompt.significant_digits,
            "tokens_mean": float(lengths_arr.mean()) if len(lengths) else 0.0,
            "tokens_p95": float(np.percentile(lengths_arr, 95)) if len(lengths) else 0.0,
            "tokens_max": int(lengths_arr.max()) if len(lengths) else 0,
            "max_prompt_tokens": prompt.max_prompt_tokens,
            "over_long": len(over),
        }
        write_json(out / "prompt_report.json", report)
        write_parquet(out / "over_long.parquet", pd.DataFrame(over, columns=["ticker", "window_end_date", "tokens"]))
    if over:
        LOG.warning(
            "%d prompts exceed %d tokens (longest %d)", len(over), prompt.max_prompt_tokens, report["tokens_max"]
        )
    return store.ref(PROMPTS, key)
