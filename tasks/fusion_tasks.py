"""Prefect tasks: train the fusion model psi on one reasoning source and seed (with a progress artifact);
guided inference; psi's training summary and the guidance-scale sensitivity as table artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.caching import stage_task
from tasks.progress import progress_hook, progress_key
from tasks.tables import publish_table
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.model_sections import FusionTrainingConfig
from vta_core.result_tables import fusion_training_summary, guidance_sensitivity
from vta_core.stages.fusion_inference_stage import fusion_inference_stage
from vta_core.stages.fusion_training_stage import fusion_training_stage

TRAINING_TABLE, SENSITIVITY_TABLE = "vta-fusion-training", "vta-fusion-guidance-sensitivity"


@stage_task(fusion_training_stage, task_run_name="fusion-{source}-seed{seed}")
def train_fusion(
    training_config: FusionTrainingConfig,
    source: str,
    reasoning_model: str,
    seed: int,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    hook = progress_hook(progress_key("fusion", source, f"seed{seed}"), f"fusion psi ({source}) seed {seed}: epochs")
    return fusion_training_stage(
        training_config,
        source,
        reasoning_model,
        seed,
        backbone,
        reasoning,
        windows,
        progress=hook,
        store=ArtifactStore(store_root),
    )


@stage_task(fusion_inference_stage, task_run_name="guided-{source}-s{guidance_scale}")
def guided_inference(
    guidance_scale: float | str,
    scale_grid: tuple[float, ...],
    source: str,
    reasoning_model: str,
    fusion: ArtifactRef,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    return fusion_inference_stage(
        guidance_scale,
        scale_grid,
        source,
        reasoning_model,
        fusion,
        backbone,
        reasoning,
        windows,
        store=ArtifactStore(store_root),
    )


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_fusion(trained: list[ArtifactRef], inferred: list[ArtifactRef]) -> None:
    """psi's best epoch and guided validation MSE per source, seed and fold, and the error per guidance scale
    (every run, cached or not)."""
    publish_table(TRAINING_TABLE, fusion_training_summary(trained), "fusion psi: best epoch, guided validation MSE")
    publish_table(
        SENSITIVITY_TABLE, guidance_sensitivity(inferred), "guided forecast MSE/MAE per guidance scale and split"
    )
