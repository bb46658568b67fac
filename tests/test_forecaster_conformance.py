"""One conformance suite for every learned forecaster, plus DLinear's decomposition reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from evaluation_oracle import evaluation_mse

from vta_core.config.sections import BackboneConfig, DLinearConfig, TrainingConfig, TSMixerConfig
from vta_core.models.base import REGISTRY, DataShape, build
from vta_core.models.dlinear import decompose
from vta_core.models.trainer import WindowArrays, fit, load_checkpoint, predict, save_checkpoint, seed_everything

SHAPE = DataShape(lookback=10, horizon=10, channels=6, target_channel=4)
MODELS = {
    "dlinear-shared": ("dlinear", DLinearConfig()),
    "dlinear-individual": ("dlinear", DLinearConfig(individual=True, kernel_size=5)),
    "tsmixer-batchnorm": ("tsmixer", TSMixerConfig(n_blocks=2, ff_dim=16)),
    "tsmixer-layernorm": ("tsmixer", TSMixerConfig(n_blocks=1, ff_dim=8, norm="layer", dropout=0.0)),
    "calf": ("calf", BackboneConfig(d_model=16, n_heads=2, n_layers=2, dropout=0.0)),
    "calf-task-loss-only": (
        "calf",
        BackboneConfig(
            d_model=16,
            n_heads=2,
            n_layers=1,
            output_loss_weight=0,
            feature_loss_weight=0,
            freeze_textual=False,
            task_loss="l1",
        ),
    ),
    # The first MiniLM layer as both branches (LoRA on the temporal copy), loaded offline.
    "calf-pretrained": (
        "calf",
        BackboneConfig(branches="pretrained", pretrained_layers=1, n_heads=4, dropout=0.0, lora_rank=4),
    ),
}
TRAIN = TrainingConfig(epochs=4, batch_size=32, learning_rate=1e-2, patience=10, device="cpu", seeds=(0,))


def test_every_registered_model_is_covered():
    assert {name for name, _ in MODELS.values()} == set(REGISTRY)


def toy_data(n: int = 256, seed: int = 0) -> WindowArrays:
    """Random-walk windows whose future continues the walk: learnable but not trivial. Three tickers
    with unequal window counts, so the per-ticker validation MSE differs from the pooled one."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 0.1, size=(n, 20)), axis=1)
    x = np.repeat(walk[:, :10, None], 6, axis=2) + rng.normal(0, 0.01, size=(n, 10, 6))
    tickers = rng.choice(np.array(["AAA", "BBB", "CCC"]), size=n, p=[0.6, 0.3, 0.1])
    return WindowArrays(x.astype(np.float32), walk[:, 10:].astype(np.float32), tickers)


def make(key: str, seed: int = 0):
    name, config = MODELS[key]
    seed_everything(seed)
    if name != "calf":
        return build(name, config, SHAPE)
    model = build(name, config, SHAPE, n_prototypes=12, prototype_dim=20)  # prototypes are projected to the width
    model.set_prototypes(torch.as_tensor(np.random.default_rng(7).normal(size=(12, 20))))
    return model


@pytest.mark.parametrize("key", MODELS)
def test_output_shape(key):
    model = make(key).eval()
    assert model(torch.zeros(7, 10, 6)).shape == (7, 10)


@pytest.mark.parametrize("key", MODELS)
def test_loss_decreases_on_a_fixed_batch(key):
    model = make(key)
    data = toy_data(64)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    model.train()
    losses = []
    for _ in range(80):
        optimiser.zero_grad()
        loss = model.loss(x, y)
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses[::10]


@pytest.mark.parametrize("key", MODELS)
def test_same_seed_same_weights_and_predictions(key):
    data = toy_data()
    runs = []
    for _ in range(2):
        model = make(key, seed=3)
        fit(model, data, toy_data(64, seed=1), TRAIN, seed=3)
        runs.append((model.state_dict(), predict(model, data.x)))
    for name, tensor in runs[0][0].items():
        assert torch.equal(tensor, runs[1][0][name]), name
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = make(key, seed=4)
    fit(other, data, toy_data(64, seed=1), TRAIN, seed=4)
    assert not np.array_equal(predict(other, data.x), runs[0][1])


@pytest.mark.parametrize("key", MODELS)
def test_save_load_round_trip(key, tmp_path):
    data = toy_data(64)
    model = make(key)
    result = fit(model, data, data, TRAIN, seed=0)
    assert 0 <= result.best_epoch <= TRAIN.epochs and result.history
    save_checkpoint(model, tmp_path)
    assert (
        (tmp_path / "model.safetensors").is_file()
        and not list(tmp_path.glob("*.pt"))
        and not list(tmp_path.glob("*.pkl"))
    )
    restored = load_checkpoint(tmp_path)
    np.testing.assert_array_equal(predict(restored, data.x), predict(model, data.x))


def test_early_stopping_restores_the_best_epoch():
    """A large learning rate makes validation loss go up and down. The returned model must score the
    lowest validation loss seen (computed here by the evaluation's own code), and the epochs after
    the best one must be worse, so that restoring its weights mattered."""
    data, val = toy_data(128), toy_data(64, seed=2)
    model = make("dlinear-shared")
    config = TRAIN.model_copy(update={"epochs": 30, "patience": 3, "learning_rate": 0.2})
    result = fit(model, data, val, config, seed=0)
    losses = [row["val_loss"] for row in result.history]
    assert 1 <= result.best_epoch and len(losses) == result.best_epoch + config.patience < config.epochs
    assert result.best_val_loss == min(losses) == losses[result.best_epoch - 1]
    assert min(losses[result.best_epoch :]) > result.best_val_loss * 1.01
    kept = evaluation_mse(predict(model, val.x), val.y, val.tickers)
    assert kept == pytest.approx(result.best_val_loss, rel=1e-6)
    assert losses[-1] > kept * 1.01  # the last epoch's weights would have scored worse


def naive_moving_average(x: np.ndarray, kernel: int) -> np.ndarray:
    """Reference: pad by repeating the ends, then average each centred run with a plain loop."""
    pad = (kernel - 1) // 2
    b, t, c = x.shape
    out = np.zeros_like(x)
    for i in range(b):
        for ch in range(c):
            series = [x[i, 0, ch]] * pad + list(x[i, :, ch]) + [x[i, -1, ch]] * pad
            for step in range(t):
                out[i, step, ch] = sum(series[step : step + kernel]) / kernel
    return out


@pytest.mark.parametrize("kernel", [1, 3, 5, 25])
def test_dlinear_decomposition_equals_naive_reference(kernel):
    x = np.random.default_rng(kernel).normal(size=(3, 10, 2))
    seasonal, trend = decompose(torch.as_tensor(x), kernel)
    expected = naive_moving_average(x, kernel)
    np.testing.assert_allclose(trend.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(seasonal.numpy(), x - expected, rtol=1e-12, atol=1e-12)


def test_bad_model_config_is_rejected():
    with pytest.raises(ValueError, match="odd"):
        DLinearConfig(kernel_size=4)


def test_calf_losses_are_switchable_and_prototypes_are_saved(tmp_path):
    full, plain = make("calf"), make("calf")
    plain.config = plain.config.model_copy(update={"output_loss_weight": 0.0, "feature_loss_weight": 0.0})
    data = toy_data(32)
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    assert (
        float(full.loss(x, y))
        > float(plain.loss(x, y))
        == pytest.approx(float(torch.nn.functional.mse_loss(plain(x), y)), rel=1e-6)
    )
    frozen = [n for n, p in full.textual.named_parameters() if not p.requires_grad]
    assert frozen and all("norm" not in n for n in frozen)
    save_checkpoint(full, tmp_path)
    assert torch.equal(load_checkpoint(tmp_path).prototypes, full.prototypes)


def test_pretrained_branches_train_only_lora_and_norms():
    model = make("calf-pretrained")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    temporal = {n for n in trainable if n.startswith("temporal.")}
    assert temporal and all("lora_" in n or "LayerNorm" in n for n in temporal)
    assert all("LayerNorm" in n for n in trainable if n.startswith("textual."))
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    data = toy_data(32)
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.loss(torch.as_tensor(data.x), torch.as_tensor(data.y)).backward()
    optimiser.step()
    assert any(not torch.equal(p, lora_before[n]) for n, p in model.named_parameters() if "lora_B" in n)
