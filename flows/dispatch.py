"""Start stage flows as deployments on their work pools and wait for their persisted results.

`dispatched_together` starts several deployments at once (run_deployment with timeout 0) and then waits for
all of them, so independent stage flows (baselines, reasoning, backbone) run concurrently on the workers.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from pydantic import BaseModel

POLL_SECONDS = 5.0


class DispatchError(RuntimeError):
    """A dispatched stage flow did not complete."""


def _plain(value: Any) -> Any:
    # The result is unpickled under the worker's module objects; plain data revalidates cleanly here.
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def start(deployment: str, parameters: dict[str, Any], name: str | None = None) -> UUID:
    """Create a flow run of `deployment` (a sub-flow of the calling flow) without waiting for it."""
    run = run_deployment(name=deployment, parameters=parameters, timeout=0, flow_run_name=name)
    return run.id


def wait_all(runs: dict[str, UUID], poll_seconds: float = POLL_SECONDS) -> dict[str, FlowRun]:
    """Wait until every run is in a final state; the runs by key, in the order they finished."""
    finished: dict[str, FlowRun] = {}
    with get_client(sync_client=True) as client:
        while len(finished) < len(runs):
            for key, run_id in runs.items():
                if key not in finished:
                    run = client.read_flow_run(run_id)
                    if run.state is not None and run.state.is_final():
                        finished[key] = run
            if len(finished) < len(runs):
                time.sleep(poll_seconds)
    return finished


def result_of(deployment: str, run: FlowRun) -> Any:
    if not run.state or not run.state.is_completed():
        raise DispatchError(f"deployment {deployment} ended in state {run.state.name if run.state else 'unknown'}")
    # Stage flows persist their (small) results; result storage must be readable by both sides: `runtime.storage`
    # (a saved RemoteFileSystem block, see tasks/remote.py), or PREFECT_LOCAL_STORAGE_PATH on shared storage.
    return _plain(run.state.result())


def dispatched_together(calls: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """{key: (deployment, parameters)} -> {key: result}; all started before any is awaited."""
    runs = {key: start(deployment, parameters) for key, (deployment, parameters) in calls.items()}
    finished = wait_all(runs)
    return {key: result_of(calls[key][0], finished[key]) for key in calls}


def dispatched(deployment: str, parameters: dict[str, Any]) -> Any:
    return dispatched_together({"run": (deployment, parameters)})["run"]
