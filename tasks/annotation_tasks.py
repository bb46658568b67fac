"""Prefect tasks for annotation (statistics + indicators) and prompt records."""

from __future__ import annotations

from pathlib import Path

from tasks.caching import stage_task
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.annotation_sections import AnnotationConfig
from vta_core.config.prompt_sections import PromptConfig
from vta_core.stages.annotation_stage import annotation_stage
from vta_core.stages.prompts_stage import prompts_stage


@stage_task(annotation_stage)
def annotate_windows(annotation: AnnotationConfig, windows: ArtifactRef, store_root: Path) -> ArtifactRef:
    return annotation_stage(annotation, windows, store=ArtifactStore(store_root))


@stage_task(prompts_stage)
def build_prompts(
    prompt: PromptConfig, annotations: ArtifactRef, windows: ArtifactRef, store_root: Path
) -> ArtifactRef:
    return prompts_stage(prompt, annotations, windows, store=ArtifactStore(store_root))
