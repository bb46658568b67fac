"""Run TRL's SFTTrainer / GRPOTrainer with resumable checkpoints and a progress log.

Checkpoints go to a work folder outside the atomic artifact folder (which only exists once the
stage succeeds), so a killed stage finds them on the next run and resumes from the newest one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # trl, datasets and transformers' trainer are imported where used: a cached run needs none
    from datasets import Dataset
    from trl import GRPOConfig, SFTConfig

LOG = logging.getLogger(__name__)
# A TRL reward function (see vta_core.reasoner.rewards); typed here so that the SFT stages do not import the
# rewards module and a reward change leaves their keys alone.
RewardFn = Callable[..., list[float]]
Progress = Callable[[dict[str, Any]], None]
# Log keys worth keeping per step (TRL's names), mapped to short names.
KEEP = {
    "loss": "loss",
    "reward": "reward",
    "kl": "kl",
    "rewards/inverse_mse/mean": "reward_mse",
    "rewards/format/mean": "reward_format",
    "grad_norm": "grad_norm",
    "learning_rate": "lr",
    "completions/mean_length": "completion_length",
    "completions/clipped_ratio": "clipped_ratio",
    "mean_token_accuracy": "token_accuracy",
}


class ProgressLog:
    """Collects one row per logged step; forwards it to an optional `progress` hook (the task wrapper's).
    The trainers see it through `as_callback()`: transformers' callback class is imported only to train."""

    def __init__(
        self,
        stage: str,
        progress: Progress | None,
        mse_scale: float | None = None,
        mse_lambda: float | None = None,
        mse_eps: float | None = None,
    ):
        self.stage, self.progress = stage, progress
        self.rows: list[dict[str, Any]] = []
        self._inverse = (
            (mse_scale, mse_lambda, mse_eps)
            if mse_scale is not None and mse_lambda is not None and mse_eps is not None
            else None
        )
        self._started = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (transformers' signature)
        if not logs or "train_runtime" in logs:
            return
        row: dict[str, Any] = {
            "stage": self.stage,
            "step": int(state.global_step),
            "max_steps": int(state.max_steps),
            "seconds": round(time.perf_counter() - self._started, 2),
        }
        row.update({short: float(logs[k]) for k, short in KEEP.items() if k in logs})
        if self._inverse and "reward_mse" in row and row["reward_mse"] > 0:
            # Mean of r = s / (l MSE + e) over a batch is not a mean MSE; this inverts the mean reward and
            # is only a progress indicator (the real MSE comes from the generation stage).
            scale, lam, eps = self._inverse
            row["mse_from_reward"] = max((scale / row["reward_mse"] - eps) / lam, 0.0)
        self.rows.append(row)
        if self.progress is not None:
            self.progress(row)


def as_callback(log: ProgressLog) -> Any:
    """A transformers TrainerCallback that hands every log event to `log`."""
    from transformers import TrainerCallback

    class _Forward(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 (transformers' signature)
            log.on_log(args, state, control, logs=logs, **kwargs)

    return _Forward()


def _resume_point(output_dir: str | None) -> str | None:
    if output_dir is None or not Path(output_dir).is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(Path(output_dir)))
    if last:
        LOG.info("resuming from checkpoint %s", last)
    return last


@contextlib.contextmanager
def labelled_positions_only() -> Iterator[None]:
    """Let TRL's fused LM head score only the positions that carry a label, on every device.

    TRL 1.16 (`trl.trainer.utils.add_fused_lm_head`) projects only the labelled positions through the LM head
    on Triton devices; elsewhere it scores every position (to keep tile shapes fixed for compiled backends) and
    masks the rest. With completion-only loss most positions are prompt: on CPU the full projection and its
    backward were a third of a stage-0 step (0.31 -> 0.21 s per 16 records, same loss and gradients within 1e-8,
    tests/test_fused_lm_head.py). The switch is TRL's private `_use_triton` name in that module, so a
    TRL without it trains unchanged (scoring every position) and says so once.
    """
    from trl.trainer import utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        LOG.warning("trl.trainer.utils has no _use_triton: the fused LM head scores every position (slower on CPU)")
        yield
        return
    trl_utils._use_triton = lambda device: True
    try:
        yield
    finally:
        trl_utils._use_triton = original


def run_sft(model, tokenizer, dataset: Dataset, args: SFTConfig, log: ProgressLog) -> Any:
    import datasets
    from transformers import PrinterCallback
    from trl import SFTTrainer

    datasets.disable_progress_bars()  # per-example progress bars flood the flow-run logs
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[as_callback(log)]
    )
    trainer.remove_callback(PrinterCallback)  # ProgressLog keeps the step rows; no raw dict prints
    with labelled_positions_only():
        trainer.train(resume_from_checkpoint=_resume_point(args.output_dir))
    return trainer.model


def run_grpo(model, tokenizer, dataset: Dataset, rewards: list[RewardFn], args: GRPOConfig, log: ProgressLog) -> Any:
    import datasets
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    datasets.disable_progress_bars()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,  # type: ignore[arg-type]  # trl wants list[float | None] returns; list is invariant
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[as_callback(log)],
    )
    trainer.remove_callback(PrinterCallback)
    with labelled_positions_only():
        trainer.train(resume_from_checkpoint=_resume_point(args.output_dir))
    return trainer.model
