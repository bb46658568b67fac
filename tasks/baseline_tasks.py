"""Prefect task for the naive baselines stage."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import BaselinesConfig
from vta_core.stages import baseline_stage


@task(**stage_task_options(baseline_stage.NAIVE))
def naive_baselines(baselines: BaselinesConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return baseline_stage.naive_baselines_stage(baselines, windows, ArtifactStore(store_root))
