"""Prefect tasks for the naive baselines, the ridge baseline, the rule-based analyst and the released LLM forecasts."""

from __future__ import annotations

from pathlib import Path

from tasks.caching import stage_task
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.annotation_sections import AnalystConfig
from vta_core.config.data_sections import PaperSplit, SourceConfig, WindowConfig
from vta_core.config.evaluation_sections import BaselinesConfig, RidgeConfig
from vta_core.stages.analyst_stage import analyst_stage
from vta_core.stages.baseline_stage import naive_baselines_stage
from vta_core.stages.released_stage import released_forecasts_stage
from vta_core.stages.ridge_stage import ridge_stage


@stage_task(naive_baselines_stage)
def naive_baselines(baselines: BaselinesConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return naive_baselines_stage(baselines, windows, store=ArtifactStore(store_root))


@stage_task(analyst_stage)
def rule_based_analyst(
    analyst: AnalystConfig, annotations: ArtifactRef, prompts: ArtifactRef, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return analyst_stage(analyst, annotations, prompts, windows, store=ArtifactStore(store_root))


@stage_task(released_forecasts_stage)
def released_forecasts(
    source: SourceConfig, window: WindowConfig, split: PaperSplit, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return released_forecasts_stage(source, window, split, windows, store=ArtifactStore(store_root))


@stage_task(ridge_stage)
def ridge_baseline(ridge_config: RidgeConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return ridge_stage(ridge_config, windows, store=ArtifactStore(store_root))
