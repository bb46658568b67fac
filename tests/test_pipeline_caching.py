"""The Prefect pipeline end to end: cache hits, selective re-runs, failed-stage retry, run folder."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from spies import count_stage_bodies

from vta_core.config import load_config
from vta_core.runs import latest_run
from vta_core.stages import registry
from vta_core.stages.evaluation_stage import error_evaluation_stage
from vta_core.stages.registry import STAGES_BY_NAME

pytestmark = [pytest.mark.flow, pytest.mark.e2e]

REASONER_STAGES = {"reasoner_base", "reasoner_stage0", "reasoner_grpo", "reasoner_stage2", "reasoner_generation"}
STAGES = [stage for stage in registry.ALL_STAGES if stage.name not in REASONER_STAGES]


@pytest.fixture
def executed(monkeypatch):
    """Count task bodies that actually execute (a cache hit never calls the stage function)."""
    return count_stage_bodies(monkeypatch, STAGES, Counter())


# The backtest's `dates` protocol (a second pass on the global date split) has its own test below.
SWITCH = ["backtest.protocols=[run]"]


def run(home, *overrides, reasoner: bool = False):
    """A smoke run; the reasoner is off unless asked for (its own caching is tested at the end, once)."""
    from flows.pipeline import vta_pipeline

    switch = SWITCH + ([] if reasoner else ["reasoner.enabled=false"])
    cfg = load_config("smoke", overrides=[f"runtime.home={home}", *switch, *overrides], environ={})
    return vta_pipeline(preset="smoke", config=cfg)


ALL = {stage.__name__ for stage in STAGES}
DOWNSTREAM_OF_WINDOWS = ALL - {"cleanse_stage", "prototypes_stage"}
FUSION = {"fusion_training_stage", "fusion_inference_stage"}
RELEASED_ONLY = {"released_forecasts_stage"} | FUSION  # smoke fuses only the release, which needs T = 10 on StockNet


def test_caching_reruns_exactly_what_changed(harness, executed, tmp_path):
    first = run(tmp_path)
    assert set(executed) == ALL
    assert "| persistence | ours |" in first.error_table_markdown

    executed.clear()
    second = run(tmp_path)
    assert executed == Counter(), "a second identical run must execute no task body"
    assert second.errors == first.errors

    from flows.pipeline import cached_pipeline

    cfg = load_config("smoke", overrides=[f"runtime.home={tmp_path}", *SWITCH, "reasoner.enabled=false"], environ={})
    fast = cached_pipeline(cfg)  # every stage cached: served without Prefect, identical result, no stage body
    assert executed == Counter() and fast is not None
    assert fast.errors == first.errors and fast.backtests == first.backtests
    assert fast.error_table_markdown == first.error_table_markdown and Path(fast.run_folder).is_dir()
    changed = load_config(
        "smoke",
        overrides=[f"runtime.home={tmp_path}", *SWITCH, "reasoner.enabled=false", "ridge.alphas=[3.0]"],
        environ={},
    )
    folders = set(tmp_path.iterdir())
    assert cached_pipeline(changed) is None and executed == Counter()  # a miss: nothing run, nothing written
    assert set(tmp_path.iterdir()) == folders

    executed.clear()
    run(tmp_path, "evaluation.markdown_digits=3")
    assert set(executed) == {"error_evaluation_stage"}

    executed.clear()
    run(tmp_path, "baselines.models=[persistence]")
    assert set(executed) == {"naive_baselines_stage", "error_evaluation_stage", "backtest_stage"}

    executed.clear()
    run(tmp_path, "baselines.models=[persistence]", "backtest.portfolio.gamma=5", "backtest.portfolio.costs_bps=20")
    assert executed == Counter({"backtest_stage": 1}), "gamma and costs re-run the backtest only"

    executed.clear()
    run(tmp_path, "tsmixer.ff_dim=8")  # TSMixer only, others cached
    assert executed == Counter({"timeseries_stage": 1, "error_evaluation_stage": 1, "backtest_stage": 1})

    executed.clear()
    run(tmp_path, "fusion.guidance_scale=0.5")  # inference-only: no training task re-runs
    assert executed == Counter({"fusion_inference_stage": 1, "error_evaluation_stage": 1, "backtest_stage": 1})

    executed.clear()
    run(tmp_path, "fusion.guidance_scale=0.5", "fusion.training.p_uncond=0.5")
    assert executed == Counter(
        {"fusion_training_stage": 1, "fusion_inference_stage": 1, "error_evaluation_stage": 1, "backtest_stage": 1}
    )

    executed.clear()
    run(tmp_path, "backbone.prototypes.n_prototypes=8")
    assert executed == Counter(
        {
            "prototypes_stage": 1,
            "timeseries_stage": 1,
            "fusion_training_stage": 1,
            "fusion_inference_stage": 1,
            "error_evaluation_stage": 1,
            "backtest_stage": 1,
        }
    )

    executed.clear()
    run(tmp_path, "data.window.lookback=12")
    assert set(executed) == DOWNSTREAM_OF_WINDOWS - RELEASED_ONLY  # the release is for T = 10 only

    executed.clear()
    run(tmp_path, "data.window.lookback=12", "annotation.mode=history")
    assert set(executed) == {
        "annotation_stage",
        "prompts_stage",
        "analyst_stage",
        "error_evaluation_stage",
        "backtest_stage",
    }

    executed.clear()
    run(tmp_path, "data.window.lookback=12", "annotation.mode=history", "prompt.max_prompt_tokens=2000")
    assert set(executed) == {"prompts_stage", "analyst_stage", "error_evaluation_stage", "backtest_stage"}

    executed.clear()
    run(tmp_path, "data.source.tickers=[AAPL, XOM, PTR]")
    assert set(executed) == ALL - {"prototypes_stage"}  # prototypes do not depend on the data

    executed.clear()
    run(tmp_path, "runtime.log_level=DEBUG")  # runtime settings are never part of a key
    assert executed == Counter()


def test_deleted_artifact_is_rebuilt_not_trusted(harness, executed, tmp_path):
    first = run(tmp_path)
    shutil.rmtree(first.data.windows.path)
    executed.clear()
    again = run(tmp_path)
    assert set(executed) == {"windows_stage"}  # downstream keys are unchanged, so they stay cached
    assert again.data.windows == first.data.windows and again.data.windows.is_complete()


def test_failed_stage_is_retried_alone(harness, executed, tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("evaluation crashed")

    working = error_evaluation_stage.fn  # the counting spy
    monkeypatch.setattr(error_evaluation_stage, "fn", broken)
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        run(tmp_path)
    assert set(executed) == ALL - {"error_evaluation_stage", "backtest_stage"}  # the backtest comes after it
    monkeypatch.setattr(error_evaluation_stage, "fn", working)
    executed.clear()
    result = run(tmp_path)
    # Only the failed stage runs again, and the backtest that had not run yet.
    assert executed == Counter({"error_evaluation_stage": 1, "backtest_stage": 1})
    assert result.errors.is_complete()


def test_run_folder_has_resolved_config_and_table(harness, tmp_path):
    result = run(tmp_path, "evaluation.splits=[test]")
    folder = latest_run(tmp_path)
    assert str(folder) == result.run_folder
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["evaluation"]["splits"] == ["test"] and saved["preset"] == "smoke"
    table = (folder / "error_table.md").read_text()
    assert "test split" in table and "val split" not in table
    assert (folder / "error_table.parquet").is_file() and (folder / "refs.json").is_file()


def test_edited_input_file_reruns_everything(harness, executed, tmp_path, stocknet_raw):
    csv = tmp_path / "prices.csv"
    subset = stocknet_raw[stocknet_raw["ticker"].isin(["AAPL", "XOM"])]
    subset.drop(columns=["_file", "_row"]).to_csv(csv, index=False, date_format="%Y-%m-%d")
    file_source = ["data.source.kind=file", f"data.source.path={csv}", "data.source.tickers=null"]
    run(tmp_path, *file_source)
    executed.clear()
    run(tmp_path, *file_source)
    assert executed == Counter()
    lines = csv.read_text().splitlines()
    fields = lines[-1].split(",")
    fields[6] = str(float(fields[6]) * 1.01)  # nudge the last Adj Close, keep OHLC valid
    csv.write_text("\n".join([*lines[:-1], ",".join(fields)]) + "\n")
    run(tmp_path, *file_source)
    assert set(executed) == ALL - {"prototypes_stage"} - RELEASED_ONLY  # prototypes do not depend on the data


def _scaled_after(raw, tickers, day: str, factor: float):
    """The raw rows of `tickers`, every price from `day` on multiplied by `factor` (factor 1: unchanged)."""
    rows = raw[raw["ticker"].isin(tickers)].drop(columns=["_file", "_row"]).copy()
    later = rows["date"] >= day
    for column in ("Open", "High", "Low", "Close", "Adj Close"):
        rows.loc[later, column] = rows.loc[later, column] * factor
    return rows


def test_date_protocol_backtest_sees_nothing_after_a_decision(harness, tmp_path, stocknet_raw):
    """Issue 14: in the backtest's protocol, multiplying every price from a date on changes no forecast and no
    weight dated before it, for every model (the pipeline runs twice). The run's own (paper) split is marked
    as looking ahead across tickers: GMRE's training rows lie inside the other tickers' test period."""
    import pandas as pd

    day, results = "2017-03-01", []
    for factor in (1.0, 1.5):
        csv = tmp_path / f"prices_{factor}.csv"
        _scaled_after(stocknet_raw, ["AAPL", "XOM", "PTR", "GMRE"], day, factor).to_csv(
            csv, index=False, date_format="%Y-%m-%d"
        )
        source = ["data.source.kind=file", f"data.source.path={csv}", "data.source.tickers=null"]
        home = tmp_path / f"home_{factor}"
        cfg = load_config("smoke", overrides=[f"runtime.home={home}", "reasoner.enabled=false", *source], environ={})
        from flows.pipeline import vta_pipeline

        results.append(vta_pipeline(preset="smoke", config=cfg))
    before, after = results
    cut = pd.Timestamp(day)
    read = lambda refs: pd.concat([pd.read_parquet(r.file("predictions.parquet")) for r in refs])  # noqa: E731
    models = set()
    for result in (before, after):
        assert result.date_protocol_predictions, "the dates protocol ran its own pass"
    old, new = read(before.date_protocol_predictions), read(after.date_protocol_predictions)
    keys = ["model", "seed", "ticker", "split", "window_end_date", "step"]
    old, new = (
        f[pd.to_datetime(f["window_end_date"]) < cut].sort_values(keys).reset_index(drop=True) for f in (old, new)
    )
    models = set(old["model"].astype(str))
    assert {"persistence", "ridge", "analyst", "dlinear", "tsmixer", "calf"} <= models
    pd.testing.assert_series_equal(old["y_hat"], new["y_hat"])  # every model, every window before the cut
    weights = [pd.read_parquet(r.backtests["dates"].file("weights.parquet")) for r in (before, after)]
    old_w, new_w = (w[pd.to_datetime(w["decision_date"]) < cut] for w in weights)
    # Perfect foresight looks ahead on purpose (mu from realised future prices): it must change, the rest not.
    foresight = [w[w["strategy"].astype(str) == "perfect_foresight"].reset_index(drop=True) for w in (old_w, new_w)]
    assert len(foresight[0]) and not foresight[0].equals(foresight[1]), "the check would see a look-ahead"
    old_w, new_w = (w[w["strategy"].astype(str) != "perfect_foresight"].reset_index(drop=True) for w in (old_w, new_w))
    assert len(old_w) > 0 and set(old_w["strategy"].astype(str)) >= models - {"persistence"}
    pd.testing.assert_frame_equal(old_w, new_w)
    dates_protocol = json.loads(before.backtests["dates"].file("protocol.json").read_text())
    run_protocol = json.loads(before.errors.file("protocol.json").read_text())
    assert not dates_protocol["looks_ahead"] and run_protocol["looks_ahead"] and "GMRE" in run_protocol["tickers"]
    table = (Path(before.run_folder) / "backtest_dates.md").read_text()
    assert "no look-ahead" in table and "equal-weight" in table


def _predict_with_the_reasoner(run_folder, stocknet_raw, tmp_path):
    """`vta predict` loads the run's stage-3 reasoner and decodes the new windows; where its output does not
    parse (the smoke model is too small to learn the format) the analyst narrates and the forecast is y_phi."""
    from pathlib import Path

    from vta_core.inference.predict import predict_latest

    rows = stocknet_raw[stocknet_raw["ticker"].isin(["AAPL", "XOM"]) & (stocknet_raw["date"] <= "2017-06-30")]
    csv = tmp_path / "new.csv"
    rows.groupby("ticker").tail(30).drop(columns=["_file", "_row"]).to_csv(csv, index=False, date_format="%Y-%m-%d")
    table = predict_latest(Path(run_folder), csv).table
    assert len(table) == 2 and table["narrator"].str.startswith(("reasoner (stage 3)", "rule-based analyst")).all()
    parsed = table["narrator_id"] == "reasoner_stage3"
    assert (table["narrator"].str.startswith("reasoner (stage 3)") == parsed).all()
    assert (table["fused"] == parsed).all()  # fused exactly where the reasoner's answer parsed
    # ... but conditioned on the reasoner's forecast only where guidance is on (s = 0 gives y_phi).
    assert (table["fusion_uses_reasoner"] == (parsed & (table["guidance_scale"] != 0))).all()
    assert table.loc[~parsed, "fallback_reason"].str.contains("did not parse").all()
    assert table.loc[~parsed, "fusion_note"].str.contains("did not parse").all()
    for row in table[~parsed].itertuples():
        np.testing.assert_allclose(row.forecast, row.y_phi)


def test_reasoner_feeds_fusion_and_a_stage3_change_reruns_only_what_follows(
    harness, executed, tmp_path, monkeypatch, stocknet_raw
):
    reasoner_stages = [STAGES_BY_NAME[name] for name in sorted(REASONER_STAGES)]
    count_stage_bodies(monkeypatch, reasoner_stages, executed, prefix="reasoner.")
    first = run(tmp_path, "tsmixer.enabled=false", "dlinear.enabled=false", reasoner=True)
    assert "| VTA (own reasoner) | ours |" in first.error_table_markdown
    assert "| VTA (released Qwen2.5-7B forecasts) | ours |" in first.error_table_markdown
    assert executed["fusion_training_stage"] == 2  # one per source (released, own reasoner) for the one seed
    _predict_with_the_reasoner(first.run_folder, stocknet_raw, tmp_path)

    executed.clear()
    run(tmp_path, "tsmixer.enabled=false", "dlinear.enabled=false", "reasoner.stage3.max_steps=2", reasoner=True)
    # Stage 3, the generation from it, the fusion model conditioned on it and the evaluation; nothing else
    # (the stage 0-2 generations for the ablation rows and the released-forecast fusion stay cached).
    assert executed == Counter(
        {
            "reasoner.grpo_stage": 1,
            "reasoner.generation_stage": 1,
            "fusion_training_stage": 1,
            "fusion_inference_stage": 1,
            "error_evaluation_stage": 1,
            "backtest_stage": 1,
        }
    ), executed
