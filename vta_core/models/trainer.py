"""The shared training loop of every learned model (the time-series forecasters and fusion psi).

Seeded and deterministic (same seed, same weights), Adam on the trainable parameters, early stopping
on the validation score with the best epoch's weights restored, CPU or CUDA (bf16 autocast on CUDA
when asked), progress reported through the logger, an optional per-epoch callback and an optional
`progress(percent)` hook (epochs done out of `config.epochs`, 100 at the end, early stop included). Forecasters
are saved as safetensors + JSON config.

`train_loop` knows nothing about what a batch holds; a caller gives it three plain callables:

    batches(rng, device) -> Iterable[batch]   one epoch of shuffled training batches (len(batch) = rows)
    loss(batch) -> Tensor                     the scalar training loss of one batch, model in train mode
    score(device) -> float                    the validation score of the current weights, lower is better

`fit` wires them for a `Forecaster` on `WindowArrays`; `vta_core.fusion.training.fit_fusion` wires
them for psi. Both score validation with `evaluation.selection.per_ticker_mse`, the evaluation's metric.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vta_core.artifacts import write_json
from vta_core.config.model_sections import TrainingConfig
from vta_core.data.windows import WindowSet
from vta_core.evaluation.selection import per_ticker_mse
from vta_core.models.base import DataShape, Forecaster, build, config_class
from vta_core.progress import PercentHook, Steps

LOG = logging.getLogger(__name__)
WEIGHTS, CONFIG = "model.safetensors", "config.json"
BatchT = TypeVar("BatchT", bound=Sized)


@dataclass(frozen=True)
class Batch:
    """One mini-batch as named fields: inputs (B, T, C) and targets (B, H)."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class WindowArrays:
    x: np.ndarray  # (n, T, C) scaled inputs
    y: np.ndarray  # (n, H) scaled targets
    # (n,) each window's ticker: validation is scored per ticker, like the evaluation. None pools every
    # window as one ticker (only for callers that predate tickers; `fit` warns).
    tickers: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.y.ndim != 2 or len(self.x) != len(self.y):
            raise ValueError(f"expected x (n, T, C) and y (n, H), got {self.x.shape} and {self.y.shape}")
        if self.tickers is not None and np.shape(self.tickers) != (len(self.y),):
            raise ValueError(f"expected tickers ({len(self.y)},), got {np.shape(self.tickers)}")

    @classmethod
    def from_windows(cls, ws: WindowSet) -> WindowArrays:
        """float32 inputs and targets of a window set, with each window's ticker."""
        return cls(
            ws.inputs().astype(np.float32), ws.targets().astype(np.float32), ws.index["ticker"].astype(str).to_numpy()
        )

    def ticker_groups(self) -> np.ndarray:
        return self.tickers if self.tickers is not None else np.zeros(len(self.y), dtype=np.int64)

    def batches(self, size: int, device: torch.device, rng: np.random.Generator | None = None) -> Iterator[Batch]:
        order = rng.permutation(len(self.x)) if rng is not None else np.arange(len(self.x))
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            yield Batch(
                torch.as_tensor(self.x[rows], dtype=torch.float32, device=device),
                torch.as_tensor(self.y[rows], dtype=torch.float32, device=device),
            )


@dataclass
class TrainResult:
    best_epoch: int  # 0: no epoch beat the untrained weights, which are then the ones kept
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


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_loop(
    model: torch.nn.Module,
    config: TrainingConfig,
    seed: int,
    *,
    batches: Callable[[np.random.Generator, torch.device], Iterable[BatchT]],
    loss: Callable[[BatchT], torch.Tensor],
    score: Callable[[torch.device], float],
    name: str,
    amp: bool | None = None,
    score_key: str = "val_loss",
    on_epoch: Callable[[dict], None] | None = None,
    progress: PercentHook | None = None,
) -> TrainResult:
    """Train `model` in place; on return it holds the weights of its lowest validation score.

    The untrained weights are scored too (epoch 0), so training can only keep or improve them. An epoch
    counts as better only when strictly lower (a tie keeps the earlier weights), and `config.patience`
    epochs in a row without one stop training. `amp` overrides `config.mixed_precision` for the loss.
    """
    seed_everything(seed)
    device = resolve_device(config.device)
    model.to(device)
    amp = config.mixed_precision if amp is None else amp
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(seed)  # the only source of shuffling (and of any per-batch randomness)
    best = _snapshot(model)
    result = TrainResult(best_epoch=0, best_val_loss=score(device), device=str(device))
    started, stale = time.perf_counter(), 0
    steps = Steps(progress, config.epochs)
    steps.start()
    for epoch in range(1, config.epochs + 1):
        model.train()
        running, seen = 0.0, 0
        for batch in batches(rng, device):
            optimiser.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                batch_loss = loss(batch)
            batch_loss.backward()
            optimiser.step()
            running += float(batch_loss.detach()) * len(batch)
            seen += len(batch)
        val_loss = score(device)
        row = {"epoch": epoch, "train_loss": running / max(seen, 1), score_key: val_loss}
        result.history.append(row)
        LOG.info("%s seed %d epoch %d: train %.5f %s %.5f", name, seed, epoch, row["train_loss"], score_key, val_loss)
        if on_epoch is not None:
            on_epoch(row)
        steps.advance()
        if val_loss < result.best_val_loss:
            result.best_val_loss, result.best_epoch, stale = val_loss, epoch, 0
            best = _snapshot(model)
        else:
            stale += 1
            if stale >= config.patience:
                LOG.info("%s seed %d: early stop after epoch %d (best %d)", name, seed, epoch, result.best_epoch)
                break
    model.load_state_dict(best)
    result.seconds = time.perf_counter() - started
    steps.finish()
    return result


def validation_mse(model: Forecaster, data: WindowArrays, batch_size: int, amp: bool = False) -> float:
    """The evaluation's metric on `data`: MSE per ticker, then the mean over tickers."""
    return per_ticker_mse(predict(model, data.x, batch_size, amp=amp), data.y, data.ticker_groups())


def fit(
    model: Forecaster,
    train: WindowArrays,
    val: WindowArrays,
    config: TrainingConfig,
    seed: int,
    on_epoch: Callable[[dict], None] | None = None,
    progress: PercentHook | None = None,
) -> TrainResult:
    """Train in place; on return the model holds its best-validation weights (per-ticker MSE)."""
    if val.tickers is None:
        LOG.warning("%s: validation windows carry no tickers; early stopping pools them as one ticker", model.name)
    return train_loop(
        model,
        config,
        seed,
        batches=lambda rng, device: train.batches(config.batch_size, device, rng),
        loss=lambda batch: model.loss(batch.x, batch.y),
        score=lambda device: validation_mse(model, val, config.batch_size, config.mixed_precision),
        name=model.name,
        on_epoch=on_epoch,
        progress=progress,
    )


def predict(
    model: Forecaster,
    x: np.ndarray,
    batch_size: int = 4096,
    device: torch.device | None = None,
    amp: bool = False,
) -> np.ndarray:
    """(n, T, C) -> (n, H) float64 forecasts, in eval mode and without gradients."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad(), _autocast(device, amp):
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
