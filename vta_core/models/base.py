"""The one interface of every learned forecaster.

A forecaster maps scaled input windows (batch, lookback, channels) to scaled forecasts of the
target channel (batch, horizon). It is built from a frozen config plus the data shape, so a saved
checkpoint (safetensors weights + JSON config) rebuilds exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from pydantic import BaseModel
from torch import nn


@dataclass(frozen=True)
class DataShape:
    lookback: int
    horizon: int
    channels: int
    target_channel: int


class Forecaster(nn.Module):
    """Base class: subclasses implement `forward(x) -> (batch, horizon)` and keep `shape`."""

    name: str = "forecaster"
    config: BaseModel  # set by every subclass; a checkpoint records it

    def __init__(self, shape: DataShape):
        super().__init__()
        self.shape = shape

    def describe(self) -> dict:
        return {"model": self.name, "shape": asdict(self.shape)}

    def init_kwargs(self) -> dict:
        """Constructor arguments beyond (config, shape) that a checkpoint must record to rebuild the model."""
        return {}

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss; models with auxiliary objectives override it."""
        return torch.nn.functional.mse_loss(self(x).float(), y)


Builder = Callable[..., Forecaster]  # (config, shape, **init_kwargs) -> Forecaster
# name -> (config class, builder): a checkpoint's config.json names both, so loading needs no pickles.
REGISTRY: dict[str, tuple[type[BaseModel], Builder]] = {}


def register(name: str, config_class: type[BaseModel]) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        REGISTRY[name] = (config_class, builder)
        return builder

    return add


class UnknownModelError(KeyError):
    """A model name no forecaster is registered under."""


def build(name: str, config: BaseModel, shape: DataShape, **init_kwargs: object) -> Forecaster:
    if name not in REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name][1](config, shape, **init_kwargs)


def config_class(name: str) -> type[BaseModel]:
    if name not in REGISTRY:
        raise UnknownModelError(f"unknown model {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name][0]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def as_tensor(array, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(array, dtype=torch.float32, device=device)
