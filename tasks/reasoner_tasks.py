"""Prefect tasks for the reasoner stages; progress (step, reward, KL, MSE) published as Prefect artifacts.

vta_core never imports Prefect: its training stages accept a plain `progress(row)` hook, and the
task wrappers here turn those rows into a progress artifact while training and a table artifact
when the stage finishes. The decoding stages (generation, stage 2's rejection sampling) take a
`progress(percent)` hook of windows decoded (`tasks.progress`); `publish_generation` shows the
parse-failure rates of every decoded checkpoint as a table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.caching import stage_task
from tasks.progress import ProgressArtifact, artifact_key, progress_hook, progress_key
from tasks.tables import publish_table
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.reasoner_sections import (
    GenerationConfig,
    GRPOStageConfig,
    LoRAConfig,
    ReasonerConfig,
    RejectionConfig,
    RewardConfig,
    SFTStageConfig,
)
from vta_core.result_tables import generation_summary
from vta_core.stages.generation_stage import generation_stage
from vta_core.stages.grpo_stage import grpo_stage
from vta_core.stages.reasoner_base_stage import base_stage
from vta_core.stages.rejection_stage import rejection_stage
from vta_core.stages.warm_start_stage import warm_start_stage

LOG = logging.getLogger(__name__)
GENERATION_TABLE = "vta-reasoner-generation"
PROGRESS_COLUMNS = [
    "stage",
    "step",
    "max_steps",
    "seconds",
    "loss",
    "reward",
    "reward_mse",
    "reward_format",
    "kl",
    "mse_from_reward",
    "token_accuracy",
    "completion_length",
]


def _artifact_key(stage: str) -> str:
    return artifact_key("vta-reasoner", stage)


def _progress_hook(stage: str) -> Callable[[dict[str, Any]], None]:
    """A progress artifact for the stage, updated at most every 5 % of its steps; each update is logged."""
    artifact = ProgressArtifact(_artifact_key(stage) + "-progress", f"reasoner {stage} training")

    def hook(row: dict[str, Any]) -> None:
        percent = 100.0 * row["step"] / max(row["max_steps"], 1)
        if not artifact.report(percent, final=row["step"] == row["max_steps"]):
            return
        LOG.info(
            "reasoner %s step %d/%d: %s",
            stage,
            row["step"],
            row["max_steps"],
            {k: round(v, 4) for k, v in row.items() if k in {"loss", "reward", "kl", "mse_from_reward"}},
        )

    return hook


def publish_progress(ref: ArtifactRef, stage: str) -> None:
    """The stage's logged steps as a table artifact (step, reward, KL, MSE from the reward, loss)."""
    path = ref.file("progress.parquet")
    if not path.is_file():
        return
    frame = pd.read_parquet(path)
    columns = [c for c in PROGRESS_COLUMNS if c in frame.columns]
    rows = frame[columns].round(6).astype(object).where(frame[columns].notna(), None).to_dict("records")
    create_table_artifact(key=_artifact_key(stage), table=rows[-500:], description=f"reasoner {stage}: logged steps")


@stage_task(base_stage)
def reasoner_base(
    reasoner: ReasonerConfig, prompts: ArtifactRef | None, analyst: ArtifactRef | None, store_root: Path
) -> ArtifactRef:
    return base_stage(reasoner, prompts, analyst, store=ArtifactStore(store_root))


@stage_task(warm_start_stage, task_run_name="reasoner-stage0")
def reasoner_warm_start(
    reasoner: ReasonerConfig,
    warm_start: SFTStageConfig,
    lora: LoRAConfig | None,
    base: ArtifactRef,
    analyst: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    store, hook = ArtifactStore(store_root), _progress_hook("stage 0")
    ref = warm_start_stage(reasoner, warm_start, lora, base, analyst, progress=hook, store=store)
    publish_progress(ref, "stage 0")
    return ref


@stage_task(grpo_stage, task_run_name="reasoner-grpo-{name}")
def reasoner_grpo(
    name: str,
    reasoner: ReasonerConfig,
    grpo: GRPOStageConfig,
    lora: LoRAConfig,
    reward: RewardConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    store, hook = ArtifactStore(store_root), _progress_hook(name)
    ref = grpo_stage(name, reasoner, grpo, lora, reward, init, prompts, progress=hook, store=store)
    publish_progress(ref, name)
    return ref


@stage_task(rejection_stage, task_run_name="reasoner-stage2")
def reasoner_rejection(
    reasoner: ReasonerConfig,
    rejection_config: RejectionConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    store, hook = ArtifactStore(store_root), _progress_hook("stage 2")
    decoding = progress_hook(progress_key("reasoner-stage2-decoding"), "reasoner stage 2: training windows decoded")
    ref = rejection_stage(
        reasoner, rejection_config, init, prompts, progress=hook, decoding_progress=decoding, store=store
    )
    publish_progress(ref, "stage 2")
    return ref


@stage_task(generation_stage, task_run_name="reasoner-generate-{model_name}")
def reasoner_generate(
    reasoner: ReasonerConfig,
    decoding: GenerationConfig,
    model_name: str,
    train_windows: int,
    model: ArtifactRef,
    prompts: ArtifactRef,
    windows: ArtifactRef,
    annotations: ArtifactRef,
    store_root: Path,
) -> ArtifactRef:
    store = ArtifactStore(store_root)
    hook = progress_hook(progress_key("generation", model_name), f"{model_name}: windows decoded")
    return generation_stage(
        reasoner, decoding, model_name, train_windows, model, prompts, windows, annotations, progress=hook, store=store
    )


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_generation(generations: list[ArtifactRef]) -> None:
    """Windows decoded, parsed and retried per reasoner checkpoint and split (every run, cached or not)."""
    publish_table(GENERATION_TABLE, generation_summary(generations), "reasoner decoding: parse-failure rates")
