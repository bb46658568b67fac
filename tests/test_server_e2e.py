"""End to end against a real Prefect server (`prefect server start`), not the embedded one.

One server per module (tools/local_server.py): pools vta-cpu and vta-cuda (process), one worker each, every
deployment of deployments/prefect.yaml deployed with `prefect deploy --all`. Then:

1. the parent deployment `vta-pipeline/vta-pipeline` with dispatch=true runs every stage flow as its own
   deployment run on its pool, and its predictions equal an in-process run's;
2. a fault injected once into one stage (VTAFAULT_ONCE) fails the parent; `prefect flow-run retry <id>` (the
   UI's Retry) completes it, executing only the failed stage and what depends on it.

The workers write artifacts under a temporary VTA_RUNTIME__HOME and share one PREFECT_LOCAL_STORAGE_PATH (the
parent reads its dispatched children's results there). Everything started is stopped by PID on teardown.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks.faults import FILE_VARIABLE, STAGE_VARIABLE  # noqa: E402
from tools.local_server import LocalServer, local_server  # noqa: E402
from vta_core.config import load_config  # noqa: E402
from vta_core.runs import latest_run  # noqa: E402

pytestmark = [pytest.mark.flow, pytest.mark.e2e]

PIPELINE = "vta-pipeline/vta-pipeline"
# Short: no reasoner, one learned model (the CALF-like backbone fusion needs), the run's own split only.
OVERRIDES = ["reasoner.enabled=false", "tsmixer.enabled=false", "dlinear.enabled=false", "backtest.protocols=[run]"]
STAGE_POOLS = {
    "vta-data/vta-data": "vta-cpu",
    "vta-baselines/vta-baselines": "vta-cpu",
    "vta-backbone/vta-backbone": "vta-cuda",
    "vta-fusion/vta-fusion": "vta-cuda",
    "vta-evaluation/vta-evaluation": "vta-cpu",
    "vta-backtest/vta-backtest": "vta-cpu",
}
FAULT_STAGE = "fusion_inference"
RUN_TIMEOUT = 1800  # seconds; a dispatched smoke run takes about 3 minutes on 2 idle cores


@dataclass
class Stack:
    server: LocalServer
    home: Path  # the workers' VTA_RUNTIME__HOME
    armed: Path  # VTAFAULT_FILE: the fault fires while it exists


def _say(message: str) -> None:
    """Timings: shown with `pytest -s` (and in the captured output of a failure)."""
    sys.stderr.write(f"[server-e2e] {message}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("server")
    home, armed = work / "runs", work / "fault-armed"
    env = {"VTA_RUNTIME__HOME": str(home), STAGE_VARIABLE: FAULT_STAGE, FILE_VARIABLE: str(armed)}
    started = time.monotonic()
    try:
        with local_server(work, worker_env=env) as server:
            up = time.monotonic()
            server.deploy()
            _say(f"server + pools + workers up in {up - started:.0f} s, deploy --all {time.monotonic() - up:.0f} s")
            yield Stack(server, home, armed)
            stopping = time.monotonic()
        _say(f"stopped in {time.monotonic() - stopping:.0f} s")
    finally:
        armed.unlink(missing_ok=True)


def _run_pipeline(server: LocalServer, overrides: list[str]) -> tuple[str, dict]:
    started = time.monotonic()
    run_id = server.run_deployment(PIPELINE, {"preset": "smoke", "dispatch": True, "overrides": overrides})
    run = server.wait(run_id, timeout=RUN_TIMEOUT)
    _say(f"dispatched pipeline {run_id} ended {run['state_name']} after {time.monotonic() - started:.0f} s")
    return run_id, run


def _stage_runs(server: LocalServer, parent_id: str, exclude: Collection[str] = ()) -> dict[str, dict]:
    """The parent's dispatched stage flow runs (direct children) by deployment name, minus the ids in `exclude`."""
    names = server.deployment_names()
    runs = [r for r in server.flow_runs(parent_flow_run_id={"any_": [parent_id]}) if r["id"] not in exclude]
    by_deployment = {names.get(r["deployment_id"], r["name"]): r for r in runs}
    assert len(by_deployment) == len(runs), f"one run per stage flow expected: {[r['name'] for r in runs]}"
    return by_deployment


def _descendants(server: LocalServer, parent_id: str) -> list[dict]:
    """Every flow run below the parent: the dispatched ones and the sub-flows they ran in their own process."""
    found, todo = [], [parent_id]
    while todo:
        children = server.flow_runs(parent_flow_run_id={"any_": todo})
        found += children
        todo = [c["id"] for c in children]
    return found


def _assert_on_intended_pools(server: LocalServer, runs: dict[str, dict]) -> None:
    assert {name: run["work_pool_name"] for name, run in runs.items()} == {n: STAGE_POOLS[n] for n in runs}
    for name, run in runs.items():
        pool = STAGE_POOLS[name]
        assert run["infrastructure_pid"], f"{name} was not started by a process worker"
        log = (server.logs / f"worker-{pool}.log").read_text()
        assert f"submitting flow run '{run['id']}'" in log, f"{name} was not picked up by the {pool} worker"


def _predictions(refs: list[dict]) -> dict[tuple[str, str], pd.DataFrame]:
    return {(r["stage"], r["key"]): pd.read_parquet(Path(r["path"]) / "predictions.parquet") for r in refs}


def test_dispatched_pipeline_runs_each_stage_on_its_pool_and_matches_in_process(stack, tmp_path):
    server = stack.server
    run_id, run = _run_pipeline(server, OVERRIDES)
    assert run["state_type"] == "COMPLETED", server.log_tail("worker-vta-cpu") + server.log_tail("worker-vta-cuda")
    assert run["work_pool_name"] == "vta-cpu"

    stages = _stage_runs(server, run_id)
    assert set(stages) == set(STAGE_POOLS), "every stage flow (no reasoner here) ran as its own deployment run"
    assert all(r["state_type"] == "COMPLETED" for r in stages.values())
    _assert_on_intended_pools(server, stages)
    # A stage flow re-enters the data flow as an in-process sub-flow (cached): never a deployment run of its own.
    nested = [r for r in _descendants(server, run_id) if r["id"] not in {s["id"] for s in stages.values()}]
    assert nested and all(r["deployment_id"] is None for r in nested)

    dispatched = json.loads((latest_run(stack.home) / "refs.json").read_text())

    from prefect.settings import PREFECT_API_URL, PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from flows.pipeline import vta_pipeline

    started = time.monotonic()
    cfg = load_config("smoke", overrides=[f"runtime.home={tmp_path / 'runs'}", *OVERRIDES], environ={})
    with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_LOCAL_STORAGE_PATH: tmp_path / "storage"}):
        local = vta_pipeline(preset="smoke", config=cfg)
    _say(f"in-process pipeline (same overrides, its own artifact store) took {time.monotonic() - started:.0f} s")

    mine = _predictions(dispatched["predictions"])
    theirs = _predictions([r.model_dump(mode="json") for r in local.predictions])
    assert list(mine) == list(theirs), "same stages and keys: the same work was done"
    assert {stage for stage, _ in mine} >= {"naive_baselines", "timeseries_model", "fusion_inference"}
    # Equal up to float32 round-off: a worker process trains with its own torch thread layout (and the dispatched
    # baselines, reasoning and backbone flows run at once), which reorders float32 sums (seen: 1.5e-8 absolute).
    close = {"check_exact": False, "rtol": 1e-4, "atol": 1e-6}
    for ref, frame in mine.items():
        pd.testing.assert_frame_equal(frame, theirs[ref], obj=f"predictions of {ref}", **close)
    assert Path(dispatched["errors"]["path"]) != local.errors.path and dispatched["errors"]["key"] == local.errors.key
    pd.testing.assert_frame_equal(
        pd.read_parquet(Path(dispatched["errors"]["path"]) / "error_table.parquet"),
        pd.read_parquet(local.errors.file("error_table.parquet")),
        **close,
    )


def _artifact_folders(home: Path) -> dict[Path, int]:
    """Every finished stage folder under the artifact store, with its manifest's mtime (a re-run rewrites it)."""
    return {m.parent: m.stat().st_mtime_ns for m in (home / "artifacts").glob("*/*/_manifest.json")}


def _stages(folders) -> Counter[str]:
    return Counter(folder.parent.name for folder in folders)


def _stage_task_names() -> dict[str, str]:
    """Task function name (the start of a task run's task_key) -> stage name, for every @stage_task."""
    import importlib
    import pkgutil

    from prefect import Task

    import tasks
    from tasks.caching import STAGE_ATTRIBUTE

    names = {}
    for module in pkgutil.iter_modules(tasks.__path__):
        for obj in vars(importlib.import_module(f"tasks.{module.name}")).values():
            if isinstance(obj, Task) and hasattr(obj.fn, STAGE_ATTRIBUTE):
                names[obj.fn.__name__] = getattr(obj.fn, STAGE_ATTRIBUTE).name
    return names


def test_failed_stage_retried_from_the_ui_executes_only_it_and_what_follows(stack):
    server = stack.server
    # A new fusion model (p_uncond) so that fusion training runs in the failing attempt; the fault then hits the
    # guided inference that follows it. Everything upstream is cached or runs in the failing attempt.
    overrides = [*OVERRIDES, "fusion.training.p_uncond=0.5"]
    stack.armed.touch()
    before = _artifact_folders(stack.home)
    run_id, failed = _run_pipeline(server, overrides)
    assert failed["state_type"] == "FAILED"
    assert not stack.armed.exists(), "the fault fired (and disarmed itself)"
    first = _stage_runs(server, run_id)
    assert set(first) == {"vta-data/vta-data", "vta-baselines/vta-baselines", "vta-backbone/vta-backbone"} | {
        "vta-fusion/vta-fusion"
    }, "the parent stops at the failed stage flow"
    fusion = first["vta-fusion/vta-fusion"]
    assert fusion["state_type"] == "FAILED" and "injected fault" in fusion["state"]["message"].lower()
    _assert_on_intended_pools(server, first)
    after_failure = _artifact_folders(stack.home)
    written = _stages(set(after_failure) - set(before))
    assert written["fusion_training"] == 1, "the stage before the fault completed in the failed attempt"
    assert not {FAULT_STAGE, "error_evaluation", "backtest"} & set(written), "nothing at or after the fault"

    seen = {r["id"] for r in _descendants(server, run_id)}
    started = time.monotonic()
    server.retry(run_id)  # `prefect flow-run retry <id>`
    retried = server.wait(run_id, timeout=RUN_TIMEOUT)
    _say(f"retry of {run_id} ended {retried['state_name']} after {time.monotonic() - started:.0f} s")
    assert retried["state_type"] == "COMPLETED" and retried["run_count"] == 2

    # Artifact store: the failed stage and its descendants wrote one new folder each; nothing else was rewritten.
    after_retry = _artifact_folders(stack.home)
    assert _stages(set(after_retry) - set(after_failure)) == Counter(
        {FAULT_STAGE: 1, "error_evaluation": 1, "backtest": 1}
    )
    assert {f: after_retry.get(f) for f in after_failure} == after_failure, "a completed stage's folder was rewritten"

    # Prefect: the retry ran every stage flow again on its pool, as new runs; only those three task bodies executed,
    # every other stage task (fusion training included) was a cache hit.
    second = _stage_runs(server, run_id, exclude=seen)
    assert set(second) == set(STAGE_POOLS) and all(r["state_type"] == "COMPLETED" for r in second.values())
    _assert_on_intended_pools(server, second)
    attempt = [r["id"] for r in _descendants(server, run_id) if r["id"] not in seen]
    stage_of_task = _stage_task_names()
    states: dict[str, set[str]] = {}
    for task_run in server.task_runs(attempt):
        stage = stage_of_task.get(task_run["task_key"].rsplit("-", 1)[0])
        if stage:
            states.setdefault(task_run["state_name"], set()).add(stage)
    assert states.get("Completed") == {FAULT_STAGE, "error_evaluation", "backtest"}, states
    assert {"cleanse", "windows", "naive_baselines", "timeseries_model", "fusion_training"} <= states.get(
        "Cached", set()
    )
    assert set(states) == {"Completed", "Cached"}, states
