"""The CALF backbone's prototype cross-attention (keys and values projected once per batch) against
torch's nn.MultiheadAttention on keys expanded to every window, with the same weights."""

from __future__ import annotations

import torch

from vta_core.config.model_sections import BackboneConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.models import base, trainer


def _calf(dropout: float):
    trainer.seed_everything(0)
    config = BackboneConfig(d_model=16, n_heads=4, n_layers=1, dropout=dropout)
    net = base.build("calf", config, base.DataShape(10, 5, 6, TARGET_COLUMN), n_prototypes=12, prototype_dim=24)
    net.set_prototypes(torch.randn(12, 24))
    return net


def _reference(net, tokens: torch.Tensor) -> torch.Tensor:
    keys = net.prototype_projection(net.prototypes).unsqueeze(0).expand(tokens.shape[0], -1, -1)
    out, _ = net.cross_attention(tokens, keys, keys, need_weights=False)
    return out


def test_prototype_attention_equals_multihead_attention_on_expanded_keys():
    net = _calf(dropout=0.0).eval()
    tokens = torch.randn(7, 6, 16, requires_grad=True)
    ours, reference = net._attend_to_prototypes(tokens), _reference(net, tokens)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    # the same gradients for the tokens and for every attention weight
    inputs = [tokens, *net.cross_attention.parameters()]
    grads = [torch.autograd.grad(y.square().sum(), inputs) for y in (ours, reference)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_attention_dropout_acts_in_training_only():
    net = _calf(dropout=0.5)
    tokens = torch.randn(4, 6, 16)
    net.eval()
    torch.testing.assert_close(net._attend_to_prototypes(tokens), _reference(net, tokens), rtol=1e-5, atol=1e-6)
    net.train()
    torch.manual_seed(1)
    first = net._attend_to_prototypes(tokens)
    assert not torch.allclose(first, net._attend_to_prototypes(tokens))  # a fresh mask each call
    assert not torch.allclose(first, _reference(net.eval(), tokens))
