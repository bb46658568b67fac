"""Start a stage flow as a deployment on its work pool and wait for its persisted result."""

from typing import Any

from prefect.deployments import run_deployment


class DispatchError(RuntimeError):
    """A dispatched stage flow did not complete."""


def dispatched(deployment: str, parameters: dict[str, Any]) -> Any:
    run = run_deployment(name=deployment, parameters=parameters)
    if not run.state or not run.state.is_completed():
        raise DispatchError(f"deployment {deployment} ended in state {run.state.name if run.state else 'unknown'}")
    # Stage results are persisted to the shared result storage, so the parent can read them back.
    return run.state.result()
