"""Start a stage flow as a deployment on its work pool and wait for its persisted result."""

from typing import Any

from prefect.deployments import run_deployment
from pydantic import BaseModel


class DispatchError(RuntimeError):
    """A dispatched stage flow did not complete."""


def _plain(value: Any) -> Any:
    # The result is unpickled under the worker's module objects; plain data revalidates cleanly here.
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dispatched(deployment: str, parameters: dict[str, Any]) -> Any:
    run = run_deployment(name=deployment, parameters=parameters)
    if not run.state or not run.state.is_completed():
        raise DispatchError(f"deployment {deployment} ended in state {run.state.name if run.state else 'unknown'}")
    # Stage flows persist their (small) results; result storage must be readable by both sides
    # (PREFECT_LOCAL_STORAGE_PATH on shared storage, or a remote result storage block).
    return _plain(run.state.result())
