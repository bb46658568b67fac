"""Prefect tasks for the data stages: thin wrappers over vta_core.stages.data_stages."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from tasks.caching import stage_task_options
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.sections import CalendarConfig, SourceConfig, SplitConfig, WindowConfig
from vta_core.stages import data_stages


@task(**stage_task_options(data_stages.CLEANSE), retries=1, retry_delay_seconds=2)
def cleanse_prices(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, store_root: Path
) -> ArtifactRef:
    return data_stages.cleanse_stage(source, calendar, input_fingerprint, ArtifactStore(store_root))


@task(**stage_task_options(data_stages.WINDOWS))
def build_windows(window: WindowConfig, split: SplitConfig, cleaned: ArtifactRef, store_root: Path) -> ArtifactRef:
    return data_stages.windows_stage(window, split, cleaned, ArtifactStore(store_root))
