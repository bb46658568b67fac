"""One selection metric: `per_ticker_mse` is the evaluation's MSE, and every hyperparameter choice
(damping, ridge alpha, early-stopping epoch, fusion checkpoint, guidance scale) is made with it.

The data sets are unbalanced on purpose (one ticker with many windows, one with few), so that the
pooled MSE over all windows would rank the candidates differently and these tests would fail."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from evaluation_oracle import evaluation_mse

from vta_core.analyst.rule_based import choose_damping, damped_trend
from vta_core.baselines.ridge import fit_ridge, select_ridge
from vta_core.config.sections import BackboneConfig, FusionTrainingConfig, TrainingConfig
from vta_core.data.windows import TARGET_COLUMN, VOLUME_COLUMN
from vta_core.evaluation.selection import lowest, per_ticker_mse
from vta_core.fusion import training
from vta_core.fusion.guidance import guided
from vta_core.fusion.model import FusionModel
from vta_core.models import base, trainer
from vta_core.models.calf import CalfBackbone


def _pooled(y_hat: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((y_hat - y) ** 2))


def _unbalanced_tickers(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mostly 'AAA', a few others, one ticker with a single window, in shuffled order."""
    tickers = rng.choice(np.array(["AAA", "BBB", "CCC"]), size=n, p=[0.7, 0.25, 0.05])
    tickers[rng.integers(n)] = "ZZZ"
    return tickers


@pytest.mark.parametrize("seed", range(5))
def test_per_ticker_mse_is_the_evaluations_mse(seed):
    rng = np.random.default_rng(seed)
    n, horizon = int(rng.integers(20, 200)), int(rng.integers(1, 12))
    y, y_hat = rng.normal(size=(n, horizon)), rng.normal(size=(n, horizon)) * rng.uniform(0.1, 3.0, size=(n, 1))
    tickers = _unbalanced_tickers(n, rng)
    assert per_ticker_mse(y_hat, y, tickers) == pytest.approx(evaluation_mse(y_hat, y, tickers), rel=1e-12)
    # The two averages really differ here, so a pooled metric would not pass the line above.
    assert per_ticker_mse(y_hat, y, tickers) != pytest.approx(_pooled(y_hat, y), rel=1e-6)


def test_per_ticker_mse_accepts_one_step_forecasts_and_refuses_bad_input():
    assert per_ticker_mse(np.array([1.0, 3.0, 0.0]), np.zeros(3), np.array(["a", "a", "b"])) == 2.5  # (5 + 0) / 2
    with pytest.raises(ValueError, match="shape"):
        per_ticker_mse(np.zeros((3, 2)), np.zeros((3, 3)), np.array(["a"] * 3))
    with pytest.raises(ValueError, match="shape"):
        per_ticker_mse(np.zeros((3, 2)), np.zeros((3, 2)), np.array(["a"] * 2))
    with pytest.raises(ValueError, match="at least one"):
        per_ticker_mse(np.zeros((0, 2)), np.zeros((0, 2)), np.array([], dtype=str))
    assert math.isnan(per_ticker_mse(np.array([[np.nan]]), np.zeros((1, 1)), np.array(["a"])))


def test_lowest_breaks_ties_to_the_smaller_candidate_and_never_prefers_nan():
    assert lowest({1.0: 0.5, 0.0: 0.5, 2.0: 0.7}) == 0.0
    assert lowest({0.0: math.nan, 0.5: 2.0, 1.0: 1.0}) == 1.0
    assert lowest({0.25: math.nan, 0.0: math.nan}) == 0.0
    with pytest.raises(ValueError):
        lowest({})


def test_damping_is_chosen_on_the_per_ticker_mse():
    """'AAA' (9 windows) keeps trending, so drift (phi = 1) is exact for it; 'BBB' (1 window) stops
    dead after a steeper trend, so persistence (phi = 0) is exact for it. Pooled, AAA's windows win;
    per ticker, BBB's larger drift error decides."""
    aaa_history, aaa_future = np.arange(5.0), np.array([5.0, 6.0, 7.0])
    bbb_history, bbb_future = np.arange(0.0, 10.0, 2.0), np.full(3, 8.0)
    history = np.vstack([np.tile(aaa_history, (9, 1)), bbb_history])
    targets = np.vstack([np.tile(aaa_future, (9, 1)), bbb_future])
    tickers = np.array(["AAA"] * 9 + ["BBB"])
    phi, scores = choose_damping(history, targets, tickers, (1.0, 0.0))
    assert phi == 0.0
    assert scores == pytest.approx({"0": 7 / 3, "1": 28 / 3})
    pooled = {p: _pooled(damped_trend(history, 3, p), targets) for p in (0.0, 1.0)}
    assert min(pooled, key=pooled.get) == 1.0  # the choice the old pooled metric made


def test_damping_ties_go_to_persistence():
    history, targets = np.array([[1.0, 1.0, 1.0]]), np.array([[1.0, 1.0]])  # flat: every damping is exact
    assert choose_damping(history, targets, np.array(["A"]), (1.0, 0.5, 0.0))[0] == 0.0


def _ridge_windows(n: int, rng: np.random.Generator, momentum: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    path = np.cumsum(rng.normal(0, 0.1, size=(n, 10)), axis=1)
    inputs = np.repeat(path[:, :, None], 6, axis=2) + rng.normal(0, 0.01, size=(n, 10, 6))
    inputs[:, :, VOLUME_COLUMN] = rng.uniform(0, 1, size=(n, 10))
    last_move = inputs[:, -1, TARGET_COLUMN] - inputs[:, -2, TARGET_COLUMN]
    change = momentum * last_move[:, None] * np.arange(1, 6) + rng.normal(0, noise, size=(n, 5))
    return inputs, inputs[:, -1:, TARGET_COLUMN] + change


def test_ridge_alpha_is_scored_and_chosen_with_the_evaluations_mse():
    rng = np.random.default_rng(0)
    train = _ridge_windows(300, rng, 0.5, 0.02)
    calm, wild = _ridge_windows(90, rng, 0.5, 0.02), _ridge_windows(10, rng, -1.0, 0.3)
    val = (np.concatenate([calm[0], wild[0]]), np.concatenate([calm[1], wild[1]]))
    tickers = np.array(["CALM"] * 90 + ["WILD"] * 10)
    alphas = (0.01, 1.0, 100.0, 1e6)
    model, scores = select_ridge(train, val, alphas, val_tickers=tickers)
    expected = {a: evaluation_mse(fit_ridge(*train, a).predict(val[0]), val[1], tickers) for a in alphas}
    assert scores == pytest.approx(expected, rel=1e-10)
    assert model.alpha == min(expected, key=expected.get)
    pooled = {a: _pooled(fit_ridge(*train, a).predict(val[0]), val[1]) for a in alphas}
    assert all(pooled[a] != pytest.approx(expected[a], rel=1e-3) for a in alphas)


def test_guidance_scale_is_chosen_on_the_per_ticker_mse():
    """y_phi = 0, y_psi = 1. 'AAA' (9 val windows) wants the full correction (s = 1); 'BBB' (1 window)
    is hurt badly by it. Pooled picks s = 1, per ticker s = 0. Test windows would want s = 2."""
    from vta_core.stages.fusion_inference_stage import choose_scale

    split = np.array(["val"] * 10 + ["test"] * 4)
    index = pd.DataFrame({"split": split, "ticker": ["AAA"] * 9 + ["BBB"] + ["AAA", "BBB"] * 2})
    y = np.r_[np.ones(9), -2.0, np.full(4, 2.0)][:, None] * np.ones((14, 2))
    arrays = training.FusionArrays(
        np.zeros((14, 10, 6)), y, np.zeros((14, 3)), np.ones(14, dtype=bool), np.zeros_like(y)
    )
    assert choose_scale(SimpleNamespace(index=index), arrays, np.ones_like(y), (1.0, 0.0, 2.0)) == 0.0


def test_train_loop_restores_the_best_scored_weights_and_stops_on_patience():
    """A scripted validation score: 5 (untrained), then 3, 4, 2, 2, 6, 7. Epoch 3 is best (epoch 4 only
    ties it, and a tie keeps the earlier weights); with patience 3, epochs 4-6 fail to beat it and
    training stops after epoch 6 with epoch 3's weights."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    script = iter([5.0, 3.0, 4.0, 2.0, 2.0, 6.0, 7.0, 8.0])
    weights_after: dict[int, dict[str, torch.Tensor]] = {}

    def capture(row: dict) -> None:
        weights_after[row["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    x, y = torch.randn(8, 2), torch.randn(8, 1)
    result = trainer.train_loop(
        model,
        TrainingConfig(epochs=20, patience=3, learning_rate=0.1, device="cpu"),
        seed=0,
        batches=lambda rng, device: [trainer.Batch(x, y)],
        loss=lambda batch: torch.nn.functional.mse_loss(model(batch.x), batch.y),
        score=lambda device: next(script),
        name="scripted",
        score_key="val_score",
        on_epoch=capture,
    )
    assert [row["val_score"] for row in result.history] == [3.0, 4.0, 2.0, 2.0, 6.0, 7.0]
    assert (result.best_epoch, result.best_val_loss) == (3, 2.0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights_after[3][k]), k
        assert not torch.equal(v, weights_after[4][k]), k  # the weights did move after the best epoch


def test_the_time_series_trainer_scores_validation_per_ticker():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0, 0.1, size=(160, 20)), axis=1)
    x = (np.repeat(walk[:, :10, None], 6, axis=2) + rng.normal(0, 0.01, size=(160, 10, 6))).astype(np.float32)
    train = trainer.WindowArrays(x[:100], walk[:100, 10:].astype(np.float32))
    val = trainer.WindowArrays(x[100:], walk[100:, 10:].astype(np.float32), _unbalanced_tickers(60, rng))
    trainer.seed_everything(0)
    model = base.build("dlinear", base.config_class("dlinear")(), base.DataShape(10, 10, 6, TARGET_COLUMN))
    checked: list[tuple[float, float, float]] = []

    def check(row: dict) -> None:
        y_hat = trainer.predict(model, val.x)
        checked.append((row["val_loss"], evaluation_mse(y_hat, val.y, val.tickers), _pooled(y_hat, val.y)))

    config = TrainingConfig(epochs=3, batch_size=32, learning_rate=1e-2, patience=5, device="cpu")
    trainer.fit(model, train, val, config, seed=0, on_epoch=check)
    assert len(checked) == 3
    for logged, evaluated, pooled in checked:
        assert logged == pytest.approx(evaluated, rel=1e-6)
        assert logged != pytest.approx(pooled, rel=1e-4)


def _fusion_arrays(n: int, seed: int, backbone, tickers: np.ndarray) -> training.FusionArrays:
    rng = np.random.default_rng(seed)
    path = np.cumsum(rng.normal(0, 0.2, size=(n, 15)), axis=1)
    x = np.repeat(path[:, :10, None], 6, axis=2).astype(np.float32)
    y = path[:, 10:]
    c = np.c_[y.min(1), y.mean(1), y.max(1)]
    available = rng.random(n) > 0.2
    return training.FusionArrays(x, y, c, available, trainer.predict(backbone, x), tickers)


def _calf(seed: int = 0) -> CalfBackbone:
    trainer.seed_everything(seed)
    config = BackboneConfig(d_model=16, n_heads=2, n_layers=1, dropout=0.0)
    net = base.build("calf", config, base.DataShape(10, 5, 6, TARGET_COLUMN), n_prototypes=8, prototype_dim=16)
    assert isinstance(net, CalfBackbone)
    net.set_prototypes(torch.randn(8, 16))
    return net.eval()


def test_fusion_keeps_the_checkpoint_with_the_lowest_per_ticker_guided_mse():
    net = _calf()
    rng = np.random.default_rng(9)
    train = _fusion_arrays(256, 1, net, _unbalanced_tickers(256, rng))
    val = _fusion_arrays(80, 2, net, _unbalanced_tickers(80, rng))
    config = FusionTrainingConfig(hidden=16, selection_scale=0.5, train=TrainingConfig(epochs=4, batch_size=64))
    psi = FusionModel(net, 3, 16, finetune_backbone=False)
    result = training.fit_fusion(psi, train, val, config, seed=0)
    y = guided(val.y_phi, training.predict_conditional(psi, val), 0.5, val.available)
    kept = evaluation_mse(y, val.y, val.tickers)
    assert kept == pytest.approx(result.best_val_loss, rel=1e-9)
    assert result.best_val_loss <= min(row["val_guided_mse"] for row in result.history)
    assert kept != pytest.approx(_pooled(y, val.y), rel=1e-4)


@pytest.mark.parametrize("p_uncond", [0.0, 0.4, 1.0])
def test_condition_dropout_replaces_c_by_the_null_token_with_probability_p_uncond(p_uncond):
    n = 4000
    x = np.zeros((n, 10, 6), dtype=np.float32)
    x[:, -1, TARGET_COLUMN] = np.arange(n)  # each window's row number, to find it in a shuffled batch
    available = np.arange(n) % 4 != 0
    data = training.FusionArrays(x, np.zeros((n, 5)), np.zeros((n, 3)), available, np.zeros((n, 5)))
    batches = list(training.training_batches(data, 512, p_uncond, np.random.default_rng(0), torch.device("cpu")))
    rows = torch.cat([b.x[:, -1, TARGET_COLUMN] for b in batches]).numpy().astype(int)
    used = torch.cat([b.use_condition for b in batches]).numpy()
    assert sorted(rows) == list(range(n))  # one epoch sees every window once
    assert not used[~available[rows]].any()  # a missing forecast is never used
    assert used[available[rows]].mean() == pytest.approx(1 - p_uncond, abs=0.03)
