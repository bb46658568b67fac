"""Baselines flow: naive forecasters (persistence, drift) on the evaluated windows."""

from prefect import flow

from flows.common import resolve
from flows.data_flow import DataRefs, data_flow
from tasks.baseline_tasks import naive_baselines
from tasks.caching import bound
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.stages.baseline_stage import NAIVE


@flow(name="vta-baselines", flow_run_name="baselines-{preset}", persist_result=True)
def baselines_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
) -> list[ArtifactRef]:
    cfg = resolve(preset, config_file, overrides, config)
    data = data or data_flow(preset=cfg.preset, config=cfg)
    return [bound(naive_baselines, NAIVE, cfg.runtime)(cfg.baselines, data.windows, artifact_root(cfg.runtime))]
