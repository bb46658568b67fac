"""Prefect tasks for the data stages: read + cleanse, then split, scale and window; the cleansing audit and
its summary as table artifacts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.caching import stage_task, transient_only
from tasks.tables import publish_table
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.data_sections import CalendarConfig, SourceConfig, SplitConfig, WindowConfig
from vta_core.result_tables import cleansing_summary
from vta_core.stages.cleanse_stage import cleanse_stage
from vta_core.stages.loaders import load_audit
from vta_core.stages.windows_stage import windows_stage

AUDIT_TABLE, SUMMARY_TABLE = "vta-cleansing-audit", "vta-cleansing-summary"


# One retry for a file being replaced while it is read (an OSError); bad data fails at once.
@stage_task(cleanse_stage, retries=1, retry_delay_seconds=2, retry_condition_fn=transient_only)
def cleanse_prices(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, store_root: Path
) -> ArtifactRef:
    return cleanse_stage(source, calendar, input_fingerprint, store=ArtifactStore(store_root))


@stage_task(windows_stage)
def build_windows(window: WindowConfig, split: SplitConfig, cleaned: ArtifactRef, store_root: Path) -> ArtifactRef:
    return windows_stage(window, split, cleaned, store=ArtifactStore(store_root))


@task(cache_policy=NO_CACHE, persist_result=False)
def publish_cleansing(cleaned: ArtifactRef) -> None:
    """The cleansing audit (first rows) and its summary per rule as table artifacts (every run, cached or not)."""
    audit = load_audit(cleaned)
    if len(audit):
        publish_table(AUDIT_TABLE, audit.astype(str), f"{len(audit)} dropped rows")
    summary = cleansing_summary(audit)
    publish_table(SUMMARY_TABLE, summary, f"{len(audit)} dropped rows by rule" if len(audit) else "no row dropped")
