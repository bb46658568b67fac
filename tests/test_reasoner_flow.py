"""The reasoning flow under Prefect with a tiny model: every stage a cached task, a config change
re-runs only that stage and its descendants, and the generation artifacts follow the fusion contract."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
import torch
from spies import count_stage_bodies

from vta_core.config import load_config
from vta_core.evaluation.predictions import PREDICTION_COLUMNS
from vta_core.prompts.parser import CONTRADICTS
from vta_core.reasoner.generation import NARRATIVE_COLUMNS, load_reasoner_forecasts
from vta_core.stages.registry import STAGES_BY_NAME

pytestmark = pytest.mark.flow
STAGES = [
    STAGES_BY_NAME[name]
    for name in ("reasoner_base", "reasoner_stage0", "reasoner_grpo", "reasoner_stage2", "reasoner_generation")
]
# Seconds-sized settings: two tickers, a 16-wide one-layer model, one or two steps per stage.
TINY = [
    "data.source.tickers=[AAPL, XOM]",
    "reasoner.tiny={vocab_size: 400, hidden_size: 16, layers: 1, heads: 2, kv_heads: 1, intermediate_size: 32, "
    "max_positions: 1024, corpus_records: 50}",
    "reasoner.lora={rank: 2, alpha: 4, dropout: 0.0}",
    "reasoner.warm_start={max_records: 16, max_steps: 2, batch_size: 8, think_sentences: [-1], save_steps: 50, "
    "copy_epochs: 1, copy_synthetic_fraction: 0.5, level_shift_fraction: 1.0}",
    "reasoner.stage1={max_steps: 1, batch_size: 4, num_generations: 2, max_completion_length: 8, max_records: 8}",
    "reasoner.rejection={max_windows: 8, batch_size: 8, max_new_tokens: 8, sft: {max_steps: 1, batch_size: 4}}",
    "reasoner.stage3={max_steps: 1, batch_size: 4, num_generations: 2, max_completion_length: 8, max_records: 8}",
    "reasoner.generation={batch_size: 256, max_new_tokens: 6, retries: 1, train_windows: 5}",
]


@pytest.fixture
def executed(monkeypatch):
    return count_stage_bodies(monkeypatch, STAGES, Counter())


def run(home, *overrides):
    from flows.reasoning_flow import reasoning_flow

    torch.set_num_threads(1)
    cfg = load_config("smoke", overrides=[f"runtime.home={home}", *TINY, *overrides], environ={})
    return reasoning_flow(preset="smoke", config=cfg)


def test_reasoning_flow_caches_each_stage(harness, executed, tmp_path):
    first = run(tmp_path)
    assert executed == Counter(
        {"base_stage": 1, "warm_start_stage": 1, "grpo_stage": 2, "rejection_stage": 1, "generation_stage": 4}
    )
    assert set(first.generations) == {f"reasoner_stage{i}" for i in range(4)}
    stage0 = json.loads(first.stage0.file("training_report.json").read_text())
    assert stage0["copy_records"] == stage0["records"] == 16  # the copy curriculum ran before the narratives
    assert 12 <= stage0["level_shifted"] <= 16  # every record shifted but those whose direction would flip

    final = first.final_generation
    narratives = pd.read_parquet(final.file("narratives.parquet"))
    assert list(narratives.columns) == NARRATIVE_COLUMNS
    report = json.loads(final.file("generation_report.json").read_text())["splits"]
    assert report["train"]["windows"] == 5 and report["train"]["in_sample"]
    assert report["val"]["windows"] + report["test"]["windows"] == int((narratives["split"] != "train").sum())
    assert all(0.0 <= report[s]["parse_failure_rate"] <= 1.0 for s in ("train", "val", "test"))
    for split, entry in report.items():  # a withheld answer parsed, but its forecast is not used
        rows = narratives[narratives["split"] == split]
        assert entry["forecasts"] == int(rows["valid"].sum()) == entry["parsed"] - entry["withheld"]
        assert entry["withheld"] == int((rows["error"] == CONTRADICTS).sum())
    forecasts = load_reasoner_forecasts(final)
    assert list(forecasts.columns) == PREDICTION_COLUMNS
    assert len(forecasts) == 10 * int(narratives["valid"].sum())  # parsable windows only, horizon 10
    assert narratives["attempts"].between(1, 2).all()

    executed.clear()
    run(tmp_path)
    assert executed == Counter(), "a second identical run executes no stage"

    executed.clear()
    run(tmp_path, "reasoner.stage3.learning_rate=1e-4")
    assert executed == Counter({"grpo_stage": 1, "generation_stage": 1}), "stage 3 and its generation only"

    executed.clear()
    run(tmp_path, "reasoner.stage3.learning_rate=1e-4", "reasoner.rejection.keep_fraction=0.5")
    assert executed == Counter({"rejection_stage": 1, "grpo_stage": 1, "generation_stage": 2})

    executed.clear()
    run(
        tmp_path,
        "reasoner.stage3.learning_rate=1e-4",
        "reasoner.rejection.keep_fraction=0.5",
        "reasoner.generation.ablation=false",
    )
    assert executed == Counter(), "dropping the ablation rows only drops tasks"
