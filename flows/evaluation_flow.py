"""Evaluation flow: error tables of every model's predictions beside the paper's numbers."""

from prefect import flow

from flows.baselines_flow import baselines_flow
from flows.common import publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from tasks.caching import bound
from tasks.evaluation_tasks import evaluate_errors, publish_error_table
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig


@flow(name="vta-evaluation", flow_run_name="evaluation-{preset}", persist_result=True)
def evaluation_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
    predictions: list[ArtifactRef] | None = None,
) -> ArtifactRef:
    cfg = resolve(preset, config_file, overrides, config)
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    predictions = predictions or subflow(baselines_flow, preset=cfg.preset, config=cfg, data=data)
    errors = bound(evaluate_errors, cfg.runtime)(cfg.evaluation, data.windows, predictions, artifact_root(cfg.runtime))
    publish(publish_error_table, errors)
    return errors
