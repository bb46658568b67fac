"""Prefect tasks of the daily forecast: read, validate and forecast (retried on transient errors only: a bad file
fails at once), and publish the dated table in the UI."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.caching import transient_only
from vta_core.inference.daily import DailyForecast, daily_forecast


@task(
    cache_policy=NO_CACHE,
    persist_result=False,
    retries=2,
    retry_delay_seconds=30,
    retry_condition_fn=transient_only,
    task_run_name="forecast-{source}",
)
def forecast_latest(run_folder: Path, source: str, home: Path, min_history: int) -> DailyForecast:
    return daily_forecast(run_folder, source, home, min_history)


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_forecast(result: DailyForecast) -> None:
    create_markdown_artifact(key="vta-daily-forecast", markdown=result.markdown, description=f"as of {result.as_of}")
    table = result.prediction.table
    records = [
        {
            "ticker": row.ticker,
            "last_session": str(row.window_end_date)[:10],
            "last_price": round(float(row.last_price), 4),
            "forecast": [round(float(v), 4) for v in row.forecast],
            "fused": bool(row.fused),
            "narrator": row.narrator,
            "scaler": row.scaler,
        }
        for row in table.itertuples(index=False)
    ]
    create_table_artifact(key="vta-daily-forecast-table", table=records, description=f"as of {result.as_of}")
