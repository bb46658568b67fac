"""Training of psi on the shared loop (`models.trainer.train_loop`): condition dropout to the null
token, checkpoint chosen on the guided forecast's per-ticker validation MSE.

Every batch indexes all per-window arrays (x, y, c, available, y_phi) with the same row numbers, so
shuffled batches keep each window with its own conditioning (the paper's code misaligned them).
With a frozen backbone, its view of every train and validation window is computed once, before the first
epoch, and batches index it like the arrays: the same result as running the backbone in every batch, and
the cpu preset's fusion epochs fell from about 4 s to a fraction of a second.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from vta_core.config.model_sections import FusionTrainingConfig
from vta_core.evaluation.selection import per_ticker_mse
from vta_core.fusion.guidance import guided
from vta_core.fusion.model import BackboneView, FusionModel
from vta_core.models.trainer import TrainResult, resolve_device, train_loop
from vta_core.progress import PercentHook

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionArrays:
    x: np.ndarray  # (n, T, C) scaled inputs
    y: np.ndarray  # (n, H) scaled targets
    c: np.ndarray  # (n, k) conditioning attributes (scaled space)
    available: np.ndarray  # (n,) bool: a usable reasoning forecast exists
    y_phi: np.ndarray  # (n, H) the backbone's unconditional forecast
    # (n,) each window's ticker, for the per-ticker validation MSE; None pools all windows as one ticker.
    tickers: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.x)
        if any(len(a) != n for a in (self.y, self.c, self.available, self.y_phi)):
            raise ValueError(
                "fusion arrays differ in length: "
                f"{[len(a) for a in (self.x, self.y, self.c, self.available, self.y_phi)]}"
            )
        if self.tickers is not None and np.shape(self.tickers) != (n,):
            raise ValueError(f"expected tickers ({n},), got {np.shape(self.tickers)}")

    def ticker_groups(self) -> np.ndarray:
        return self.tickers if self.tickers is not None else np.zeros(len(self.y), dtype=np.int64)

    def tensors(self, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        f32 = lambda a: torch.as_tensor(np.asarray(a[rows], dtype=np.float32), device=device)  # noqa: E731
        return f32(self.x), f32(self.y), f32(self.c), torch.as_tensor(self.available[rows], device=device)


@dataclass(frozen=True)
class FusionBatch:
    """One training batch; `use_condition` is False where c is missing or dropped to the null token."""

    x: torch.Tensor  # (B, T, C)
    y: torch.Tensor  # (B, H)
    c: torch.Tensor  # (B, k)
    use_condition: torch.Tensor  # (B,) bool
    view: BackboneView | None = None  # the frozen backbone's precomputed view of x; None: run the backbone

    def __len__(self) -> int:
        return len(self.y)


def backbone_views(model: FusionModel, data: FusionArrays, batch_size: int = 4096) -> BackboneView:
    """The frozen backbone's view of every window, once (it does not change while psi trains)."""
    if model.finetune_backbone:
        raise ValueError("a fine-tuned backbone changes every step: its view cannot be computed once")
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        return BackboneView.concat(
            [
                model.view(data.tensors(np.arange(start, min(start + batch_size, len(data.x))), device)[0])
                for start in range(0, max(len(data.x), 1), batch_size)
            ]
        )


def _psi(model: FusionModel, x: torch.Tensor, c: torch.Tensor, use: torch.Tensor, view: BackboneView | None):
    return model(x, c, use) if view is None else model.conditioned(view, c, use)


def predict_conditional(
    model: FusionModel, data: FusionArrays, batch_size: int = 4096, views: BackboneView | None = None
) -> np.ndarray:
    """y_psi(c) for every window (the null token where no forecast is available); `views`: the frozen
    backbone's precomputed view of `data` (backbone_views), else the backbone runs here."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data.x), batch_size):
            rows = np.arange(start, min(start + batch_size, len(data.x)))
            x, _, c, available = data.tensors(rows, device)
            view = None if views is None else views.rows(torch.as_tensor(rows, device=device))
            out.append(_psi(model, x, c, available, view).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros_like(data.y_phi)


def guided_mse(model: FusionModel, data: FusionArrays, scale: float, views: BackboneView | None = None) -> float:
    """Per-ticker MSE (the evaluation's metric) of the guided forecast at `scale`."""
    y = guided(data.y_phi, predict_conditional(model, data, views=views), scale, data.available)
    return per_ticker_mse(y, data.y, data.ticker_groups())


def training_batches(
    data: FusionArrays,
    batch_size: int,
    p_uncond: float,
    rng: np.random.Generator,
    device: torch.device,
    views: BackboneView | None = None,
) -> Iterator[FusionBatch]:
    """One epoch of shuffled batches with condition dropout: each window's c is replaced by the null
    token with probability p_uncond, so the same psi also learns the unconditional forecast."""
    order = rng.permutation(len(data.x))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        x, y, c, available = data.tensors(rows, device)
        keep = torch.as_tensor(rng.random(len(rows)) >= p_uncond, device=device)
        view = None if views is None else views.rows(torch.as_tensor(rows, device=device))
        yield FusionBatch(x, y, c, available & keep, view)


def fit_fusion(
    model: FusionModel,
    train: FusionArrays,
    val: FusionArrays,
    config: FusionTrainingConfig,
    seed: int,
    progress: PercentHook | None = None,
    reuse_views: bool | None = None,
) -> TrainResult:
    """Train in place; on return the model holds the weights with the lowest guided validation MSE.

    The checkpoint is chosen on the forecast fusion is used for (guided at `selection_scale`), not on
    psi's own loss. Always fp32: psi has trained without autocast since it was written, and honouring
    `train.mixed_precision` would change its CUDA results. `progress(percent)` hears of every epoch.
    `reuse_views` (default: whenever the backbone is frozen) computes the backbone's view of each window once.
    """
    if val.tickers is None:
        LOG.warning("fusion: validation windows carry no tickers; checkpoint selection pools them as one ticker")
    batch_size = config.train.batch_size
    reuse = not model.finetune_backbone if reuse_views is None else reuse_views
    device = resolve_device(config.train.device)
    model.to(device)
    train_views, val_views = (backbone_views(model, train), backbone_views(model, val)) if reuse else (None, None)

    def loss(batch: FusionBatch) -> torch.Tensor:
        return torch.nn.functional.mse_loss(
            _psi(model, batch.x, batch.c, batch.use_condition, batch.view).float(), batch.y
        )

    return train_loop(
        model,
        config.train,
        seed,
        batches=lambda rng, device: training_batches(train, batch_size, config.p_uncond, rng, device, train_views),
        loss=loss,
        score=lambda device: guided_mse(model, val, config.selection_scale, val_views),
        name="fusion",
        amp=False,
        score_key="val_guided_mse",
        progress=progress,
    )
