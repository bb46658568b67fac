"""Flat summary tables of stage artifacts, for the UI (the task wrappers publish them as table artifacts).

Each function reads files a stage already wrote and returns one DataFrame; nothing here is part of a
stage (no stage imports this module), so no cache key depends on it.

- `cleansing_summary`: dropped rows per cleansing rule;
- `training_summary`: best epoch and validation MSE per learned model, seed and fold;
- `fusion_training_summary`: the same for psi, per reasoning source, seed and fold;
- `guidance_sensitivity`: MSE and MAE per guidance scale and split, per source and seed;
- `generation_summary`: windows decoded, parsed and retried per reasoner checkpoint and split.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from vta_core.artifacts import ArtifactRef, require

CLEANSING_COLUMNS = ["rule", "rows", "tickers", "first_date", "last_date"]
TRAINING_COLUMNS = [
    "model",
    "seed",
    "fold",
    "train_windows",
    "parameters",
    "epochs_run",
    "best_epoch",
    "best_val_mse",
    "seconds",
    "device",
]
FUSION_TRAINING_COLUMNS = [
    "source",
    "reasoning_model",
    "seed",
    "fold",
    "train_windows",
    "train_conditioned",
    "val_windows",
    "val_conditioned",
    "epochs_run",
    "best_epoch",
    "best_val_guided_mse",
    "val_mse_backbone",
    "seconds",
]
SENSITIVITY_COLUMNS = ["source", "seed", "guidance_scale", "split", "mse", "mae"]
GENERATION_COLUMNS = [
    "model",
    "split",
    "windows",
    "windows_in_split",
    "parsed",
    "parse_failure_rate",
    "withheld",
    "retried",
    "in_sample",
]


def _json(ref: ArtifactRef, name: str) -> Any:
    return json.loads(require(ref).file(name).read_text())


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def cleansing_summary(audit: pd.DataFrame) -> pd.DataFrame:
    """One row per cleansing rule: rows dropped, tickers affected and the dates they span."""
    if audit.empty:
        return _frame([], CLEANSING_COLUMNS)
    dates = pd.to_datetime(audit["date"], errors="coerce")
    grouped = audit.assign(date=dates).groupby("rule", sort=True)
    table = pd.DataFrame(
        {
            "rows": grouped.size(),
            "tickers": grouped["ticker"].nunique(),
            "first_date": grouped["date"].min().dt.strftime("%Y-%m-%d"),
            "last_date": grouped["date"].max().dt.strftime("%Y-%m-%d"),
        }
    )
    return table.reset_index()[CLEANSING_COLUMNS]


def training_summary(refs: Sequence[ArtifactRef]) -> pd.DataFrame:
    """One row per (model, seed, fold) of timeseries-model artifacts (their training_log.json)."""
    rows = []
    for ref in refs:
        log = _json(ref, "training_log.json")
        for fold in log["folds"]:
            rows.append(
                {
                    "model": log["model"],
                    "seed": log["seed"],
                    "epochs_run": len(fold.get("history", [])),
                    **{c: fold.get(c) for c in TRAINING_COLUMNS if c not in ("model", "seed", "epochs_run")},
                }
            )
    return _frame(rows, TRAINING_COLUMNS)


def fusion_training_summary(refs: Sequence[ArtifactRef]) -> pd.DataFrame:
    """One row per (source, seed, fold) of fusion-training artifacts."""
    rows = []
    for ref in refs:
        config, report = _json(ref, "fusion_config.json"), _json(ref, "fusion_training_report.json")
        identity = {"source": config["source"], "reasoning_model": config["reasoning_model"], "seed": config["seed"]}
        for fold in report["folds"]:
            rows.append(
                identity
                | {"epochs_run": len(fold.get("history", []))}
                | {c: fold.get(c) for c in FUSION_TRAINING_COLUMNS if c not in identity and c != "epochs_run"}
            )
    return _frame(rows, FUSION_TRAINING_COLUMNS)


def guidance_sensitivity(refs: Sequence[ArtifactRef]) -> pd.DataFrame:
    """MSE and MAE per guidance scale and split, for each fusion-inference artifact's source and seed."""
    frames = []
    for ref in refs:
        sources = _json(ref, "sources.json")
        table = pd.read_parquet(require(ref).file("guidance_sensitivity.parquet"))
        frames.append(table.assign(source=sources["source"], seed=sources["seed"]))
    if not frames:
        return _frame([], SENSITIVITY_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    return table.assign(guidance_scale=table["guidance_scale"].astype(str), split=table["split"].astype(str))[
        SENSITIVITY_COLUMNS
    ]


def generation_summary(refs: Sequence[ArtifactRef]) -> pd.DataFrame:
    """One row per (reasoner checkpoint, split) of generation artifacts (their generation_report.json)."""
    rows = []
    for ref in refs:
        report = _json(ref, "generation_report.json")
        for split, entry in report["splits"].items():
            rows.append(
                {"model": report["model"], "split": split}
                | {c: entry.get(c) for c in GENERATION_COLUMNS if c not in ("model", "split")}
            )
    return _frame(rows, GENERATION_COLUMNS)
