"""Naive baselines stage: persistence and drift forecasts for every evaluated window."""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, stage_key, write_parquet
from vta_core.baselines import naive
from vta_core.config.sections import BaselinesConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.evaluation import predictions
from vta_core.stages.data_stages import load_windows

LOG = logging.getLogger(__name__)
NAIVE = StageSpec("naive_baselines", "1", (naive, predictions))


def naive_baselines_stage(baselines: BaselinesConfig, windows: ArtifactRef, store: ArtifactStore) -> ArtifactRef:
    key = stage_key(NAIVE, {"baselines": baselines, "windows": windows})
    chosen = load_windows(windows).select(split=baselines.splits)
    history = chosen.inputs()[:, :, TARGET_COLUMN]
    frames = []
    for model in baselines.models:
        y_hat = naive.NAIVE_FORECASTERS[model](history, chosen.horizon)
        frames.append(predictions.prediction_frame(chosen, y_hat, model))
        LOG.info("%s: forecast %d windows", model, len(chosen))
    with store.writing(NAIVE, key) as out:
        write_parquet(out / "predictions.parquet", pd.concat(frames, ignore_index=True))
    return store.ref(NAIVE, key)
