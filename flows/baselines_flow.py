"""Baselines flow: naive forecasters (persistence, drift), the ridge baseline, the rule-based analyst and,
on StockNet with the paper protocol, the released Qwen2.5-7B forecasts as an "LLM only" model."""

from prefect import flow

from flows.common import resolve, subflow
from flows.data_flow import DataRefs, data_flow
from tasks.baseline_tasks import naive_baselines, released_forecasts, ridge_baseline, rule_based_analyst
from tasks.caching import bound
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.stages.released_stage import applies


@flow(name="vta-baselines", flow_run_name="baselines-{preset}", persist_result=True)
def baselines_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
) -> list[ArtifactRef]:
    cfg = resolve(preset, config_file, overrides, config)
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    root = artifact_root(cfg.runtime)
    naive = bound(naive_baselines, cfg.runtime)(cfg.baselines, data.windows, root)
    analyst = bound(rule_based_analyst, cfg.runtime)(cfg.analyst, data.annotations, data.prompts, data.windows, root)
    refs = [naive, analyst]
    if cfg.ridge.enabled:
        refs.append(bound(ridge_baseline, cfg.runtime)(cfg.ridge, data.windows, root))
    if applies(cfg.data.source, cfg.data.window, cfg.data.split):
        refs.append(
            bound(released_forecasts, cfg.runtime)(cfg.data.source, cfg.data.window, cfg.data.split, data.windows, root)
        )
    return refs
