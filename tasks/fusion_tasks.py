"""Prefect tasks: train the fusion model psi on one reasoning source and seed; guided inference."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import FusionTrainingConfig
from vta_core.stages import fusion_stage


@task(**{**stage_task_options(fusion_stage.FUSION_TRAIN), "task_run_name": "fusion-{source}-seed{seed}"})
def train_fusion(
    training: FusionTrainingConfig,
    source: str,
    reasoning_model: str,
    seed: int,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    return fusion_stage.fusion_training_stage(
        training, source, reasoning_model, seed, backbone, reasoning, windows, ArtifactStore(store_root)
    )


@task(**{**stage_task_options(fusion_stage.FUSION_INFERENCE), "task_run_name": "guided-{source}-s{guidance_scale}"})
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
    return fusion_stage.fusion_inference_stage(
        guidance_scale,
        scale_grid,
        source,
        reasoning_model,
        fusion,
        backbone,
        reasoning,
        windows,
        ArtifactStore(store_root),
    )
