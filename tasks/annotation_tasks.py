"""Prefect tasks for annotation (statistics + indicators) and prompt records."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import AnnotationConfig, PromptConfig
from vta_core.stages import annotation_stages


@task(**stage_task_options(annotation_stages.ANNOTATE))
def annotate_windows(annotation: AnnotationConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return annotation_stages.annotation_stage(annotation, windows, ArtifactStore(store_root))


@task(**stage_task_options(annotation_stages.PROMPTS))
def build_prompts(
    prompt: PromptConfig, annotations: ArtifactRef, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return annotation_stages.prompts_stage(prompt, annotations, windows, ArtifactStore(store_root))
