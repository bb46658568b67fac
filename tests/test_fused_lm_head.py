"""`training.labelled_positions_only`: TRL's fused LM head scores only the labelled positions on CPU too,
with the loss and gradients of the full projection, and TRL's switch is restored afterwards."""

from __future__ import annotations

import pytest
import torch
from trl.trainer import utils as trl_utils

from vta_core.config.reasoner_sections import ReasonerConfig, TinyModelConfig
from vta_core.reasoner import loading, tiny_model, training

WORDS = "close above the band while RSI falls and MACD turns negative after a strong trend".split()
TINY = TinyModelConfig(
    vocab_size=320, hidden_size=16, layers=2, heads=4, kv_heads=2, intermediate_size=32, max_positions=256
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts = [" ".join(WORDS[i:] + WORDS[:i]) + " 1.25 -0.5" for i in range(len(WORDS))]
    return tiny_model.build_tiny_model(texts, TINY, tmp_path_factory.mktemp("fused") / "model", seed=1)


def _batch(tokenizer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded rows whose labels cover only a completion of varying length (prompt and padding -100)."""
    rows = [tokenizer(" ".join(WORDS[: 4 + i]))["input_ids"] for i in range(4)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
        labels[i, len(row) - 2 - i : len(row)] = torch.tensor(row[len(row) - 2 - i :])
    return ids, mask, labels


def _loss_and_grads(model_dir, compact: bool, scored: list[int]):
    model, tokenizer = loading.load_checkpoint(
        loading.Checkpoint(str(model_dir), None), ReasonerConfig(device="cpu", tiny=TINY), trainable=True
    )
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids, mask, labels = _batch(tokenizer)
    apply = trl_utils._ChunkedLogProbFunction.apply

    def counting(hidden, *args):
        scored.append(hidden.shape[0])
        return apply(hidden, *args)

    trl_utils._ChunkedLogProbFunction.apply = counting
    try:
        if compact:
            with training.labelled_positions_only():
                out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        else:
            out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    finally:
        trl_utils._ChunkedLogProbFunction.apply = apply
    out.loss.backward()
    labelled = int((labels[:, 1:] != -100).sum())
    return out.loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None], labelled, ids


def test_only_labelled_positions_are_projected_with_the_same_loss_and_gradients(model_dir):
    full_rows: list[int] = []
    compact_rows: list[int] = []
    full_loss, full_grads, labelled, ids = _loss_and_grads(model_dir, compact=False, scored=full_rows)
    compact_loss, compact_grads, _, _ = _loss_and_grads(model_dir, compact=True, scored=compact_rows)
    assert full_rows == [ids.shape[0] * (ids.shape[1] - 1)]  # every shifted position, labelled or not
    assert compact_rows == [labelled] and labelled < full_rows[0]
    torch.testing.assert_close(compact_loss, full_loss, rtol=1e-6, atol=1e-7)
    assert len(compact_grads) == len(full_grads) > 0
    for a, b in zip(compact_grads, full_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_the_switch_is_restored_even_when_training_fails():
    original = trl_utils._use_triton
    with pytest.raises(RuntimeError, match="boom"), training.labelled_positions_only():
        assert trl_utils._use_triton(torch.device("cpu")) is True
        raise RuntimeError("boom")
    assert trl_utils._use_triton is original
    assert trl_utils._use_triton(torch.device("cpu")) is False


def test_a_trl_without_the_switch_trains_unchanged(monkeypatch, caplog):
    monkeypatch.delattr(trl_utils, "_use_triton")
    with caplog.at_level("WARNING"), training.labelled_positions_only():
        assert not hasattr(trl_utils, "_use_triton")
    assert "scores every position" in caplog.text
