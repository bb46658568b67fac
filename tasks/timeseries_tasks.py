"""Prefect tasks: language prototypes, and training one learned time-series model with one seed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from tasks.caching import stage_task
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.model_sections import PrototypeConfig
from vta_core.stages.prototypes_stage import prototypes_stage
from vta_core.stages.timeseries_stage import timeseries_stage


@stage_task(timeseries_stage, task_run_name="{model_name}-seed{seed}")
def train_timeseries_model(
    model_name: str,
    model: BaseModel,
    seed: int,
    windows: ArtifactRef,
    store_root: Path,
    prototypes: ArtifactRef | None = None,
) -> ArtifactRef:
    return timeseries_stage(model_name, model, seed, windows, prototypes=prototypes, store=ArtifactStore(store_root))


@stage_task(prototypes_stage)
def language_prototypes(prototypes: PrototypeConfig, store_root: Path) -> ArtifactRef:
    return prototypes_stage(prototypes, store=ArtifactStore(store_root))
