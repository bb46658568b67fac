"""Prefect tasks: train the fusion model psi on one reasoning source and seed; guided inference."""

from __future__ import annotations

from pathlib import Path

from tasks.caching import stage_task
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.model_sections import FusionTrainingConfig
from vta_core.stages.fusion_inference_stage import fusion_inference_stage
from vta_core.stages.fusion_training_stage import fusion_training_stage


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
    return fusion_training_stage(
        training_config, source, reasoning_model, seed, backbone, reasoning, windows, store=ArtifactStore(store_root)
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
