"""Prefect tasks for the naive baselines, the ridge baseline, the rule-based analyst and the released LLM forecasts."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import AnalystConfig, BaselinesConfig, PaperSplit, RidgeConfig, SourceConfig, WindowConfig
from vta_core.stages import analyst_stage, baseline_stage, released_stage, ridge_stage


@task(**stage_task_options(baseline_stage.NAIVE))
def naive_baselines(baselines: BaselinesConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return baseline_stage.naive_baselines_stage(baselines, windows, ArtifactStore(store_root))


@task(**stage_task_options(analyst_stage.ANALYST))
def rule_based_analyst(
    analyst: AnalystConfig, annotations: ArtifactRef, prompts: ArtifactRef, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return analyst_stage.analyst_stage(analyst, annotations, prompts, windows, ArtifactStore(store_root))


@task(**stage_task_options(released_stage.RELEASED))
def released_forecasts(
    source: SourceConfig, window: WindowConfig, split: PaperSplit, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return released_stage.released_forecasts_stage(source, window, split, windows, ArtifactStore(store_root))


@task(**stage_task_options(ridge_stage.RIDGE))
def ridge_baseline(ridge: RidgeConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return ridge_stage.ridge_stage(ridge, windows, ArtifactStore(store_root))
