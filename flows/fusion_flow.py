"""Fusion flow (GPU-heavy, the `vta-cuda` pool): psi per reasoning source and backbone seed, then guided
inference. The backbone and released-forecast tasks are called again here: in a pipeline run they are
cache hits, run on their own they build what fusion needs."""

import torch
from prefect import flow

from flows.common import flow_logger, publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from flows.gpu import holds_gpu_slot
from tasks.baseline_tasks import released_forecasts
from tasks.caching import bound
from tasks.fusion_tasks import guided_inference, publish_fusion, train_fusion
from tasks.runtime import artifact_root
from tasks.timeseries_tasks import language_prototypes, train_timeseries_model
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.identities import ModelId
from vta_core.stages.released_stage import applies


@flow(name="vta-fusion", flow_run_name="fusion-{preset}", persist_result=True)
@holds_gpu_slot
def fusion_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
    reasoner_forecasts: ArtifactRef | None = None,
    reasoner_model: str | None = None,
) -> list[ArtifactRef]:
    cfg = resolve(preset, config_file, overrides, config)
    if not (cfg.fusion.enabled and cfg.backbone.enabled):
        return []
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    if cfg.runtime.torch_threads:
        torch.set_num_threads(cfg.runtime.torch_threads)
    root, log = artifact_root(cfg.runtime), flow_logger()
    sources: dict[str, tuple[ArtifactRef, str]] = {}
    if "released" in cfg.fusion.sources:
        if applies(cfg.data.source, cfg.data.window, cfg.data.split):
            ref = bound(released_forecasts, cfg.runtime)(
                cfg.data.source, cfg.data.window, cfg.data.split, data.windows, root
            )
            sources["released"] = (ref, ModelId.LLM_RELEASED)
        else:
            log.info("fusion: the released forecasts apply to StockNet with the paper split and T = T' = 10 only")
    if "reasoner" in cfg.fusion.sources and reasoner_forecasts is not None and reasoner_model is not None:
        sources["reasoner"] = (reasoner_forecasts, reasoner_model)
    prototypes = bound(language_prototypes, cfg.runtime)(cfg.backbone.prototypes, root)
    backbone = bound(train_timeseries_model, cfg.runtime)
    fit, infer = bound(train_fusion, cfg.runtime), bound(guided_inference, cfg.runtime)
    refs, trained = [], []
    for seed in cfg.backbone.train.seeds:
        phi = backbone("calf", cfg.backbone, seed, data.windows, root, prototypes)
        for source, (reasoning, model_name) in sources.items():
            psi = fit(cfg.fusion.training, source, model_name, seed, phi, reasoning, data.windows, root)
            trained.append(psi)
            refs.append(
                infer(
                    cfg.fusion.guidance_scale,
                    cfg.fusion.scale_grid,
                    source,
                    model_name,
                    psi,
                    phi,
                    reasoning,
                    data.windows,
                    root,
                )
            )
    if refs:
        publish(publish_fusion, trained, refs)
    return refs
