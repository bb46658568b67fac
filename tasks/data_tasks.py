"""Prefect tasks for the data stages: read + cleanse, then split, scale and window."""

from __future__ import annotations

from pathlib import Path

from tasks.caching import stage_task, transient_only
from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.config.data_sections import CalendarConfig, SourceConfig, SplitConfig, WindowConfig
from vta_core.stages.cleanse_stage import cleanse_stage
from vta_core.stages.windows_stage import windows_stage


# One retry for a file being replaced while it is read (an OSError); bad data fails at once.
@stage_task(cleanse_stage, retries=1, retry_delay_seconds=2, retry_condition_fn=transient_only)
def cleanse_prices(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, store_root: Path
) -> ArtifactRef:
    return cleanse_stage(source, calendar, input_fingerprint, store=ArtifactStore(store_root))


@stage_task(windows_stage)
def build_windows(window: WindowConfig, split: SplitConfig, cleaned: ArtifactRef, store_root: Path) -> ArtifactRef:
    return windows_stage(window, split, cleaned, store=ArtifactStore(store_root))
