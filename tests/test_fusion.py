"""Fusion psi: the guidance formula, key-based alignment of c, psi's start and what it learns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vta_core.config.sections import BackboneConfig, FusionTrainingConfig, TrainingConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.fusion.conditioning import ConditioningError, attributes_for
from vta_core.fusion.guidance import guided
from vta_core.fusion.model import FusionModel
from vta_core.fusion.training import FusionArrays, backbone_views, fit_fusion, guided_mse, predict_conditional
from vta_core.models import base, trainer


def test_guidance_formula_on_a_hand_built_example():
    y_phi = np.array([[1.0, 2.0], [10.0, 10.0]])
    y_psi = np.array([[3.0, 6.0], [20.0, 0.0]])
    np.testing.assert_allclose(guided(y_phi, y_psi, 0.5), [[2.0, 4.0], [15.0, 5.0]])
    np.testing.assert_allclose(guided(y_phi, y_psi, 1.0), y_psi)
    np.testing.assert_allclose(guided(y_phi, y_psi, 2.0), [[5.0, 10.0], [30.0, -10.0]])  # s > 1 extrapolates
    assert np.array_equal(guided(y_phi, y_psi, 0.0), y_phi)  # exactly, not approximately
    fallback = guided(y_phi, y_psi, 0.5, available=np.array([True, False]))
    np.testing.assert_allclose(fallback, [[2.0, 4.0], [10.0, 10.0]])
    with pytest.raises(ValueError, match="shape"):
        guided(y_phi, y_psi[:, :1], 0.1)


def _forecast_table(windows: pd.DataFrame, vectors: np.ndarray, model: str = "reasoner") -> pd.DataFrame:
    horizon = vectors.shape[1]
    return pd.DataFrame(
        {
            "model": model,
            "seed": -1,
            "fold": 0,
            "ticker": np.repeat(windows["ticker"].to_numpy(), horizon),
            "split": np.repeat(windows["split"].to_numpy(), horizon),
            "window_end_date": np.repeat(windows["end_date"].to_numpy(), horizon),
            "step": np.tile(np.arange(1, horizon + 1), len(windows)),
            "y_true": 0.0,
            "y_hat": vectors.reshape(-1),
        }
    )


@pytest.fixture
def index():
    dates = pd.date_range("2017-01-02", periods=6, freq="B")
    return pd.DataFrame({"ticker": ["AAA"] * 6 + ["BBB"] * 6, "split": ["val"] * 12, "end_date": list(dates) * 2})


def test_attributes_follow_keys_not_row_order(index):
    vectors = np.arange(12 * 3, dtype=float).reshape(12, 3) ** 1.5
    table = _forecast_table(index, vectors)
    c, available = attributes_for(index, table.sample(frac=1.0, random_state=0), ("min", "mean", "max", "last"), 3)
    assert available.all()
    np.testing.assert_allclose(c, np.c_[vectors.min(1), vectors.mean(1), vectors.max(1), vectors[:, -1]])
    # The windows in another order get the same rows, reordered with them.
    order = np.random.default_rng(1).permutation(12)
    c2, _ = attributes_for(index.iloc[order], table, ("min", "mean", "max", "last"), 3)
    np.testing.assert_allclose(c2, c[order])


def test_windows_without_a_forecast_are_marked_unavailable(index):
    vectors = np.ones((12, 3))
    table = _forecast_table(index.iloc[2:], vectors[2:])
    c, available = attributes_for(index, table, ("mean",), 3)
    assert available.tolist() == [False, False] + [True] * 10
    assert (c[:2] == 0).all()


def test_bad_forecast_tables_are_refused(index):
    table = _forecast_table(index, np.ones((12, 3)))
    with pytest.raises(ConditioningError, match="repeat step"):
        attributes_for(index, pd.concat([table, table.iloc[:1]]), ("mean",), 3)
    with pytest.raises(ConditioningError, match="several models"):
        attributes_for(index, pd.concat([table, table.assign(model="other")]), ("mean",), 3)
    with pytest.raises(ConditioningError, match="lack horizon steps"):
        attributes_for(index, table, ("mean",), 4)
    with pytest.raises(ConditioningError, match="unknown conditioning attributes"):
        attributes_for(index, table, ("median",), 3)


def _backbone(seed: int = 0):
    trainer.seed_everything(seed)
    config = BackboneConfig(d_model=16, n_heads=2, n_layers=1, dropout=0.0)
    net = base.build("calf", config, base.DataShape(10, 5, 6, TARGET_COLUMN), n_prototypes=8, prototype_dim=16)
    net.set_prototypes(torch.randn(8, 16))
    return net.eval()


def _oracle_arrays(n: int, seed: int, backbone) -> FusionArrays:
    """Random walks; c = (min, mean, max) of the true future, so a well-aligned psi can use it."""
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(0, 0.2, size=(n, 15)), axis=1)
    x = np.repeat(path[:, :10, None], 6, axis=2).astype(np.float32)
    y = path[:, 10:]
    c = np.c_[y.min(1), y.mean(1), y.max(1)]
    return FusionArrays(x, y, c, np.ones(n, dtype=bool), trainer.predict(backbone, x))


def test_psi_starts_as_the_backbone():
    net = _backbone()
    data = _oracle_arrays(64, 0, net)
    psi = FusionModel(net, 3, 16, finetune_backbone=False)
    np.testing.assert_allclose(predict_conditional(psi, data), data.y_phi, atol=1e-5)


def test_batches_keep_each_window_with_its_own_condition():
    """Shuffled batches must carry each window's own c: a lookup by batch position would pair window
    rows[i] with c[start + i] and fail here."""
    n = 50
    x = np.zeros((n, 10, 6), dtype=np.float32)
    x[:, -1, TARGET_COLUMN] = np.arange(n)  # the window's id, readable from its input
    data = FusionArrays(
        x, np.zeros((n, 5)), np.arange(n, dtype=float)[:, None] * 10, np.ones(n, dtype=bool), np.zeros((n, 5))
    )
    rows = np.random.default_rng(0).permutation(n)[:16]
    xb, _, cb, _ = data.tensors(rows, torch.device("cpu"))
    np.testing.assert_array_equal(cb[:, 0].numpy(), xb[:, -1, TARGET_COLUMN].numpy() * 10)


def test_psi_learns_to_use_an_informative_condition_and_selection_uses_the_guided_forecast():
    net = _backbone()
    train, val = _oracle_arrays(2000, 1, net), _oracle_arrays(400, 2, net)
    config = FusionTrainingConfig(
        hidden=32,
        p_uncond=0.3,
        selection_scale=1.0,
        train=TrainingConfig(epochs=25, patience=25, batch_size=128, learning_rate=3e-3),
    )
    psi = FusionModel(net, 3, 32, finetune_backbone=False)
    before = guided_mse(psi, val, 1.0)
    result = fit_fusion(psi, train, val, config, seed=0)
    after = guided_mse(psi, val, 1.0)
    assert after == pytest.approx(result.best_val_loss, rel=1e-5)  # the kept weights are the selected ones
    assert after < 0.5 * before, (before, after)
    # Shuffling c across windows destroys the gain: the model really reads each window's own c.
    scrambled = FusionArrays(
        val.x, val.y, val.c[np.random.default_rng(3).permutation(len(val.c))], val.available, val.y_phi
    )
    assert guided_mse(psi, scrambled, 1.0) > 2 * after
    # The null token (no forecast) gives the unconditional psi, and guidance falls back to y_phi exactly.
    none = FusionArrays(val.x, val.y, val.c, np.zeros(len(val.c), dtype=bool), val.y_phi)
    assert guided_mse(psi, none, 1.0) == pytest.approx(float(np.mean((val.y_phi - val.y) ** 2)))


def test_same_seed_gives_the_same_fusion_weights():
    states = []
    for _ in range(2):
        net = _backbone()
        train, val = _oracle_arrays(256, 4, net), _oracle_arrays(64, 5, net)
        psi = FusionModel(net, 3, 16, finetune_backbone=True)
        fit_fusion(
            psi, train, val, FusionTrainingConfig(hidden=16, train=TrainingConfig(epochs=2, batch_size=64)), seed=7
        )
        states.append(psi.conditioning_state())
    assert states[0].keys() == states[1].keys() and any(k.startswith("backbone.") for k in states[0])
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def _dropout_backbone(seed: int = 0):
    """A backbone with dropout: a frozen one in train mode would give psi different features every batch."""
    trainer.seed_everything(seed)
    config = BackboneConfig(d_model=16, n_heads=2, n_layers=1, dropout=0.3)
    net = base.build("calf", config, base.DataShape(10, 5, 6, TARGET_COLUMN), n_prototypes=8, prototype_dim=16)
    net.set_prototypes(torch.randn(8, 16))
    return net


def test_a_frozen_backbone_stays_in_eval_mode_while_psi_trains():
    psi = FusionModel(_dropout_backbone(), 3, 16, finetune_backbone=False).train()
    assert psi.training and psi.encode.training and not psi.backbone.training
    tuned = FusionModel(_dropout_backbone(), 3, 16, finetune_backbone=True).train()
    assert tuned.backbone.training  # a fine-tuned backbone trains with its dropout


def test_reused_backbone_views_train_the_same_psi_as_running_the_backbone_every_batch():
    """The frozen backbone's view is computed once (fit_fusion's default); running the backbone in every
    batch and every validation pass instead gives the same history and weights."""
    results, states = [], []
    config = FusionTrainingConfig(hidden=16, p_uncond=0.3, train=TrainingConfig(epochs=3, patience=3, batch_size=64))
    for reuse in (True, False):
        net = _dropout_backbone()
        train, val = _oracle_arrays(300, 8, net.eval()), _oracle_arrays(80, 9, net)
        psi = FusionModel(net, 3, 16, finetune_backbone=False)
        results.append(fit_fusion(psi, train, val, config, seed=3, reuse_views=reuse))
        states.append(psi.conditioning_state())
    assert len(results[0].history) == 3 and results[0].best_epoch == results[1].best_epoch
    for a, b in zip(results[0].history, results[1].history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_guided_mse"] == pytest.approx(b["val_guided_mse"], rel=1e-5)
    assert states[0].keys() == states[1].keys()
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=1e-4, atol=1e-6)


def test_a_fine_tuned_backbone_has_no_reusable_view():
    net = _dropout_backbone()
    psi = FusionModel(net, 3, 16, finetune_backbone=True)
    with pytest.raises(ValueError, match="fine-tuned backbone"):
        backbone_views(psi, _oracle_arrays(8, 0, net.eval()))


def test_validation_picks_the_guidance_scale_and_never_looks_at_test():
    from types import SimpleNamespace

    from vta_core.stages.fusion_inference_stage import choose_scale

    split = np.array(["val"] * 4 + ["test"] * 4)
    index = pd.DataFrame({"split": split, "ticker": ["A", "B"] * 4})
    y_phi = np.zeros((8, 2))
    y_psi = np.ones((8, 2))
    y = np.where(split[:, None] == "val", 0.5, 5.0) * np.ones((8, 2))  # val wants s = 0.5, test would want more
    arrays = FusionArrays(np.zeros((8, 10, 6)), y, np.zeros((8, 3)), np.ones(8, dtype=bool), y_phi)
    assert choose_scale(SimpleNamespace(index=index), arrays, y_psi, (0.0, 0.1, 0.5, 1.0, 2.0)) == 0.5
    # Ties go to the smaller, more conservative scale.
    flat = FusionArrays(arrays.x, arrays.y, arrays.c, arrays.available, y_psi)
    assert choose_scale(SimpleNamespace(index=index), flat, y_psi, (0.0, 1.0)) == 0.0
