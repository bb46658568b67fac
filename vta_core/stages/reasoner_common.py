"""What every reasoner stage shares: the model identity in keys, seeding, and the training report."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vta_core.artifacts import write_json, write_parquet
from vta_core.config.reasoner_sections import ReasonerConfig
from vta_core.reasoner import training

EVALUATED = ("val", "test")


def identity(cfg: ReasonerConfig) -> ReasonerConfig:
    """Only what every stage reads (model id, dtype, device, seed, tiny sizes); the stage subsections are
    reset to defaults so they never enter another stage's key."""
    defaults = ReasonerConfig()
    return cfg.model_copy(
        update={
            name: getattr(defaults, name)
            for name in ("lora", "reward", "warm_start", "stage1", "rejection", "stage3", "generation")
        }
    )


def seed_everything(cfg: ReasonerConfig) -> None:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)


def finish_training(log: training.ProgressLog, out: Path, started: float, extra: dict) -> None:
    write_parquet(out / "progress.parquet", pd.DataFrame(log.rows))
    write_json(
        out / "training_report.json",
        {"seconds": round(time.perf_counter() - started, 2), "steps": log.rows[-1]["step"] if log.rows else 0, **extra},
    )
