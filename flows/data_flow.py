"""Data flow: cleanse, split, scale and window the prices, then annotate them and write prompts (tasks 1-5)."""

from prefect import flow
from pydantic import BaseModel

from flows.common import flow_logger, publish, resolve
from tasks import annotation_tasks, data_tasks
from tasks.caching import bound
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.stages.cleanse_stage import source_fingerprint
from vta_core.stages.loaders import load_audit


class DataRefs(BaseModel):
    cleaned: ArtifactRef
    windows: ArtifactRef
    annotations: ArtifactRef
    prompts: ArtifactRef


@flow(name="vta-data", flow_run_name="data-{preset}", persist_result=True)
def data_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
) -> DataRefs:
    cfg = resolve(preset, config_file, overrides, config)
    root, data = artifact_root(cfg.runtime), cfg.data
    cleaned = bound(data_tasks.cleanse_prices, cfg.runtime)(
        data.source, data.calendar, source_fingerprint(data.source), root
    )
    windows = bound(data_tasks.build_windows, cfg.runtime)(data.window, data.split, cleaned, root)
    annotations = bound(annotation_tasks.annotate_windows, cfg.runtime)(cfg.annotation, windows, root)
    prompts = bound(annotation_tasks.build_prompts, cfg.runtime)(cfg.prompt, annotations, windows, root)
    audit = load_audit(cleaned)
    flow_logger().info("cleansing dropped %d rows; audit at %s", len(audit), cleaned.file("audit.parquet"))
    publish(data_tasks.publish_cleansing, cleaned)  # artifacts for the UI; a cache-only pass has none
    return DataRefs(cleaned=cleaned, windows=windows, annotations=annotations, prompts=prompts)
