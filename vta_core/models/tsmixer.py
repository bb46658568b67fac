"""TSMixer (Chen et al., TMLR 2023), regression version.

Each block: time mixing (norm -> Linear(T -> T) over time, ReLU, dropout, residual) then feature
mixing (norm -> Linear(C -> ff) -> ReLU -> dropout -> Linear(ff -> C) -> dropout, residual). A final
Linear(T -> H) over time maps every channel to the horizon; the target channel is returned.
"""

from __future__ import annotations

import torch
from torch import nn

from vta_core.config.model_sections import TSMixerConfig
from vta_core.models.base import DataShape, Forecaster, register


def _norm(kind: str, lookback: int, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(lookback * channels)
    if kind == "layer":
        return nn.LayerNorm([lookback, channels])
    return nn.Identity()


class _Norm(nn.Module):
    """Batch norm over the flattened (T, C) features, as in the reference; layer norm over (T, C)."""

    def __init__(self, kind: str, lookback: int, channels: int):
        super().__init__()
        self.kind = kind
        self.norm = _norm(kind, lookback, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        if self.kind == "batch":
            b, t, c = x.shape
            return self.norm(x.reshape(b, t * c)).reshape(b, t, c)
        return self.norm(x)


class MixerBlock(nn.Module):
    def __init__(self, lookback: int, channels: int, ff_dim: int, dropout: float, norm: str):
        super().__init__()
        self.time_norm = _Norm(norm, lookback, channels)
        self.time_mlp = nn.Sequential(nn.Linear(lookback, lookback), nn.ReLU(), nn.Dropout(dropout))
        self.feature_norm = _Norm(norm, lookback, channels)
        self.feature_mlp = nn.Sequential(
            nn.Linear(channels, ff_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(ff_dim, channels),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        mixed = self.time_mlp(self.time_norm(x).transpose(1, 2)).transpose(1, 2)
        x = x + mixed
        return x + self.feature_mlp(self.feature_norm(x))


class TSMixer(Forecaster):
    name = "tsmixer"
    config: TSMixerConfig

    def __init__(self, config: TSMixerConfig, shape: DataShape):
        super().__init__(shape)
        self.config = config
        self.blocks = nn.Sequential(
            *(
                MixerBlock(shape.lookback, shape.channels, config.ff_dim, config.dropout, config.norm)
                for _ in range(config.n_blocks)
            )
        )
        self.head = nn.Linear(shape.lookback, shape.horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H)
        mixed = self.blocks(x)
        return self.head(mixed.transpose(1, 2))[:, self.shape.target_channel, :]


@register("tsmixer", TSMixerConfig)
def build_tsmixer(config: TSMixerConfig, shape: DataShape) -> TSMixer:
    return TSMixer(config, shape)
