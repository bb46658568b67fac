"""Training loop of psi: condition dropout to the null token, checkpoint chosen on the guided forecast.

Every batch indexes all per-window arrays (x, y, c, available, y_phi) with the same row numbers, so
shuffled batches keep each window with its own conditioning (the paper's code misaligned them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from vta_core.config.sections import FusionTrainingConfig
from vta_core.fusion.guidance import guided
from vta_core.fusion.model import FusionModel
from vta_core.models.trainer import TrainResult, resolve_device, seed_everything

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionArrays:
    x: np.ndarray  # (n, T, C) scaled inputs
    y: np.ndarray  # (n, H) scaled targets
    c: np.ndarray  # (n, k) conditioning attributes (scaled space)
    available: np.ndarray  # (n,) bool: a usable reasoning forecast exists
    y_phi: np.ndarray  # (n, H) the backbone's unconditional forecast

    def __post_init__(self) -> None:
        n = len(self.x)
        if any(len(a) != n for a in (self.y, self.c, self.available, self.y_phi)):
            raise ValueError(
                "fusion arrays differ in length: "
                f"{[len(a) for a in (self.x, self.y, self.c, self.available, self.y_phi)]}"
            )

    def tensors(self, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        f32 = lambda a: torch.as_tensor(np.asarray(a[rows], dtype=np.float32), device=device)  # noqa: E731
        return f32(self.x), f32(self.y), f32(self.c), torch.as_tensor(self.available[rows], device=device)


def predict_conditional(model: FusionModel, data: FusionArrays, batch_size: int = 4096) -> np.ndarray:
    """y_psi(c) for every window (the null token where no forecast is available)."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data.x), batch_size):
            x, _, c, available = data.tensors(np.arange(start, min(start + batch_size, len(data.x))), device)
            out.append(model(x, c, available).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros_like(data.y_phi)


def guided_mse(model: FusionModel, data: FusionArrays, scale: float) -> float:
    y = guided(data.y_phi, predict_conditional(model, data), scale, data.available)
    return float(np.mean((y - data.y) ** 2))


def fit_fusion(
    model: FusionModel, train: FusionArrays, val: FusionArrays, config: FusionTrainingConfig, seed: int
) -> TrainResult:
    """Train in place; on return the model holds the weights with the lowest guided validation MSE."""
    seed_everything(seed)
    device = resolve_device(config.train.device)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.train.learning_rate, weight_decay=config.train.weight_decay)
    rng = np.random.default_rng(seed)
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    result = TrainResult(best_epoch=0, best_val_loss=guided_mse(model, val, config.selection_scale), device=str(device))
    started, stale = time.perf_counter(), 0
    for epoch in range(1, config.train.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        order = rng.permutation(len(train.x))
        for start in range(0, len(order), config.train.batch_size):
            rows = order[start : start + config.train.batch_size]
            x, y, c, available = train.tensors(rows, device)
            keep = torch.as_tensor(rng.random(len(rows)) >= config.p_uncond, device=device)
            loss = torch.nn.functional.mse_loss(model(x, c, available & keep).float(), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            running, seen = running + float(loss.detach()) * len(rows), seen + len(rows)
        val_loss = guided_mse(model, val, config.selection_scale)
        result.history.append({"epoch": epoch, "train_loss": running / max(seen, 1), "val_guided_mse": val_loss})
        LOG.info("fusion seed %d epoch %d: train %.5f, guided val %.5f", seed, epoch, running / max(seen, 1), val_loss)
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.train.patience:
                break
    model.load_state_dict(best)
    result.seconds = time.perf_counter() - started
    return result
