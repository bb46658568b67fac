"""Prefect tasks: language prototypes, training one learned time-series model with one seed (with a progress
artifact per model and seed), and the training summary of every model as a table artifact."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from tasks.caching import stage_task
from tasks.progress import progress_hook, progress_key
from tasks.tables import publish_table
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.model_sections import PrototypeConfig
from vta_core.identities import TIMESERIES_MODELS, label
from vta_core.result_tables import training_summary
from vta_core.stages.prototypes_stage import prototypes_stage
from vta_core.stages.timeseries_stage import timeseries_stage

TRAINING_TABLE = "vta-training-timeseries"


@stage_task(timeseries_stage, task_run_name="{model_name}-seed{seed}")
def train_timeseries_model(
    model_name: str,
    model: BaseModel,
    seed: int,
    windows: ArtifactRef,
    store_root: Path,
    prototypes: ArtifactRef | None = None,
) -> ArtifactRef:
    name = label(TIMESERIES_MODELS.get(model_name, model_name))
    hook = progress_hook(progress_key(model_name, f"seed{seed}"), f"{name} seed {seed}: epochs")
    return timeseries_stage(
        model_name, model, seed, windows, prototypes=prototypes, progress=hook, store=ArtifactStore(store_root)
    )


@stage_task(prototypes_stage)
def language_prototypes(prototypes: PrototypeConfig, store_root: Path) -> ArtifactRef:
    return prototypes_stage(prototypes, store=ArtifactStore(store_root))


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_training(models: list[ArtifactRef]) -> None:
    """Best epoch and validation MSE per model, seed and fold (every run, cached or not)."""
    publish_table(TRAINING_TABLE, training_summary(models), "learned time-series models: best epoch, validation MSE")
