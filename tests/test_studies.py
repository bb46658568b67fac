"""Study designs and summaries without running a pipeline: which overrides each variant carries, that they
change exactly the intended config fields, the change-against-base and seed-noise arithmetic, the tables and
plots. The stage bodies a variant runs are counted in tests/test_study_flow.py (end to end)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vta_core.config import ConfigError, load_config
from vta_core.studies.design import (
    BASE,
    PARAMETER_KEYS,
    StudyDesignError,
    ablation_design,
    sensitivity_design,
    study_design,
)
from vta_core.studies.plots import sensitivity_plot
from vta_core.studies.summary import (
    VariantResult,
    ablation_markdown,
    sensitivity_markdown,
    summarise,
    wall_time_markdown,
)


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _changed(a, b) -> set[str]:
    x, y = _flat(a.model_dump(mode="json")), _flat(b.model_dump(mode="json"))
    return {k for k in x if x[k] != y[k]}


@pytest.fixture(scope="module")
def cpu():
    return load_config("cpu", environ={})


def test_sensitivity_variants_change_exactly_their_parameter(cpu):
    design = sensitivity_design(cpu)
    base = load_config("cpu", overrides=design.variant(BASE).overrides, environ={})
    assert _changed(cpu, base) == {"backtest.protocols"}, "the base run differs from cpu only in its protocol"
    seen = set()
    for variant in design.variants[1:]:
        cfg = load_config("cpu", overrides=variant.overrides, environ={})
        expected = set(PARAMETER_KEYS[variant.parameter])
        if variant.parameter in ("reward_lambda", "group_size"):
            expected.add("reasoner.generation.ablation")  # a decoding flag in no key: skips stages 0-2 decodes
        assert _changed(base, cfg) == expected, variant.name
        seen.add(variant.parameter)
    assert seen == set(PARAMETER_KEYS)
    g8 = load_config("cpu", overrides=design.variant("group_size=8").overrides, environ={})
    assert g8.reasoner.stage1.num_generations == g8.reasoner.stage3.num_generations == 8


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ("study.sensitivity.p_uncond=[0.1,0.3,0.5]", ["p_uncond=0.1", "p_uncond=0.5"]),  # 0.3 is the base run
        ("study.sensitivity.gamma=[2.0]", []),
        ("study.sensitivity.costs_bps=[0,5,10]", ["costs_bps=0", "costs_bps=5"]),
    ],
)
def test_a_grid_value_equal_to_the_base_is_the_base_run(grid, expected):
    cfg = load_config("cpu", overrides=[grid], environ={})
    parameter = expected[0].split("=")[0] if expected else "gamma"
    names = [v.name for v in sensitivity_design(cfg, (parameter,)).variants]
    assert names == [BASE, *expected]


def test_bad_study_requests_fail_before_any_work(cpu):
    with pytest.raises(StudyDesignError, match="unknown sensitivity parameter"):
        sensitivity_design(cpu, ("lambda",))
    with pytest.raises(StudyDesignError, match="unknown study kind"):
        study_design("sensitvity", cpu)
    with pytest.raises(StudyDesignError, match="ablation has none"):
        study_design("ablation", cpu, ("gamma",))
    with pytest.raises(ConfigError, match="p_uncond"):
        load_config("cpu", overrides=["study.sensitivity.p_uncond=[1.5]"], environ={})
    with pytest.raises(ConfigError, match="each once"):
        load_config("cpu", overrides=["study.sensitivity.gamma=[1,1]"], environ={})
    # G = 3 does not divide the GRPO batch of 16: the variant's config is invalid, named before any work.
    cfg = load_config("cpu", overrides=["study.sensitivity.group_size=[3]"], environ={})
    variant = sensitivity_design(cfg, ("group_size",)).variant("group_size=3")
    with pytest.raises(ConfigError, match="divisible by num_generations"):
        load_config("cpu", overrides=variant.overrides, environ={})


def test_ablation_variants_and_rows(cpu):
    design = ablation_design(cpu)
    names = [v.name for v in design.variants]
    assert names == [BASE, "no_indicators", "no_statistics", "attributes=last", "attributes=min,mean,max,first,last"]
    base = load_config("cpu", overrides=design.variant(BASE).overrides, environ={})
    assert base.reasoner.generation.evaluate_base  # the 'base model' row, one extra decode
    no_ind = load_config("cpu", overrides=design.variant("no_indicators").overrides, environ={})
    assert "{indicators}" not in no_ind.prompt.user_template and "{statistics}" in no_ind.prompt.user_template
    assert _changed(base, no_ind) == {"prompt.user_template", "reasoner.generation.ablation"}
    no_stats = load_config("cpu", overrides=design.variant("no_statistics").overrides, environ={})
    assert "{statistics}" not in no_stats.prompt.user_template and "{indicators}" in no_stats.prompt.user_template
    last = load_config("cpu", overrides=design.variant("attributes=last").overrides, environ={})
    assert last.fusion.training.attributes == ("last",)
    assert {row.variant for row in design.rows} == set(names)
    paper = {row.model: row.paper_mse for row in design.rows if row.variant == BASE}
    assert paper["reasoner_base"] == 0.0949 and paper["reasoner_stage3"] == 0.0686 and paper["calf"] == 0.0674


def _errors(rows: list[tuple[str, float, float, str]]) -> pd.DataFrame:
    """An error table: (model, mse, mse_std, seeds) on the test split."""
    return pd.DataFrame(
        [
            {"model": m, "split": "test", "mse": mse, "mae": mse * 2, "mse_std": std, "seeds": seeds, "windows": 100}
            for m, mse, std, seeds in rows
        ]
    )


def _backtest(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"strategy": s, "sharpe_net": v, "sharpe_net_std": sd} for s, v, sd in rows])


@pytest.fixture
def sensitivity_results():
    cfg = load_config(
        "cpu", overrides=["study.sensitivity.p_uncond=[0.1,0.5]", "study.parameters=[p_uncond]"], environ={}
    )
    design = sensitivity_design(cfg)
    results = {
        BASE: VariantResult(
            BASE,
            _errors([("calf", 0.0625, 0.0002, "0,1,2"), ("persistence", 0.0631, 0.0, "-")]),
            _backtest([("calf", 0.40, 0.40), ("persistence", 2.48, 0.0)]),
            wall_s=10.0,
        ),
        # +0.0001 against a spread of sqrt(2 x 0.0002^2 / 3) = 0.000163: inside 2 sigma
        "p_uncond=0.1": VariantResult(
            "p_uncond=0.1",
            _errors([("calf", 0.0626, 0.0002, "0,1,2"), ("persistence", 0.0631, 0.0, "-")]),
            _backtest([("calf", 0.50, 0.40), ("persistence", 2.48, 0.0)]),
            wall_s=20.0,
        ),
        # +0.0010: outside
        "p_uncond=0.5": VariantResult("p_uncond=0.5", None, None, wall_s=5.0, failure="Crashed"),
    }
    results["p_uncond=0.5"] = VariantResult(
        "p_uncond=0.5",
        _errors([("calf", 0.0635, 0.0002, "0,1,2"), ("persistence", 0.0631, 0.0, "-")]),
        _backtest([("calf", 0.30, 0.40), ("persistence", 2.48, 0.0)]),
        wall_s=20.0,
    )
    return cfg, design, results


def test_summary_changes_against_base_and_seed_noise(sensitivity_results):
    cfg, design, results = sensitivity_results
    summary = summarise(design, results, ("calf", "persistence", "vta_reasoner"), sigmas=2.0).set_index(
        ["variant", "model"]
    )
    low, high = summary.loc[("p_uncond=0.1", "calf")], summary.loc[("p_uncond=0.5", "calf")]
    assert low["d_mse"] == pytest.approx(0.0001) and low["mse_noise"] == "inside"
    assert high["d_mse"] == pytest.approx(0.0010) and high["mse_noise"] == "outside"
    assert low["d_sharpe"] == pytest.approx(0.10) and low["sharpe_noise"] == "inside"
    spread = math.sqrt(0.0002**2 / 3 * 2)
    assert abs(0.0001) <= 2 * spread < 0.0010  # the reference the two classifications follow
    assert summary.loc[("p_uncond=0.1", "persistence"), "mse_noise"] == "n/a"  # one 'seed': no spread
    assert np.isnan(summary.loc[("p_uncond=0.1", "vta_reasoner"), "mse"])  # absent model: NaN, not zero
    markdown = sensitivity_markdown(summary.reset_index(), design, {"p_uncond": "0.3"})
    assert "| 0.3 (base run) | CALF-like backbone | 0.0625 | - |" in markdown
    assert "+0.0001 (noise)" in markdown and "+0.0010 *" in markdown
    assert "VTA (own reasoner)" not in markdown  # no run produced it


def test_failed_variant_is_listed_and_summarised_as_missing(sensitivity_results):
    cfg, design, results = sensitivity_results
    results = {**results, "p_uncond=0.5": VariantResult("p_uncond=0.5", None, None, wall_s=5.0, failure="Crashed")}
    summary = summarise(design, results, ("calf",), sigmas=2.0)
    assert summary.loc[summary["variant"] == "p_uncond=0.5", "mse"].isna().all()
    assert "| p_uncond=0.5 | 5.0 | - | failed: Crashed |" in wall_time_markdown(results)


def test_sensitivity_plot_is_a_png(sensitivity_results, tmp_path):
    cfg, design, results = sensitivity_results
    summary = summarise(design, results, ("calf", "persistence"), sigmas=2.0)
    path = sensitivity_plot(summary, "p_uncond", "0.3", tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*.tmp*"))


def test_ablation_markdown_shows_paper_numbers_and_changes(cpu):
    design = ablation_design(cpu)
    base = _errors(
        [(m, 0.07, 0.0, "-") for m in ("persistence", "reasoner_base", "reasoner_stage0", "reasoner_stage1")]
        + [(m, 0.06, 0.0, "-") for m in ("reasoner_stage2", "reasoner_stage3", "llm_released")]
        + [(m, 0.0625, 0.0002, "0,1,2") for m in ("calf", "vta_reasoner", "vta_released")]
    )
    variant = _errors([("reasoner_stage3", 0.08, 0.0, "-"), ("vta_reasoner", 0.0626, 0.0002, "0,1,2")])
    results = {BASE: VariantResult(BASE, base, None)}
    results.update({v.name: VariantResult(v.name, variant, None) for v in design.variants[1:]})
    summary = summarise(design, results, (), sigmas=2.0)
    assert len(summary) == len(design.rows)
    markdown = ablation_markdown(summary, design)
    assert "| LLM only: reasoner, stages 1-3 (+ RL for reasoning) | base | 0.0600 | - |" in markdown
    assert "| 0.0686 |" in markdown  # the paper's stage-3 number beside ours
    assert "| indicators off in the prompt: reasoner, stages 1-3 | no_indicators | 0.0800 | +0.0200 |" in markdown


def test_dispatched_variants_all_start_before_any_is_awaited(monkeypatch, tmp_path):
    """With dispatch on, every variant is submitted to the pipeline deployment (timeout 0) before the flow
    polls any of them, so they run concurrently on the workers; a failed variant is recorded, not fatal."""
    import flows.dispatch as dispatch
    import flows.study_flow as study_flow
    from flows.pipeline import PipelineResult
    from vta_core.artifacts import ArtifactRef

    cfg = load_config("smoke", overrides=[f"runtime.home={tmp_path}"], environ={})
    design = sensitivity_design(cfg, ("gamma",))
    configs = {v.name: load_config("smoke", overrides=v.overrides, environ={}) for v in design.variants}
    ref = ArtifactRef(stage="error_evaluation", key="k", path=str(tmp_path))
    data = {name: ref for name in ("cleaned", "windows", "annotations", "prompts")}
    done = PipelineResult(run_folder="r", data=data, predictions=[], errors=ref, error_table_markdown="")
    fake = FakeDeployments(lambda name: name != "gamma=8", done)
    fake.install(monkeypatch, dispatch)
    monkeypatch.setattr(
        study_flow,
        "_from_pipeline",
        lambda name, result, wall_s, protocol: VariantResult(name, None, None, wall_s=wall_s),
    )
    variants = [v for v in design.variants if not v.is_base]
    results = study_flow._dispatched(variants, configs)
    for name, parameters in fake.parameters.items():
        assert parameters["dispatch"] is True and parameters["mark_latest"] is False
        assert parameters["config"]["backtest"]["portfolio"]["gamma"] == configs[name].backtest.portfolio.gamma
    fake.assert_all_started_before_any_polled(2)
    assert results["gamma=8"].failure == "Crashed" and not results["gamma=0.5"].failure
    assert results["gamma=0.5"].wall_s == 12.0  # the run's own start-to-end time


class FakeDeployments:
    """run_deployment and the sync client, recording the order of starts and polls."""

    def __init__(self, completes, result):
        import uuid

        self.uuid, self.completes, self.result = uuid, completes, result
        self.events: list[str] = []
        self.ids: dict[str, object] = {}
        self.parameters: dict[str, dict] = {}

    def install(self, monkeypatch, dispatch):
        monkeypatch.setattr(dispatch, "run_deployment", self.run_deployment)
        monkeypatch.setattr(dispatch, "get_client", lambda sync_client: self)
        monkeypatch.setattr(dispatch, "POLL_SECONDS", 0.0)

    def run_deployment(self, name, parameters, timeout, flow_run_name):
        from types import SimpleNamespace

        assert timeout == 0, "started without waiting"
        key = flow_run_name or name
        self.events.append(f"start {key}")
        self.ids[key], self.parameters[key] = self.uuid.uuid4(), parameters
        return SimpleNamespace(id=self.ids[key])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read_flow_run(self, run_id):
        import datetime as dt
        from types import SimpleNamespace

        key = next(k for k, i in self.ids.items() if i == run_id)
        self.events.append(f"poll {key}")
        ok = self.completes(key)
        state = SimpleNamespace(
            is_final=lambda: True,
            is_completed=lambda: ok,
            name="Completed" if ok else "Crashed",
            result=lambda: self.result,
        )
        t0 = dt.datetime(2026, 12, 2, 12, 0, 0)
        return SimpleNamespace(state=state, start_time=t0, end_time=t0 + dt.timedelta(seconds=12))

    def assert_all_started_before_any_polled(self, n: int) -> None:
        starts = [i for i, e in enumerate(self.events) if e.startswith("start")]
        polls = [i for i, e in enumerate(self.events) if e.startswith("poll")]
        assert len(starts) == n and max(starts) < min(polls), self.events


def test_dispatched_pipeline_runs_baselines_reasoning_and_backbone_concurrently(monkeypatch):
    import flows.dispatch as dispatch
    import flows.pipeline as pipeline
    from vta_core.artifacts import ArtifactRef

    ref = {"stage": "s", "key": "k", "path": "/nowhere"}
    reasoner = {f: ref for f in ("base", "stage1", "stage2", "stage3", "final_generation")} | {
        "stage0": None,
        "generations": {},
    }
    by_deployment = {
        "vta-data/vta-data": {name: ref for name in ("cleaned", "windows", "annotations", "prompts")},
        "vta-baselines/vta-baselines": [ref],
        "vta-backbone/vta-backbone": [ref],
        "vta-reasoning/vta-reasoning": reasoner,
        "vta-fusion/vta-fusion": [ref],
        "vta-evaluation/vta-evaluation": ref,
    }
    fake = FakeDeployments(lambda name: True, None)
    fake.install(monkeypatch, dispatch)
    fake.read = fake.read_flow_run

    def read_flow_run(run_id):
        run = fake.read(run_id)
        key = next(k for k, i in fake.ids.items() if i == run_id)
        run.state.result = lambda: by_deployment[key]
        return run

    fake.read_flow_run = read_flow_run
    cfg = load_config("smoke", environ={})
    run = pipeline._dispatched(cfg)
    assert run.errors == ArtifactRef.model_validate(ref)
    events = fake.events
    concurrent = ["vta-baselines/vta-baselines", "vta-backbone/vta-backbone", "vta-reasoning/vta-reasoning"]
    first_poll = min(i for i, e in enumerate(events) if e.startswith("poll") and e.split(" ")[1] in concurrent)
    assert all(events.index(f"start {name}") < first_poll for name in concurrent), events
    assert events.index("start vta-fusion/vta-fusion") > max(events.index(f"poll {name}") for name in concurrent)


def test_gpu_flows_hold_a_gpu_slot_only_on_cuda_hosts(monkeypatch):
    import contextlib

    import flows.gpu as gpu
    from flows.backbone_flow import backbone_flow
    from flows.fusion_flow import fusion_flow
    from flows.reasoning_flow import reasoning_flow

    taken = []

    @contextlib.contextmanager
    def fake_concurrency(name, occupy, strict):
        taken.append((name, occupy, strict))
        yield

    monkeypatch.setattr(gpu, "concurrency", fake_concurrency)
    monkeypatch.setattr(gpu, "_cuda", lambda: False)
    with gpu.gpu_slot() as held:
        assert held is False and taken == []
    monkeypatch.setattr(gpu, "_cuda", lambda: True)
    with gpu.gpu_slot() as held:
        assert held is True and taken == [("vta-gpu", 1, False)]
    for flow in (backbone_flow, fusion_flow, reasoning_flow):  # each GPU flow's body runs inside the slot
        assert flow.fn.__wrapped__ is not None and "preset" in flow.parameters.properties
