"""CALF-like backbone phi (after Liu et al., CALF, AAAI 2025), small-transformer version.

    x (B, T, C) --instance norm--> time tokens (B, C, d) = Linear(T -> d) per channel + channel embedding
      temporal branch: tokens -> transformer layers -> shared head -> y_time (B, C, H)   [= y_phi]
      textual branch:  cross-attention(query = tokens, key = value = language prototypes, projected once)
                       -> transformer layers (frozen except layer norms) -> shared head -> y_text
With `anchor_last` (our addition, on by default) the shared head predicts the change from the last
observed value instead of the level, which makes persistence the zero-initialised starting point.
Loss = task(y_time, y) + w_out * L1(y_time, y_text) + w_feat * sum_l decay^(L-1-l) L1(h_time_l, h_text_l),
each weight switchable for ablation. Outputs are de-normalised per sample and channel.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vta_core.config.model_sections import BackboneConfig
from vta_core.models.base import DataShape, Forecaster, register

EPS = 1e-5


def _encoder_layer(config: BackboneConfig) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(
        config.d_model, config.n_heads, 4 * config.d_model, config.dropout, batch_first=True, norm_first=True
    )


class CalfBackbone(Forecaster):
    name = "calf"
    config: BackboneConfig
    prototypes: torch.Tensor  # a registered buffer

    def __init__(self, config: BackboneConfig, shape: DataShape, n_prototypes: int, prototype_dim: int):
        super().__init__(shape)
        self.config = config
        if config.branches == "pretrained":
            from vta_core.models.pretrained_layers import pretrained_branches

            temporal, textual, d = pretrained_branches(
                config.pretrained_source,
                config.pretrained_layers,
                config.lora_rank,
                config.lora_alpha,
                config.lora_targets,
            )
        else:
            d = config.d_model
            temporal = nn.ModuleList(_encoder_layer(config) for _ in range(config.n_layers))
            textual = nn.ModuleList(_encoder_layer(config) for _ in range(config.n_layers))
            if config.freeze_textual:
                for name, parameter in textual.named_parameters():
                    parameter.requires_grad = "norm" in name
        self.register_buffer("prototypes", torch.zeros(n_prototypes, prototype_dim))  # set by set_prototypes
        self.embed = nn.Linear(shape.lookback, d)
        self.channel_embedding = nn.Parameter(torch.zeros(1, shape.channels, d))
        self.prototype_projection = nn.Linear(prototype_dim, d)
        self.cross_attention = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
        self.temporal, self.textual = temporal, textual
        self.head = nn.Linear(d, shape.horizon)

    def init_kwargs(self) -> dict:
        return {"n_prototypes": int(self.prototypes.shape[0]), "prototype_dim": int(self.prototypes.shape[1])}

    def set_prototypes(self, prototypes: torch.Tensor | np.ndarray) -> None:
        self.prototypes.copy_(torch.as_tensor(prototypes, dtype=self.prototypes.dtype))

    def branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list, list]:
        """Normalised-space outputs (B, C, H) of both branches and their per-layer hidden states."""
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + EPS)
        tokens = self.embed(((x - mean) / std).transpose(1, 2)) + self.channel_embedding  # (B, C, d)
        text = self._attend_to_prototypes(tokens)  # (B, C, d)
        hidden_time, hidden_text, h_time, h_text = [], [], tokens, text
        for time_layer, text_layer in zip(self.temporal, self.textual, strict=False):
            h_time, h_text = time_layer(h_time), text_layer(h_text)
            hidden_time.append(h_time)
            hidden_text.append(h_text)
        self._stats = (mean, std)
        return self._anchor(self.head(h_time), x), self._anchor(self.head(h_text), x), hidden_time, hidden_text

    def _attend_to_prototypes(self, tokens: torch.Tensor) -> torch.Tensor:
        """Cross-attention (B, C, d) -> (B, C, d) of the time tokens to the language prototypes, with the weights
        of `self.cross_attention`. The prototypes are the same for every window, so their keys and values are
        projected once per batch, not once per window as nn.MultiheadAttention would on expanded keys (that
        projection and its copies were a third of a CPU training step)."""
        attention = self.cross_attention
        heads = attention.num_heads
        w_q, w_k, w_v = attention.in_proj_weight.chunk(3)
        b_q, b_k, b_v = attention.in_proj_bias.chunk(3)
        prototypes = self.prototype_projection(self.prototypes)  # (k, d)
        q = nn.functional.linear(tokens, w_q, b_q).unflatten(-1, (heads, -1)).transpose(1, 2)  # (B, h, C, d/h)
        k = nn.functional.linear(prototypes, w_k, b_k).unflatten(-1, (heads, -1)).transpose(0, 1)  # (h, k, d/h)
        v = nn.functional.linear(prototypes, w_v, b_v).unflatten(-1, (heads, -1)).transpose(0, 1)  # (h, k, d/h)
        weights = torch.softmax(q @ k.transpose(1, 2) * q.shape[-1] ** -0.5, dim=-1)  # (B, h, C, k)
        weights = nn.functional.dropout(weights, attention.dropout, self.training)
        mixed = (weights @ v).transpose(1, 2).flatten(2)  # (B, C, d)
        return attention.out_proj(mixed)

    def _denormalise(self, y: torch.Tensor) -> torch.Tensor:  # (B, C, H) -> (B, C, H)
        mean, std = self._stats
        return y * std.transpose(1, 2) + mean.transpose(1, 2)

    def _anchor(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """With `anchor_last`, the head predicts the change from the last observed (normalised) value."""
        if not self.config.anchor_last:
            return y
        mean, std = self._stats
        last = ((x[:, -1:, :] - mean) / std).transpose(1, 2)  # (B, C, 1)
        return y + last

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H): the unconditional y_phi
        y_time, _, _, _ = self.branches(x)
        return self._denormalise(y_time)[:, self.shape.target_channel, :]

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        y_time, y_text, hidden_time, hidden_text = self.branches(x)
        forecast = self._denormalise(y_time)[:, self.shape.target_channel, :].float()
        task = nn.functional.mse_loss(forecast, y) if cfg.task_loss == "mse" else nn.functional.l1_loss(forecast, y)
        total = cfg.task_loss_weight * task
        if cfg.output_loss_weight > 0:
            total = total + cfg.output_loss_weight * nn.functional.l1_loss(y_time, y_text)
        if cfg.feature_loss_weight > 0:
            layers = len(hidden_time)
            feature = sum(
                cfg.feature_decay ** (layers - 1 - i) * nn.functional.l1_loss(a, b)
                for i, (a, b) in enumerate(zip(hidden_time, hidden_text, strict=False))
            )
            total = total + cfg.feature_loss_weight * feature
        return total


@register("calf", BackboneConfig)
def build_calf(
    config: BackboneConfig, shape: DataShape, n_prototypes: int = 8, prototype_dim: int = 16
) -> CalfBackbone:
    return CalfBackbone(config, shape, n_prototypes, prototype_dim)
