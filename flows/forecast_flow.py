"""Daily forecast flow: the latest prices from a file, a folder or an fsspec URL, validated and cleansed like
training data, forecast with the latest finished training run (or a pinned one) for every ticker with enough
history; a ticker the run never saw is scaled on its own history and marked so."""

from pathlib import Path

from prefect import flow

from flows.common import flow_logger
from tasks.forecast_tasks import forecast_latest, publish_forecast
from vta_core.runs import latest_run


@flow(name="vta-forecast", flow_run_name="forecast", persist_result=False)
def forecast_flow(
    source: str = "data/latest",
    run: str | None = None,
    home: str = "runs",
    min_history: int = 60,
) -> str:
    """source: a price file, a folder of files, or an fsspec URL; run: a finished run folder (default: the
    latest under `home`). Returns the dated forecast folder."""
    folder = Path(run) if run else latest_run(Path(home))
    result = forecast_latest(folder, source, Path(home), min_history)
    publish_forecast(result)
    skipped = len(result.prediction.skipped)
    flow_logger().info("forecast as of %s: %s (%d skipped)", result.as_of, result.folder, skipped)
    return str(result.folder)
