"""Prefect task: a study's summary in the UI (Markdown, the long table, a link to its folder)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_study(folder: Path, kind: str) -> None:
    create_markdown_artifact(key=f"vta-study-{kind}", markdown=(folder / "summary.md").read_text(), description=kind)
    table = pd.read_parquet(folder / "summary.parquet")
    records = table.round(6).astype(object).where(table.notna(), None).to_dict("records")
    create_table_artifact(key=f"vta-study-{kind}-table", table=records, description=f"{kind}: variant x model")
    create_link_artifact(
        key=f"vta-study-{kind}-folder", link=folder.resolve().as_uri(), link_text=str(folder), description=kind
    )
