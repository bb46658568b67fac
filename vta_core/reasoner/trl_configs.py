"""TRL config objects (GRPOConfig, SFTConfig) built from the reasoner's config sections.

Building them loads no weights, so a test can check the paper preset's settings on a CPU machine.
TRL 1.16 notes (../shared/docs/STACK_NOTES.md): `no_cuda` and `max_prompt_length` are gone; the
generation batch must divide by num_generations (validated in GRPOStageConfig).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vta_core.config.reasoner_sections import GRPOStageConfig, ReasonerConfig, SFTStageConfig
from vta_core.reasoner.loading import torch_device

if TYPE_CHECKING:  # trl is imported where used (seconds a cached run saves)
    from trl import GRPOConfig, SFTConfig


def _common(cfg: ReasonerConfig, output_dir: Path, stage: GRPOStageConfig | SFTStageConfig) -> dict[str, Any]:
    """Settings every stage shares: device, seeds, checkpoints, and the stage's optimiser schedule."""
    on_gpu = torch_device(cfg.device).type == "cuda"
    return {
        "learning_rate": stage.learning_rate,
        "lr_scheduler_type": stage.lr_scheduler,
        "warmup_steps": stage.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        "per_device_train_batch_size": stage.batch_size,
        "gradient_accumulation_steps": stage.grad_accum,
        "output_dir": str(output_dir),
        "use_cpu": not on_gpu,
        "bf16": on_gpu and cfg.dtype == "bfloat16",
        "report_to": "none",
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "max_grad_norm": stage.max_grad_norm,
        "gradient_checkpointing": cfg.checkpoints_activations,
        # Checkpoints let a killed stage resume (resume_from_checkpoint); two are enough for that.
        "save_strategy": "steps",
        "save_steps": stage.save_steps,
        "save_total_limit": 2,
        "logging_steps": 1,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def grpo_config(stage: GRPOStageConfig, cfg: ReasonerConfig, output_dir: Path) -> GRPOConfig:
    from trl import GRPOConfig

    return GRPOConfig(
        **_common(cfg, output_dir, stage),
        max_steps=stage.max_steps,
        num_generations=stage.num_generations,
        max_completion_length=stage.max_completion_length,
        temperature=stage.temperature,
        beta=stage.beta,
        # Group-relative advantages as in GRPO (the paper); rewards scaled within each group.
        scale_rewards="group",
        reward_weights=None,
        log_completions=False,
    )


def sft_config(stage: SFTStageConfig, cfg: ReasonerConfig, output_dir: Path) -> SFTConfig:
    from trl import SFTConfig

    return SFTConfig(
        **_common(cfg, output_dir, stage),
        num_train_epochs=stage.epochs,
        max_steps=stage.max_steps if stage.max_steps is not None else -1,
        max_length=stage.max_length,
        # Prompt/completion records: the loss covers the completion only (SPEC section 5, stage 2).
        completion_only_loss=True,
        packing=False,
        dataset_num_proc=None,
    )
