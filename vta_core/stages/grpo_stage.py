"""Reasoner stages 1 and 3: Time-GRPO with the inverse-MSE and format rewards (TRL GRPOTrainer)."""

from __future__ import annotations

import logging
import shutil
import time

from vta_core.artifacts import ArtifactRef, require
from vta_core.config.reasoner_sections import GRPOStageConfig, LoRAConfig, ReasonerConfig, RewardConfig
from vta_core.identities import StageName
from vta_core.reasoner import corpus, loading, rewards, training, trl_configs
from vta_core.reasoner.loading import Checkpoint
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.reasoner_common import finish_training, seed_everything

LOG = logging.getLogger(__name__)


@stage(StageName.REASONER_GRPO, unkeyed=("progress",))
def grpo_stage(
    name: str,
    reasoner: ReasonerConfig,
    grpo: GRPOStageConfig,
    lora: LoRAConfig,
    reward: RewardConfig,
    init: ArtifactRef,
    prompts: ArtifactRef,
    out: StageOutput,
    progress: training.Progress | None = None,
) -> ArtifactRef:
    """Time-GRPO (stages 1 and 3): a new LoRA adapter on a full model, or the upstream adapter continued."""
    import datasets  # imported here: seconds at import time that a cached run does not need

    started, final = time.perf_counter(), out.final_path
    seed_everything(reasoner)
    offset = 1 if name == "stage 1" else 3  # different prompt subsamples for the two GRPO stages
    records = corpus.subsample(corpus.prompt_records(prompts, "train"), grpo.max_records, reasoner.seed + offset)
    start = Checkpoint.read(require(init).path)
    model, tokenizer = loading.load_checkpoint(start, reasoner, trainable=True, new_lora=lora)
    work = out.work_dir()
    log = training.ProgressLog(name, progress, reward.mse_scale, reward.mse_lambda, reward.mse_eps)
    model = training.run_grpo(
        model,
        tokenizer,
        datasets.Dataset.from_dict(corpus.grpo_rows(records)),
        rewards.reward_functions(reward),
        trl_configs.grpo_config(grpo, reasoner, work),
        log,
    )
    with out.writing() as folder:
        model.save_pretrained(folder / "adapter")
        Checkpoint(base=start.base, adapter=str(final / "adapter")).write(folder, final)
        finish_training(log, folder, started, {"stage": name, "records": len(records)})
    shutil.rmtree(work, ignore_errors=True)
    return out.ref
