"""Backbone flow (GPU-heavy, the `vta-cuda` pool): the CALF-like backbone phi and the DLinear and
TSMixer baselines, one cached task per model and seed; the language prototypes are a cached task too."""

import torch
from prefect import flow

from flows.common import publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from flows.gpu import holds_gpu_slot
from tasks.caching import bound
from tasks.runtime import artifact_root
from tasks.timeseries_tasks import language_prototypes, publish_training, train_timeseries_model
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig


@flow(name="vta-backbone", flow_run_name="backbone-{preset}", persist_result=True)
@holds_gpu_slot
def backbone_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
) -> list[ArtifactRef]:
    cfg = resolve(preset, config_file, overrides, config)
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    if cfg.runtime.torch_threads:
        torch.set_num_threads(cfg.runtime.torch_threads)
    root = artifact_root(cfg.runtime)
    train = bound(train_timeseries_model, cfg.runtime)
    refs = []
    if cfg.backbone.enabled:
        prototypes = bound(language_prototypes, cfg.runtime)(cfg.backbone.prototypes, root)
        refs.extend(
            train("calf", cfg.backbone, seed, data.windows, root, prototypes) for seed in cfg.backbone.train.seeds
        )
    for name, section in (("dlinear", cfg.dlinear), ("tsmixer", cfg.tsmixer)):
        if section.enabled:
            refs.extend(train(name, section, seed, data.windows, root) for seed in section.train.seeds)
    if refs:
        publish(publish_training, refs)
    return refs
