"""Task retries are for transient errors only; the VTAFAULT_ONCE fault injection fails a stage body exactly once."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed

import tasks
from tasks.caching import transient_only
from tasks.data_tasks import cleanse_prices
from tasks.faults import FILE_VARIABLE, STAGE_VARIABLE, InjectedFault, maybe_fail
from vta_core.artifacts import MissingArtifactError
from vta_core.config.data_sections import CalendarConfig, SourceConfig
from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.stages.cleanse_stage import cleanse_stage

BAD_INPUT = [
    ValueError("lookback must be positive"),
    DataValidationError([DataProblem("prices.csv", "missing_column", "no column 'Adj Close'")]),
    KeyError("ticker"),
    MissingArtifactError("artifact windows/abc is missing"),  # a FileNotFoundError: still missing next time
    FileNotFoundError("prices.csv"),
    PermissionError("prices.csv: permission denied"),
    IsADirectoryError("prices.csv is a folder"),
    InjectedFault("injected"),
]
TRANSIENT = [OSError("stale NFS handle"), TimeoutError("read timed out"), ConnectionResetError("reset by peer")]


@pytest.mark.parametrize("error", BAD_INPUT + TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_only_retries_io_errors_not_bad_input(error):
    assert transient_only(None, None, Failed(data=error)) is (error in TRANSIENT)


def _task_objects() -> list[Task]:
    found = []
    for module in pkgutil.iter_modules(tasks.__path__):
        loaded = importlib.import_module(f"tasks.{module.name}")
        found += [obj for obj in vars(loaded).values() if isinstance(obj, Task)]
    return found


def test_every_task_that_retries_retries_transient_errors_only():
    retrying = [t for t in _task_objects() if t.retries]
    assert cleanse_prices in retrying
    for task_ in retrying:
        assert task_.retry_condition_fn is transient_only, f"task {task_.name} retries bad input too"


def test_fault_fires_once_for_its_stage_only(tmp_path):
    armed = tmp_path / "armed"
    armed.touch()
    env = {STAGE_VARIABLE: "backtest", FILE_VARIABLE: str(armed)}
    maybe_fail("fusion_inference", env)  # another stage: nothing
    assert armed.exists()
    with pytest.raises(InjectedFault, match="backtest"):
        maybe_fail("backtest", env)
    assert not armed.exists()
    maybe_fail("backtest", env)  # disarmed: runs normally
    maybe_fail("backtest", {STAGE_VARIABLE: "backtest"})  # no file variable: a warning, no fault
    maybe_fail("backtest", {})


@pytest.fixture
def stage_body(monkeypatch):
    """Replace the cleanse stage's body by a script: each call raises the next scripted error or returns "done"."""
    script: list[BaseException] = []
    calls: list[int] = []

    def body(*_args, **_kwargs):
        calls.append(1)
        if script:
            raise script.pop(0)
        return "done"

    monkeypatch.setattr(cleanse_stage, "fn", body)
    return script, calls


def _run_cleanse(tmp_path):
    """The real cleanse task with its own retry options; no delay, no cache, nothing persisted."""
    fast = cleanse_prices.with_options(retry_delay_seconds=0, cache_policy=NO_CACHE, persist_result=False)
    return fast(SourceConfig(), CalendarConfig(), "fingerprint", tmp_path / "artifacts", return_state=True)


@pytest.mark.flow
def test_task_retries_a_transient_error_and_fails_bad_input_at_once(harness, stage_body, tmp_path, monkeypatch):
    script, calls = stage_body
    script.append(OSError("file replaced while reading"))
    state = _run_cleanse(tmp_path)
    assert state.is_completed() and state.result() == "done" and len(calls) == 2  # one retry

    for error in (ValueError("bad lookback"), DataValidationError([DataProblem("p.csv", "empty", "no rows")])):
        calls.clear()
        script.append(error)
        state = _run_cleanse(tmp_path)
        assert state.is_failed() and len(calls) == 1, f"{type(error).__name__} must not be retried"
        assert isinstance(state.result(raise_on_failure=False), type(error))

    calls.clear()
    armed = tmp_path / "armed"
    armed.touch()
    monkeypatch.setenv(STAGE_VARIABLE, "cleanse")
    monkeypatch.setenv(FILE_VARIABLE, str(armed))
    state = _run_cleanse(tmp_path)
    assert state.is_failed() and isinstance(state.result(raise_on_failure=False), InjectedFault)
    assert calls == [] and not armed.exists(), "the fault fires before the body, once, and is not retried"
    assert _run_cleanse(tmp_path).is_completed() and len(calls) == 1
