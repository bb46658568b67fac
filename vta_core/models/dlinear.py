"""DLinear (Zeng et al., AAAI 2023), as in the reference implementation.

x (B, T, C) -> moving average with replicate padding gives the trend, x - trend the seasonal part;
one Linear(T -> H) per component (shared across channels, or one per channel when `individual`);
forecast = seasonal + trend. All channels are forecast (channel-independent); the target
channel's forecast is returned, like TSLib's "MS" mode.
"""

from __future__ import annotations

import torch
from torch import nn

from vta_core.config.model_sections import DLinearConfig
from vta_core.models.base import DataShape, Forecaster, register


class MovingAverage(nn.Module):
    """Centred moving average over time with the ends replicated (keeps length T)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.pool = nn.AvgPool1d(kernel_size=kernel_size, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        pad = (self.kernel_size - 1) // 2
        front = x[:, :1, :].repeat(1, pad, 1)
        end = x[:, -1:, :].repeat(1, pad, 1)
        padded = torch.cat([front, x, end], dim=1)
        return self.pool(padded.permute(0, 2, 1)).permute(0, 2, 1)


def decompose(x: torch.Tensor, kernel_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(seasonal, trend) of x (B, T, C)."""
    trend = MovingAverage(kernel_size)(x)
    return x - trend, trend


class DLinear(Forecaster):
    name = "dlinear"
    config: DLinearConfig

    def __init__(self, config: DLinearConfig, shape: DataShape):
        super().__init__(shape)
        self.config = config
        self.decomposition = MovingAverage(config.kernel_size)
        count = shape.channels if config.individual else 1
        self.seasonal = nn.ModuleList(nn.Linear(shape.lookback, shape.horizon) for _ in range(count))
        self.trend = nn.ModuleList(nn.Linear(shape.lookback, shape.horizon) for _ in range(count))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H)
        trend = self.decomposition(x)
        seasonal = (x - trend).permute(0, 2, 1)  # (B, C, T)
        trend = trend.permute(0, 2, 1)
        if self.config.individual:
            out = torch.stack(
                [self.seasonal[c](seasonal[:, c]) + self.trend[c](trend[:, c]) for c in range(self.shape.channels)],
                dim=1,
            )
        else:
            out = self.seasonal[0](seasonal) + self.trend[0](trend)  # (B, C, H)
        return out[:, self.shape.target_channel, :]


@register("dlinear", DLinearConfig)
def build_dlinear(config: DLinearConfig, shape: DataShape) -> DLinear:
    return DLinear(config, shape)
