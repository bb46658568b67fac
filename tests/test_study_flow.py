"""The study flow end to end on the smoke preset: each variant executes only the stage bodies its overrides
reach (counted, as in tests/test_pipeline_caching.py), and the study writes its summary, plots and report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from spies import count_stage_bodies

from vta_core.runs import LATEST
from vta_core.stages import registry
from vta_core.stages.registry import STAGES_BY_NAME

pytestmark = [pytest.mark.flow, pytest.mark.e2e]

REASONER = {"reasoner_base", "reasoner_stage0", "reasoner_grpo", "reasoner_stage2", "reasoner_generation"}


@pytest.fixture
def executed(monkeypatch):
    calls = count_stage_bodies(monkeypatch, [s for s in registry.ALL_STAGES if s.name not in REASONER], Counter())
    reasoner = [STAGES_BY_NAME[name] for name in sorted(REASONER)]
    return count_stage_bodies(monkeypatch, reasoner, calls, prefix="reasoner.")


def study(home: Path, only: str, *grid: str, reasoner: bool = False):
    from flows.study_flow import study_flow

    overrides = [f"runtime.home={home}", "tsmixer.enabled=false", "dlinear.enabled=false", *grid]
    overrides += [] if reasoner else ["reasoner.enabled=false"]
    return study_flow(kind="sensitivity", preset="smoke", overrides=overrides, only=[only])


def test_each_variant_runs_only_the_stages_it_changes(harness, executed, tmp_path):
    # gamma = 2 is the base value: a study of the base run alone fills the cache.
    first = study(tmp_path, "gamma", "study.sensitivity.gamma=[2.0]")
    assert executed["cleanse_stage"] == 1 and executed["backtest_stage"] == 1
    assert pd.read_parquet(Path(first.folder) / "summary.parquet")["variant"].unique().tolist() == ["base"]
    assert not (tmp_path / LATEST).exists(), "a study's runs leave `vta show` on the user's own last run"

    executed.clear()
    result = study(tmp_path, "guidance_scale", "study.sensitivity.guidance_scale=[0.5]")
    # s is an inference-only parameter: guided inference (one source, one seed) and what reads it.
    assert executed == Counter({"fusion_inference_stage": 1, "error_evaluation_stage": 1, "backtest_stage": 1})
    folder = Path(result.folder)
    summary = pd.read_parquet(folder / "summary.parquet")
    assert set(summary["variant"]) == {"base", "guidance_scale=0.5"}
    assert (folder / "sensitivity_guidance_scale.png").read_bytes()[:4] == b"\x89PNG"
    assert "#### guidance scale s" in result.markdown and "validation (base run)" in result.markdown
    assert not (tmp_path / LATEST).exists()
    report = Path(result.report).read_text()
    assert "## Studies" in report or "Sensitivity study" in report
    assert "sensitivity_guidance_scale.png" in report

    executed.clear()
    study(tmp_path, "p_uncond", "study.sensitivity.p_uncond=[0.5]")
    assert executed == Counter(
        {"fusion_training_stage": 1, "fusion_inference_stage": 1, "error_evaluation_stage": 1, "backtest_stage": 1}
    )

    executed.clear()
    study(tmp_path, "costs_bps", "study.sensitivity.costs_bps=[25]")
    assert executed == Counter({"backtest_stage": 1}), "costs re-run the backtest only"


def test_reward_lambda_retrains_the_reasoner_from_stage_1_only(harness, executed, tmp_path):
    study(tmp_path, "reward_lambda", "study.sensitivity.reward_lambda=[10.0]", reasoner=True)  # the base run
    executed.clear()
    study(tmp_path, "reward_lambda", "study.sensitivity.reward_lambda=[1.0]", reasoner=True)
    # Stages 1 and 3 (GRPO), stage 2, the stage-3 decode only (the variant skips the ablation decodes), the
    # own-reasoner fusion model and what follows; the base model, stage 0 and the released fusion stay cached.
    assert executed == Counter(
        {
            "reasoner.grpo_stage": 2,
            "reasoner.rejection_stage": 1,
            "reasoner.generation_stage": 1,
            "fusion_training_stage": 1,
            "fusion_inference_stage": 1,
            "error_evaluation_stage": 1,
            "backtest_stage": 1,
        }
    ), executed
