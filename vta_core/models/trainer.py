"""The shared training loop of every learned forecaster.

Seeded and deterministic (same seed, same weights), early stopping on validation MSE, the best
epoch's weights kept and saved as safetensors + JSON config, CPU or CUDA (bf16 autocast on CUDA when
asked), progress reported through the logger and an optional per-epoch callback.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vta_core.artifacts import write_json
from vta_core.config.sections import TrainingConfig
from vta_core.models.base import DataShape, Forecaster, build, config_class

LOG = logging.getLogger(__name__)
WEIGHTS, CONFIG = "model.safetensors", "config.json"


@dataclass(frozen=True)
class Batch:
    """One mini-batch as named fields: inputs (B, T, C) and targets (B, H)."""

    x: torch.Tensor
    y: torch.Tensor


@dataclass(frozen=True)
class WindowArrays:
    x: np.ndarray  # (n, T, C) scaled inputs
    y: np.ndarray  # (n, H) scaled targets

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.y.ndim != 2 or len(self.x) != len(self.y):
            raise ValueError(f"expected x (n, T, C) and y (n, H), got {self.x.shape} and {self.y.shape}")

    def batches(self, size: int, device: torch.device, rng: np.random.Generator | None = None):
        order = rng.permutation(len(self.x)) if rng is not None else np.arange(len(self.x))
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            yield Batch(
                torch.as_tensor(self.x[rows], dtype=torch.float32, device=device),
                torch.as_tensor(self.y[rows], dtype=torch.float32, device=device),
            )


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    device: str = "cpu"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(preference: str) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is available")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def evaluate(model: Forecaster, data: WindowArrays, batch_size: int, device: torch.device, amp: bool) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _autocast(device, amp):
        for batch in data.batches(batch_size, device):
            total += float(torch.nn.functional.mse_loss(model(batch.x).float(), batch.y, reduction="sum"))
            count += batch.y.numel()
    return total / max(count, 1)


def fit(
    model: Forecaster,
    train: WindowArrays,
    val: WindowArrays,
    config: TrainingConfig,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train in place; on return the model holds its best-validation weights."""
    seed_everything(seed)
    device = resolve_device(config.device)
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(seed)
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = TrainResult(
        best_epoch=0,
        best_val_loss=evaluate(model, val, config.batch_size, device, config.mixed_precision),
        device=str(device),
    )
    started, stale = time.perf_counter(), 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        for batch in train.batches(config.batch_size, device, rng):
            optimiser.zero_grad(set_to_none=True)
            with _autocast(device, config.mixed_precision):
                loss = model.loss(batch.x, batch.y)
            loss.backward()
            optimiser.step()
            running += float(loss.detach()) * len(batch.y)
            seen += len(batch.y)
        val_loss = evaluate(model, val, config.batch_size, device, config.mixed_precision)
        row = {"epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss}
        result.history.append(row)
        LOG.info("%s seed %d epoch %d: train %.5f val %.5f", model.name, seed, epoch, row["train_loss"], val_loss)
        if on_epoch is not None:
            on_epoch(row)
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                LOG.info("%s seed %d: early stop after epoch %d (best %d)", model.name, seed, epoch, result.best_epoch)
                break
    model.load_state_dict(best)
    result.seconds = time.perf_counter() - started
    return result


def predict(model: Forecaster, x: np.ndarray, batch_size: int = 4096, device: torch.device | None = None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            chunk = torch.as_tensor(x[start : start + batch_size], dtype=torch.float32, device=device)
            outputs.append(model(chunk).float().cpu().numpy())
    return np.concatenate(outputs).astype(np.float64) if outputs else np.zeros((0, model.shape.horizon))


def save_checkpoint(model: Forecaster, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS))
    write_json(
        folder / CONFIG,
        {
            "model": model.name,
            "config": model.config.model_dump(mode="json"),
            "shape": asdict(model.shape),
            "init": model.init_kwargs(),
        },
    )


def load_checkpoint(folder: Path, device: str = "cpu") -> Forecaster:
    meta = json.loads((folder / CONFIG).read_text())
    config = config_class(meta["model"]).model_validate(meta["config"])
    model = build(meta["model"], config, DataShape(**meta["shape"]), **meta.get("init", {}))
    model.load_state_dict(load_file(str(folder / WEIGHTS), device=device))
    return model.to(device).eval()
