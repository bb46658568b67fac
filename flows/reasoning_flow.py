"""Reasoning-training flow (GPU-heavy with a real LLM): base model, stage 0 warm start, stage 1 GRPO,
stage 2 rejection sampling + SFT, stage 3 GRPO, and generation after each stage (the ablation rows).

Every stage is a cached task keyed on its own config subsection and its upstream checkpoint, so
changing `reasoner.stage3` re-runs stage 3 and its generation only.
"""

import torch
from prefect import flow
from pydantic import BaseModel

from flows.common import publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from flows.gpu import holds_gpu_slot
from tasks.baseline_tasks import rule_based_analyst
from tasks.caching import bound
from tasks.reasoner_tasks import (
    publish_generation,
    reasoner_base,
    reasoner_generate,
    reasoner_grpo,
    reasoner_rejection,
    reasoner_warm_start,
)
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.identities import REASONER_STAGE_MODELS
from vta_core.stages.reasoner_common import identity


class ReasonerRefs(BaseModel):
    """Checkpoints of every stage and the generation artifacts (predictions, narratives, reports)."""

    base: ArtifactRef
    stage0: ArtifactRef | None
    stage1: ArtifactRef
    stage2: ArtifactRef
    stage3: ArtifactRef
    final_generation: ArtifactRef  # stage 3 on val, test and the configured train windows (for fusion)
    generations: dict[str, ArtifactRef]  # model name -> generation artifact, one per evaluated stage

    def predictions(self) -> list[ArtifactRef]:
        return list(self.generations.values())


@flow(name="vta-reasoning", flow_run_name="reasoning-{preset}", persist_result=True)
@holds_gpu_slot
def reasoning_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
    analyst: ArtifactRef | None = None,
) -> ReasonerRefs:
    cfg = resolve(preset, config_file, overrides, config)
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    if cfg.runtime.torch_threads:
        torch.set_num_threads(cfg.runtime.torch_threads)
    root, r = artifact_root(cfg.runtime), cfg.reasoner
    ident = identity(r)
    if analyst is None and (r.is_tiny or r.warm_start_on):
        # The same cached task (and key) the baselines flow runs: a hit when that flow already ran.
        analyst = bound(rule_based_analyst, cfg.runtime)(
            cfg.analyst, data.annotations, data.prompts, data.windows, root
        )
    tiny_inputs = (data.prompts, analyst) if r.is_tiny else (None, None)
    base = bound(reasoner_base, cfg.runtime)(ident, *tiny_inputs, root)
    stage0 = None
    if r.warm_start_on:
        lora = None if r.warm_start.full_finetune else r.lora
        stage0 = bound(reasoner_warm_start, cfg.runtime)(ident, r.warm_start, lora, base, analyst, root)
    grpo = bound(reasoner_grpo, cfg.runtime)
    stage1 = grpo("stage 1", ident, r.stage1, r.lora, r.reward, stage0 or base, data.prompts, root)
    stage2 = bound(reasoner_rejection, cfg.runtime)(ident, r.rejection, stage1, data.prompts, root)
    stage3 = grpo("stage 3", ident, r.stage3, r.lora, r.reward, stage2, data.prompts, root)

    generate = bound(reasoner_generate, cfg.runtime)
    train_windows = -1 if r.generation.train_windows is None else r.generation.train_windows

    def decode(name: str, model: ArtifactRef, n_train: int = 0) -> ArtifactRef:
        return generate(
            ident,
            r.generation.keyed_for(final=name == "stage3"),
            REASONER_STAGE_MODELS[name],
            n_train,
            model,
            data.prompts,
            data.windows,
            data.annotations,
            root,
        )

    final = decode("stage3", stage3, train_windows)
    generations = {REASONER_STAGE_MODELS["stage3"]: final}
    if r.generation.ablation:
        for name, ref in (("stage0", stage0), ("stage1", stage1), ("stage2", stage2)):
            if ref is not None:
                generations[REASONER_STAGE_MODELS[name]] = decode(name, ref)
    if r.generation.evaluate_base:
        generations[REASONER_STAGE_MODELS["base"]] = decode("base", base)
    publish(publish_generation, list(generations.values()))
    return ReasonerRefs(
        base=base,
        stage0=stage0,
        stage1=stage1,
        stage2=stage2,
        stage3=stage3,
        final_generation=final,
        generations=generations,
    )
