"""Naive baselines stage: persistence and drift forecasts for every evaluated window."""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, write_parquet
from vta_core.baselines import naive
from vta_core.config.evaluation_sections import BaselinesConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.evaluation import predictions
from vta_core.identities import StageName
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


@stage(StageName.NAIVE_BASELINES)
def naive_baselines_stage(baselines: BaselinesConfig, windows: ArtifactRef, out: StageOutput) -> ArtifactRef:
    chosen = load_windows(windows).select(split=baselines.splits)
    history = chosen.inputs()[:, :, TARGET_COLUMN]
    frames = []
    for model in baselines.models:
        y_hat = naive.NAIVE_FORECASTERS[model](history, chosen.horizon)
        frames.append(predictions.prediction_frame(chosen, y_hat, model))
        LOG.info("%s: forecast %d windows", model, len(chosen))
    with out.writing() as folder:
        write_parquet(folder / "predictions.parquet", pd.concat(frames, ignore_index=True))
    return out.ref
