"""Fusion model psi: the trained CALF-like backbone plus a conditioning path for c.

    x (B, T, C) -> backbone branches -> temporal forecast y_time (B, H) and the target channel's last
                   hidden state h (B, d), both in the instance-normalised space
    c (B, k)    -> normalised like the input, minus the last value -> MLP -> e (B, d)
                   (the learned null token replaces e where the condition is dropped or missing)
    y_psi       =  denormalise(y_time + MLP([h, e]))          # correction head zero-initialised
Because the correction starts at zero, psi starts as the backbone: y_psi(c) = y_phi before training.
A frozen backbone stays in eval mode while psi trains, so what psi reads from it (`BackboneView`) is what
inference reads, and training computes it once per window instead of once per epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from vta_core.models.calf import CalfBackbone


class BackboneView(NamedTuple):
    """What psi reads from the backbone for B windows, all for the target channel."""

    y_time: torch.Tensor  # (B, H) the temporal branch's forecast, instance-normalised
    hidden: torch.Tensor  # (B, d) the temporal branch's last hidden state
    mean: torch.Tensor  # (B, 1) the instance-norm statistics
    std: torch.Tensor  # (B, 1)
    last: torch.Tensor  # (B, 1) the last observed value, normalised

    def rows(self, index: torch.Tensor) -> BackboneView:
        return BackboneView(*(t[index] for t in self))

    @staticmethod
    def concat(views: list[BackboneView]) -> BackboneView:
        return BackboneView(*(torch.cat(parts) for parts in zip(*views, strict=True)))


class FusionModel(nn.Module):
    def __init__(self, backbone: CalfBackbone, n_attributes: int, hidden: int, finetune_backbone: bool):
        super().__init__()
        d = backbone.head.in_features
        horizon = backbone.shape.horizon
        self.backbone = backbone
        self.finetune_backbone = finetune_backbone
        for parameter in backbone.parameters():
            parameter.requires_grad &= finetune_backbone
        self.encode = nn.Sequential(nn.Linear(n_attributes, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.null = nn.Parameter(torch.zeros(d))
        hidden_layer, output_layer = nn.Linear(2 * d, hidden), nn.Linear(hidden, horizon)
        self.correct = nn.Sequential(hidden_layer, nn.GELU(), output_layer)
        nn.init.zeros_(output_layer.weight)
        nn.init.zeros_(output_layer.bias)

    def train(self, mode: bool = True) -> FusionModel:
        super().train(mode)
        if not self.finetune_backbone:
            self.backbone.eval()  # frozen: no dropout, so its view of a window never changes (and is cached)
        return self

    def view(self, x: torch.Tensor) -> BackboneView:
        """x (B, T, C) -> the backbone's view of each window (with gradients only when it is fine-tuned)."""
        target = self.backbone.shape.target_channel
        with torch.set_grad_enabled(self.finetune_backbone and torch.is_grad_enabled()):
            y_time, _, hidden_time, _ = self.backbone.branches(x)  # (B, C, H), [(B, C, d)] normalised
        mean, std = (s[:, 0, target : target + 1] for s in self.backbone._stats)  # (B, 1) each
        last = (x[:, -1, target : target + 1] - mean) / std  # (B, 1)
        return BackboneView(y_time[:, target, :], hidden_time[-1][:, target, :], mean, std, last)

    def forward(self, x: torch.Tensor, c: torch.Tensor, use_condition: torch.Tensor) -> torch.Tensor:
        """x (B, T, C), c (B, k), use_condition (B,) bool -> y_psi (B, H) in the scaled space."""
        return self.conditioned(self.view(x), c, use_condition)

    def conditioned(self, view: BackboneView, c: torch.Tensor, use_condition: torch.Tensor) -> torch.Tensor:
        """y_psi (B, H) from the backbone's view of the windows and their conditions c (B, k)."""
        relative = (c - view.mean) / view.std - view.last  # (B, k): the forecast's shape around the last value
        embedding = torch.where(use_condition[:, None], self.encode(relative), self.null.expand(len(c), -1))
        correction = self.correct(torch.cat([view.hidden, embedding], dim=-1))  # (B, H)
        return (view.y_time + correction) * view.std + view.mean

    def conditioning_state(self) -> dict[str, torch.Tensor]:
        """Weights of the conditioning path (and of the backbone when fine-tuned), for the checkpoint."""
        return {k: v for k, v in self.state_dict().items() if self.finetune_backbone or not k.startswith("backbone.")}
