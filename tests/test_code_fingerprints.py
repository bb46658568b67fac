"""Stage keys that cannot go stale: a fingerprint covers every module a stage can reach, and a key is
derived once, from the stage function's own arguments.

The main test edits, in a temporary copy of `vta_core`, one function that each stage calls
indirectly, and checks that exactly that stage's key and its descendants' keys change.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from pathlib import Path

import pytest

from vta_core import code_fingerprint
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.code_fingerprint import PACKAGE_ROOT, code_closure
from vta_core.config.evaluation_sections import BaselinesConfig
from vta_core.stage_keys import StageCallError
from vta_core.stages.baseline_stage import naive_baselines_stage
from vta_core.stages.registry import ALL_STAGES, STAGES_BY_NAME

# The pipeline's DAG of stage *runs*, written here independently of the flows: run -> (stage, upstream runs).
# GRPO runs twice (stages 1 and 3) with one stage function; generation runs once per decoded checkpoint.
DAG: dict[str, tuple[str, tuple[str, ...]]] = {
    "cleanse": ("cleanse", ()),
    "windows": ("windows", ("cleanse",)),
    "annotation": ("annotation", ("windows",)),
    "prompts": ("prompts", ("annotation", "windows")),
    "naive": ("naive_baselines", ("windows",)),
    "ridge": ("ridge_baseline", ("windows",)),
    "analyst": ("rule_based_analyst", ("annotation", "prompts", "windows")),
    "released": ("released_forecasts", ("windows",)),
    "prototypes": ("prototypes", ()),
    "backbone": ("timeseries_model", ("windows", "prototypes")),
    "base": ("reasoner_base", ("prompts", "analyst")),
    "stage0": ("reasoner_stage0", ("base", "analyst")),
    "stage1": ("reasoner_grpo", ("stage0", "prompts")),
    "stage2": ("reasoner_stage2", ("stage1", "prompts")),
    "stage3": ("reasoner_grpo", ("stage2", "prompts")),
    "generate0": ("reasoner_generation", ("stage0", "prompts", "windows", "annotation")),
    "generate3": ("reasoner_generation", ("stage3", "prompts", "windows", "annotation")),
    "fusion_train": ("fusion_training", ("backbone", "generate3", "windows")),
    "fusion_released": ("fusion_training", ("backbone", "released", "windows")),
    "fusion_infer": ("fusion_inference", ("fusion_train", "backbone", "generate3", "windows")),
    "errors": (
        "error_evaluation",
        ("windows", "naive", "ridge", "analyst", "released", "backbone", "generate0", "generate3", "fusion_infer"),
    ),
    "backtest": (
        "backtest",
        ("cleanse", "windows", "naive", "ridge", "analyst", "released", "backbone", "generate3", "fusion_infer"),
    ),
}
# For each stage, one function it calls (mostly indirectly, through a library module) and that no stage
# outside its descendants can reach.
EDITS: dict[str, tuple[str, str]] = {
    "cleanse": ("data/cleansing.py", "cleanse"),
    "windows": ("data/splits.py", "split_blocks"),
    "annotation": ("annotation/kernels.py", "statistics_kernel"),
    "prompts": ("prompts/template.py", "render"),
    "naive_baselines": ("baselines/naive.py", "persistence"),
    "ridge_baseline": ("baselines/ridge.py", "select_ridge"),
    "rule_based_analyst": ("analyst/rule_based.py", "narrative"),
    "released_forecasts": ("external/released_alignment.py", "recover_order"),
    "prototypes": ("models/prototypes.py", "principal_prototypes"),
    "timeseries_model": ("models/tsmixer.py", None),
    "reasoner_base": ("reasoner/tiny_model.py", "build_tiny_model"),
    "reasoner_stage0": ("reasoner/trl_configs.py", "sft_config"),
    "reasoner_grpo": ("reasoner/rewards.py", "forecast_mse"),
    "reasoner_stage2": ("reasoner/rejection.py", "select_best"),
    "reasoner_generation": ("stages/generation_stage.py", "_check_aligned"),
    "fusion_training": ("fusion/model.py", None),
    "fusion_inference": ("stages/fusion_inference_stage.py", "_sensitivity_table"),
    "error_evaluation": ("evaluation/paper_numbers.py", "paper_rows"),
    "backtest": ("portfolio/optimizer.py", "make_solver"),
}


def descendants(run: str) -> set[str]:
    found, frontier = set(), {run}
    while frontier:
        frontier = {child for child, (_, parents) in DAG.items() if set(parents) & frontier} - found
        found |= frontier
    return found


def run_keys(fingerprints: dict[str, str]) -> dict[str, str]:
    """Each run's key from its stage's fingerprint and its upstream keys, as `stage_key` composes them."""
    keys: dict[str, str] = {}
    while len(keys) < len(DAG):
        for run, (stage, parents) in DAG.items():
            if run not in keys and all(p in keys for p in parents):
                payload = fingerprints[stage] + "|" + "|".join(keys[p] for p in parents)
                keys[run] = hashlib.sha256(payload.encode()).hexdigest()
    return keys


def edit_function(path: Path, function: str | None) -> None:
    """Insert a statement at the top of `function` (or of the first function in the file)."""
    source = path.read_text()
    tree = ast.parse(source)
    target = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (function is None or node.name == function)
    )
    first = target.body[0]
    lines = source.splitlines(keepends=True)
    lines.insert(first.lineno - 1, " " * first.col_offset + "_edited = True  # noqa\n")
    path.write_text("".join(lines))


def fingerprints(root: Path) -> dict[str, str]:
    return {stage.name: stage.spec.code_fingerprint(root) for stage in ALL_STAGES}


@pytest.fixture(scope="module")
def original() -> dict[str, str]:
    return fingerprints(PACKAGE_ROOT)


def test_the_dag_and_the_edits_cover_every_stage():
    assert {stage for stage, _ in DAG.values()} == set(STAGES_BY_NAME) == set(EDITS)


@pytest.mark.parametrize("stage", sorted(EDITS))
def test_editing_a_called_function_changes_this_stage_and_its_descendants_only(stage, original, tmp_path):
    copy = tmp_path / "vta_core"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "resources"))
    relative, function = EDITS[stage]
    edit_function(copy / relative, function)
    edited = fingerprints(copy)
    runs = {run for run, (name, _) in DAG.items() if name == stage}
    affected = runs | set().union(*(descendants(run) for run in runs))
    changed_stages = {name for name in edited if edited[name] != original[name]}
    assert stage in changed_stages
    assert changed_stages <= {DAG[run][0] for run in affected}, f"{relative} reaches non-descendants"
    before, after = run_keys(original), run_keys(edited)
    assert {run for run in DAG if before[run] != after[run]} == affected


def test_the_stage_module_itself_and_lazy_imports_are_in_the_closure():
    closure = code_closure("vta_core.stages.annotation_stage").module_names
    assert "vta_core.stages.annotation_stage" in closure
    assert "vta_core.annotation.kernels" in closure  # reached through indicators.py
    assert "vta_core.config.annotation_sections" in closure
    assert "vta_core.reasoner.training" not in closure


def test_a_library_upgrade_changes_the_stages_that_import_it(monkeypatch, original):
    real = code_fingerprint.library_version
    monkeypatch.setattr(code_fingerprint, "library_version", lambda lib: "99.0" if lib == "torch" else real(lib))
    code_fingerprint.fingerprint.cache_clear()  # fingerprints are cached per process; this test upgrades torch
    upgraded = fingerprints(PACKAGE_ROOT)
    code_fingerprint.fingerprint.cache_clear()
    changed = {name for name in upgraded if upgraded[name] != original[name]}
    assert {"timeseries_model", "fusion_training", "reasoner_grpo"} <= changed
    assert {"cleanse", "windows", "annotation", "naive_baselines"}.isdisjoint(changed)


def test_the_key_comes_from_the_call_and_names_the_folder_the_stage_writes(tmp_path):
    windows = ArtifactRef(stage="windows", key="w1", path=tmp_path / "w")
    config = BaselinesConfig()
    key = naive_baselines_stage.key(config, windows)
    assert key == naive_baselines_stage.key(baselines=config, windows=windows, store=ArtifactStore(tmp_path))
    assert key != naive_baselines_stage.key(BaselinesConfig(models=("persistence",)), windows)
    assert key != naive_baselines_stage.key(config, windows.model_copy(update={"key": "w2"}))
    output = naive_baselines_stage.output(config, windows, store=ArtifactStore(tmp_path))
    assert output.ref.path == (tmp_path / "naive_baselines" / key).resolve()


def test_a_stage_call_without_a_store_or_with_unknown_arguments_fails(tmp_path):
    windows = ArtifactRef(stage="windows", key="w1", path=tmp_path / "w")
    with pytest.raises(StageCallError):
        naive_baselines_stage(BaselinesConfig(), windows, store=None)
    with pytest.raises(StageCallError):
        naive_baselines_stage.key(BaselinesConfig(), windows, horizon=3)


def test_a_task_wrapper_whose_parameters_drift_from_its_stage_is_refused():
    from tasks.caching import StageTaskError, stage_task

    def wrapper(baselines: BaselinesConfig, windows: ArtifactRef, extra: int, store_root: Path) -> ArtifactRef:
        raise AssertionError("never called")

    with pytest.raises(StageTaskError, match="extra"):
        stage_task(naive_baselines_stage)(wrapper)
