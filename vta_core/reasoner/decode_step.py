"""One decoding step of a Llama-family causal LM (Qwen2, Llama) over a preallocated key/value cache.

Why: a decoding step of the tiny reasoner moves one token per row through two small layers, so the
time goes to what surrounds the matrix products in transformers' forward: a growing cache
concatenated every step, a 4-D padding mask rebuilt every step, and attention with a padding mask
off its fast path. Here the cache is one preallocated (rows, kv_heads, capacity, head_dim) buffer per
layer written in place, the padding mask is a boolean (rows, capacity) kept up to date, and the
single query attends with two batched matmuls. The model's own modules (embedding, norms,
projections, rotary embedding, MLP, LM head) do the rest, so any checkpoint of these architectures
(the tiny offline model or a real Qwen2.5) decodes the same; `supports` says which models qualify.
"""

from __future__ import annotations

import torch

SUPPORTED_TYPES = ("qwen2", "llama")


def supports(model) -> bool:
    """A plain (merged) Qwen2/Llama causal LM with full attention in every layer."""
    config = getattr(model, "config", None)
    inner = getattr(model, "model", None)
    if config is None or inner is None or getattr(config, "model_type", None) not in SUPPORTED_TYPES:
        return False
    layers = getattr(inner, "layers", [])
    return all(getattr(layer.self_attn, "sliding_window", None) is None for layer in layers)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class KVDecoder:
    """The cache of a batch of prompts after prefill, and the step that extends it by one token per row."""

    def __init__(self, model, keys: list[torch.Tensor], values: list[torch.Tensor], mask: torch.Tensor, filled: int):
        self.model = model
        # Keys are stored transposed, (B, kv_heads, head_dim, capacity): q @ K then reads them contiguously
        # (1.7x faster attention here); values (B, kv_heads, capacity, head_dim).
        self.keys, self.values = keys, values
        self.mask = mask  # (B, capacity) bool: True where a row has a real token
        self.filled = filled  # columns written so far (same for every row: padding is on the left)

    @classmethod
    def allocate(
        cls, model, rows: int, kv_heads: int, head_dim: int, width: int, extra: int, like: torch.Tensor
    ) -> KVDecoder:
        """An empty cache for `rows` prompts of at most `width` tokens plus `extra` generated ones."""
        shape = (rows, kv_heads, width + extra, head_dim)
        layers = len(model.model.layers)
        keys = [like.new_zeros(shape).transpose(-1, -2).contiguous() for _ in range(layers)]
        values = [like.new_zeros(shape) for _ in range(layers)]
        return cls(model, keys, values, torch.zeros((rows, width + extra), dtype=torch.bool, device=like.device), width)

    def place(self, rows: torch.Tensor, length: int, kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Write a prefilled group of prompts of `length` tokens right-aligned before column `filled`."""
        start = self.filled - length
        for layer, (k, v) in enumerate(kv):
            self.keys[layer][rows, :, :, start : self.filled] = k.transpose(-1, -2)
            self.values[layer][rows, :, start : self.filled] = v
        self.mask[rows, start : self.filled] = True

    def keep(self, rows: torch.Tensor) -> None:
        """Drop every other batch row (finished sequences)."""
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.mask = self.mask[rows]

    def _attend(self, layer: int, q: torch.Tensor, scaling: float) -> torch.Tensor:
        """q (b, heads, head_dim) against the filled cache -> (b, heads * head_dim)."""
        k = self.keys[layer][..., : self.filled]  # (b, kvh, d, T)
        v = self.values[layer][:, :, : self.filled]  # (b, kvh, T, d)
        b, heads, d = q.shape
        kvh = k.shape[1]
        q = q.view(b, kvh, heads // kvh, d)  # query head j reads kv head j // group, as repeat_kv does
        scores = torch.matmul(q, k) * scaling  # (b, kvh, group, T)
        scores = scores.masked_fill(~self.mask[:, None, None, : self.filled], float("-inf"))
        out = torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v)  # (b, kvh, group, d)
        return out.reshape(b, heads * d)

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens (b,), positions (b,) -> next-token logits (b, V); the tokens' keys/values join the cache."""
        inner = self.model.model
        column = self.filled
        self.mask[:, column] = True
        self.filled += 1
        hidden = inner.embed_tokens(tokens.unsqueeze(1))  # (b, 1, hidden)
        cos, sin = inner.rotary_emb(hidden, positions.unsqueeze(1))  # (b, 1, head_dim)
        cos, sin = cos[:, None, 0], sin[:, None, 0]  # (b, 1, head_dim): broadcast over heads
        for index, layer in enumerate(inner.layers):
            attn = layer.self_attn
            d = attn.head_dim
            x = layer.input_layernorm(hidden)[:, 0]  # (b, hidden)
            q = attn.q_proj(x).view(len(x), -1, d)  # (b, heads, d)
            k = attn.k_proj(x).view(len(x), -1, d)  # (b, kvh, d)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            self.keys[index][..., column] = k
            self.values[index][:, :, column] = attn.v_proj(x).view(len(x), -1, d)
            hidden = hidden + attn.o_proj(self._attend(index, q, attn.scaling)).unsqueeze(1)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        return self.model.lm_head(inner.norm(hidden))[:, 0]  # (b, V)
