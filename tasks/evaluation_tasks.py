"""Prefect tasks for error evaluation and for publishing its tables in the UI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.caching import stage_task
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.evaluation_sections import EvaluationConfig
from vta_core.stages import evaluation_stage


@stage_task(evaluation_stage.error_evaluation_stage)
def evaluate_errors(
    evaluation: EvaluationConfig, windows: ArtifactRef, predictions: list[ArtifactRef], store_root: Path
) -> ArtifactRef:
    return evaluation_stage.error_evaluation_stage(evaluation, windows, predictions, store=ArtifactStore(store_root))


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_error_table(errors: ArtifactRef) -> str:
    """Show the error table in the Prefect UI (every run, cached or not) and return its Markdown."""
    summary, markdown = evaluation_stage.read_error_table(errors)
    create_markdown_artifact(key="vta-error-table", markdown=markdown, description="MSE/MAE beside the paper's rows")
    records = summary.round(6).astype({"seeds": str}).to_dict("records")
    create_table_artifact(key="vta-error-summary", table=records, description="Error summary per model and split")
    quality = errors.file("reasoning_quality.parquet")
    if quality.is_file():
        table = pd.read_parquet(quality)
        rows = table.round(6).astype(object).where(table.notna(), None).to_dict("records")
        create_table_artifact(
            key="vta-reasoning-quality", table=rows, description="format, grounding, consistency, conclusion agreement"
        )
    return markdown


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_run_folder(folder: Path, report: Path | None) -> None:
    """Links to the finished run's folder and its report (the UI cannot show local files; the link names them)."""
    create_link_artifact(key="vta-run-folder", link=folder.resolve().as_uri(), link_text=str(folder))
    if report is not None:
        create_link_artifact(key="vta-run-report", link=report.resolve().as_uri(), link_text="run report (Markdown)")
