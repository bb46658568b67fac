"""Prefect tasks: language prototypes, and training one learned time-series model with one seed."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from pydantic import BaseModel

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import PrototypeConfig
from vta_core.stages import timeseries_stage


@task(**{**stage_task_options(timeseries_stage.TIMESERIES), "task_run_name": "{model_name}-seed{seed}"})
def train_timeseries_model(
    model_name: str,
    model: BaseModel,
    seed: int,
    windows: ArtifactRef,
    store_root: Path,
    prototypes: ArtifactRef | None = None,
) -> ArtifactRef:
    return timeseries_stage.timeseries_stage(model_name, model, seed, windows, ArtifactStore(store_root), prototypes)


@task(**stage_task_options(timeseries_stage.PROTOTYPES))
def language_prototypes(prototypes: PrototypeConfig, store_root: Path) -> ArtifactRef:
    return timeseries_stage.prototypes_stage(prototypes, ArtifactStore(store_root))
