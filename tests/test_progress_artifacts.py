"""Observability: every long stage reports progress through an unkeyed hook, and the Prefect task wrappers
publish it (and every result table) as keyed artifacts.

- the library loops (train_loop, the backtest, decoding) report monotonically increasing progress ending
  at 100, early stops included;
- a progress hook never enters a stage's cache key;
- the Prefect hook throttles its updates, always reports 100, and never fails a stage;
- a smoke backbone + fusion run creates the expected progress and table artifacts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest
import torch

from tests.portfolio_fixtures import forecasts, identity_scalers, panel
from vta_core.artifacts import ArtifactRef
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.model_sections import BackboneConfig, FusionTrainingConfig, TrainingConfig
from vta_core.config.portfolio_sections import PortfolioConfig
from vta_core.config.reasoner_sections import GenerationConfig, ReasonerConfig, RejectionConfig
from vta_core.models import trainer
from vta_core.portfolio import run_backtest
from vta_core.progress import Steps, parts
from vta_core.stages.backtest_stage import backtest_stage
from vta_core.stages.fusion_training_stage import fusion_training_stage
from vta_core.stages.generation_stage import generation_stage
from vta_core.stages.rejection_stage import rejection_stage
from vta_core.stages.timeseries_stage import timeseries_stage


def assert_progress(recorded: list[float]) -> None:
    assert recorded, "the hook was never called"
    assert all(b > a for a, b in zip(recorded, recorded[1:], strict=False)), recorded
    assert recorded[0] >= 0.0 and recorded[-1] == 100.0, recorded


def test_steps_and_parts_report_each_share_once_and_never_go_back():
    recorded: list[float] = []
    for hook in parts(recorded.append, 2):  # two folds, each half of the whole
        steps = Steps(hook, 4)
        steps.start()
        for _ in range(5):  # one step too many: capped at 100
            steps.advance()
        steps.finish()
    assert recorded == [0.0, 12.5, 25.0, 37.5, 50.0, 62.5, 75.0, 87.5, 100.0]
    Steps(None, 3).advance()  # no hook: nothing to report, nothing fails


def test_train_loop_reports_epochs_and_100_after_an_early_stop():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    script = iter([5.0, 3.0, 4.0, 4.0, 4.0, 4.0])  # best at epoch 1; patience 3 stops after epoch 4 of 10
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    recorded: list[float] = []
    result = trainer.train_loop(
        model,
        TrainingConfig(epochs=10, patience=3, learning_rate=0.1, device="cpu"),
        seed=0,
        batches=lambda rng, device: [trainer.Batch(x, y)],
        loss=lambda batch: torch.nn.functional.mse_loss(model(batch.x), batch.y),
        score=lambda device: next(script),
        name="scripted",
        progress=recorded.append,
    )
    assert len(result.history) == 4
    assert recorded == [0.0, 10.0, 20.0, 30.0, 40.0, 100.0]


def test_backtest_reports_decision_days_of_every_strategy_run():
    prices = panel(start="2016-05-02", end="2016-12-30")
    preds = forecasts(prices, "2016-11-01", "2016-11-30", horizon=1)
    config = PortfolioConfig(benchmarks=("equal_weight", "buy_and_hold", "min_variance"), lookback=20)
    recorded: list[float] = []
    result = run_backtest(prices, preds, identity_scalers(prices), config, CalendarConfig(), progress=recorded.append)
    assert_progress(recorded)
    runs = len(config.benchmarks) + 1  # the benchmarks and one model
    assert len(recorded) == 1 + runs * len(result.decision_dates)  # 0, then one report per decision day


def test_generation_reports_windows_decoded(tmp_path):
    from vta_core.config.sections import TinyModelConfig
    from vta_core.reasoner import generation, loading, tiny_model

    torch.set_num_threads(1)
    prompt = [
        {"role": "system", "content": "Answer in <think> </think> <answer> [v1, v2] </answer>."},
        {"role": "user", "content": "Prices: [0.12, 0.34]. Predict 2 values."},
    ]
    tiny = TinyModelConfig(
        vocab_size=300, hidden_size=8, layers=1, heads=2, kv_heads=1, intermediate_size=16, max_positions=256
    )
    texts = [m["content"] for m in prompt] + ["<think>up</think><answer>[0.1, 0.2]</answer>"] * 5
    path = tiny_model.build_tiny_model(texts, tiny, tmp_path / "model", seed=0)
    reasoner = ReasonerConfig(device="cpu", tiny=tiny)
    model, tokenizer = loading.load_checkpoint(loading.Checkpoint(str(path), None), reasoner, trainable=False)
    batches: list[int] = []
    recorded: list[float] = []
    steps = Steps(recorded.append, 5)
    steps.start()

    def on_batch(n: int) -> None:
        batches.append(n)
        steps.advance(n)

    decoded = generation.generate(model, tokenizer, [{"prompt": prompt}] * 5, 2, 2, 3, 0.0, 1.0, 1, 0, on_batch)
    steps.finish()
    assert len(decoded) == 5 and batches == [2, 2, 1]  # first attempts only; retries are not counted
    assert recorded == [0.0, 40.0, 80.0, 100.0]


def test_a_progress_hook_never_changes_a_stage_key(tmp_path):
    def ref(stage: str) -> ArtifactRef:
        return ArtifactRef(stage=stage, key=f"{stage}-1", path=tmp_path / stage)

    def hook(percent: float) -> None:
        raise AssertionError("computing a key never calls the hook")

    calls = [
        (timeseries_stage, ("calf", BackboneConfig(), 0, ref("windows")), {"prototypes": ref("prototypes")}),
        (
            fusion_training_stage,
            (FusionTrainingConfig(), "released", "llm_released", 0, ref("backbone"), ref("released"), ref("windows")),
            {},
        ),
        (
            generation_stage,
            (ReasonerConfig(), GenerationConfig(), "reasoner_stage3", 0, ref("m"), ref("p"), ref("w"), ref("a")),
            {},
        ),
        (rejection_stage, (ReasonerConfig(), RejectionConfig(), ref("stage1"), ref("prompts")), {}),
        (
            backtest_stage,
            (PortfolioConfig(), CalendarConfig(), "run", ref("cleanse"), ref("windows"), [ref("naive")], 4),
            {},
        ),
    ]
    for stage, args, kwargs in calls:
        hooks = {name: hook for name in stage.unkeyed}
        assert "progress" in hooks, stage.name
        assert stage.key(*args, **kwargs) == stage.key(*args, **kwargs, **hooks), stage.name
    assert rejection_stage.unkeyed == {"progress", "decoding_progress"}


def test_the_prefect_hook_throttles_reports_100_and_never_fails_the_stage(monkeypatch, caplog):
    import tasks.progress as progress

    created, updated = [], []
    monkeypatch.setattr(progress, "create_progress_artifact", lambda **kw: created.append(kw) or "0" * 32)
    monkeypatch.setattr(progress, "update_progress_artifact", lambda **kw: updated.append(kw["progress"]))
    hook = progress.progress_hook(progress.progress_key("calf", "seed0"), "CALF-like backbone seed 0: epochs")
    for percent in (0.0, 2.0, 4.9, 5.0, 7.0, 33.0, 99.0, 100.0):
        hook(percent)
    assert [c["key"] for c in created] == ["vta-progress-calf-seed0"] and created[0]["progress"] == 0.0
    assert updated == [5.0, 33.0, 99.0, 100.0]  # 5 % steps, and 100 always

    def unreachable(**_kw):
        raise httpx.ConnectError("API down")

    monkeypatch.setattr(progress, "create_progress_artifact", unreachable)
    broken = progress.progress_hook(progress.progress_key("backtest", "dates"), "backtest")
    broken(0.0)
    broken(100.0)  # no raise: the stage goes on, without further artifact calls
    assert "no further updates" in caplog.text

    with pytest.raises(ValueError, match="invalid artifact key"):
        progress.progress_hook("vta_progress", "underscores are not allowed")
    keys = [
        progress.progress_key("generation", "reasoner_stage3"),
        progress.progress_key("fusion", "released", "seed12"),
        progress.artifact_key("vta-reasoner", "stage 2"),
    ]
    assert keys == [
        "vta-progress-generation-reasoner-stage3",
        "vta-progress-fusion-released-seed12",
        "vta-reasoner-stage-2",
    ]


PROGRESS_KEYS = ("vta-progress-calf-seed0", "vta-progress-fusion-released-seed0")
TABLE_KEYS = (
    "vta-training-timeseries",
    "vta-fusion-training",
    "vta-fusion-guidance-sensitivity",
    "vta-cleansing-summary",
)


@pytest.mark.flow
def test_smoke_backbone_and_fusion_flows_publish_progress_and_tables(harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.backbone_flow import backbone_flow
    from flows.fusion_flow import fusion_flow
    from vta_core.config import load_config

    torch.set_num_threads(1)
    started = datetime.now(UTC)
    off = ["dlinear.enabled=false", "tsmixer.enabled=false", "reasoner.enabled=false"]
    cfg = load_config("smoke", overrides=[f"runtime.home={tmp_path}", *off], environ={})
    assert len(backbone_flow(preset="smoke", config=cfg)) == 1  # the CALF-like backbone, seed 0
    assert len(fusion_flow(preset="smoke", config=cfg)) == 1  # the released source (its backbone is cached)

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[*PROGRESS_KEYS, *TABLE_KEYS]))
        )
    latest = {a.key: a for a in sorted(found, key=lambda a: a.created) if a.created >= started}
    assert set(latest) == {*PROGRESS_KEYS, *TABLE_KEYS}
    for key in PROGRESS_KEYS:
        assert latest[key].type == "progress" and float(latest[key].data) == 100.0, key
    tables = {key: json.loads(latest[key].data) for key in TABLE_KEYS}
    assert all(latest[key].type == "table" for key in TABLE_KEYS)
    assert [(row["model"], row["seed"]) for row in tables["vta-training-timeseries"]] == [("calf", 0)]
    assert {row["best_epoch"] for row in tables["vta-training-timeseries"]} <= {0, 1, 2}
    assert [(row["source"], row["seed"]) for row in tables["vta-fusion-training"]] == [("released", 0)]
    scales = {row["guidance_scale"] for row in tables["vta-fusion-guidance-sensitivity"]}
    assert scales == {f"s={s:g}" for s in cfg.fusion.scale_grid}
    assert {row["split"] for row in tables["vta-fusion-guidance-sensitivity"]} == {"val", "test"}
    (audit,) = tmp_path.glob("**/cleanse/*/audit.parquet")
    assert sum(row["rows"] for row in tables["vta-cleansing-summary"]) == len(pd.read_parquet(audit))
