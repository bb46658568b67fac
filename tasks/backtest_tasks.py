"""Prefect tasks: the backtest stage (with a progress artifact), and its tables and equity curve in the UI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.caching import stage_task
from tasks.progress import progress_hook, progress_key
from tasks.tables import publish_table
from vta_core.artifacts import ArtifactRef, ArtifactStore, require
from vta_core.config.backtest_sections import Protocol
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.portfolio_sections import PortfolioConfig
from vta_core.identities import label
from vta_core.stages.backtest_stage import backtest_stage


@stage_task(backtest_stage, task_run_name="backtest-{protocol}")
def run_backtest(
    portfolio: PortfolioConfig,
    calendar: CalendarConfig,
    protocol: Protocol,
    cleaned: ArtifactRef,
    windows: ArtifactRef,
    predictions: list[ArtifactRef],
    prompt_digits: int,
    store_root: Path,
) -> ArtifactRef:
    hook = progress_hook(progress_key("backtest", protocol), f"backtest ({protocol}): decision days planned")
    return backtest_stage(
        portfolio,
        calendar,
        protocol,
        cleaned,
        windows,
        predictions,
        prompt_digits,
        progress=hook,
        store=ArtifactStore(store_root),
    )


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_backtest(backtest: ArtifactRef, protocol: str) -> str:
    """Table 4 as Markdown and as a table, every strategy run (seed) as a table, and a link to the equity curve
    (every run, cached or not)."""
    require(backtest)
    markdown = backtest.file("table4.md").read_text()
    create_markdown_artifact(key=f"vta-backtest-{protocol}", markdown=markdown, description=f"portfolio, {protocol}")
    table = pd.read_parquet(backtest.file("table4.parquet"))
    table = table.assign(strategy=table["strategy"].astype(str).map(label))
    records = table.round(6).astype(object).where(table.notna(), None).to_dict("records")
    create_table_artifact(key=f"vta-portfolio-{protocol}", table=records, description=f"Table 4 layout, {protocol}")
    runs = pd.read_parquet(backtest.file("runs.parquet"))
    runs = runs.assign(strategy=runs["strategy"].astype(str).map(label))
    publish_table(f"vta-portfolio-runs-{protocol}", runs, f"every metric per strategy and seed, {protocol}")
    create_link_artifact(
        key=f"vta-equity-curve-{protocol}",
        link=backtest.file("equity_curve.png").as_uri(),
        link_text="equity curve (PNG, net of costs)",
        description=f"cumulative net returns, {protocol}",
    )
    return markdown
