"""Every pipeline stage, for tools that look at all of them (tests, key listings). Importing this module
imports every stage module (torch, transformers): stage code imports the single stage it needs instead."""

from __future__ import annotations

from vta_core.stage_keys import Stage
from vta_core.stages.analyst_stage import analyst_stage
from vta_core.stages.annotation_stage import annotation_stage
from vta_core.stages.backtest_stage import backtest_stage
from vta_core.stages.baseline_stage import naive_baselines_stage
from vta_core.stages.cleanse_stage import cleanse_stage
from vta_core.stages.evaluation_stage import error_evaluation_stage
from vta_core.stages.fusion_inference_stage import fusion_inference_stage
from vta_core.stages.fusion_training_stage import fusion_training_stage
from vta_core.stages.generation_stage import generation_stage
from vta_core.stages.grpo_stage import grpo_stage
from vta_core.stages.prompts_stage import prompts_stage
from vta_core.stages.prototypes_stage import prototypes_stage
from vta_core.stages.reasoner_base_stage import base_stage
from vta_core.stages.rejection_stage import rejection_stage
from vta_core.stages.released_stage import released_forecasts_stage
from vta_core.stages.ridge_stage import ridge_stage
from vta_core.stages.timeseries_stage import timeseries_stage
from vta_core.stages.warm_start_stage import warm_start_stage
from vta_core.stages.windows_stage import windows_stage

ALL_STAGES: tuple[Stage, ...] = (
    cleanse_stage,
    windows_stage,
    annotation_stage,
    prompts_stage,
    naive_baselines_stage,
    ridge_stage,
    analyst_stage,
    released_forecasts_stage,
    prototypes_stage,
    timeseries_stage,
    base_stage,
    warm_start_stage,
    grpo_stage,
    rejection_stage,
    generation_stage,
    fusion_training_stage,
    fusion_inference_stage,
    error_evaluation_stage,
    backtest_stage,
)
STAGES_BY_NAME: dict[str, Stage] = {stage.name: stage for stage in ALL_STAGES}
