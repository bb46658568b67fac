"""What both fusion stages share: the reasoning forecasts of one source, the arrays psi is trained and
evaluated on, and psi rebuilt from its checkpoint."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from safetensors.torch import load_file

from vta_core.artifacts import ArtifactRef, require
from vta_core.config.model_sections import FusionTrainingConfig
from vta_core.data.windows import WindowSet
from vta_core.fusion import conditioning, training
from vta_core.fusion import model as fusion_model
from vta_core.models import trainer
from vta_core.models.calf import CalfBackbone

LOG = logging.getLogger(__name__)
WEIGHTS, CONFIG, SOURCES = "fusion.safetensors", "fusion_config.json", "sources.json"


def reasoning_forecasts(ref: ArtifactRef, model_name: str) -> pd.DataFrame:
    table = pd.read_parquet(require(ref).file("predictions.parquet"))
    chosen = table[table["model"].astype(str) == model_name]
    if chosen.empty and not table.empty:
        raise conditioning.ConditioningError(
            f"{ref.stage}/{ref.key} has no forecasts of model {model_name!r}; "
            f"it has {sorted(table['model'].astype(str).unique())}"
        )
    if chosen.empty:  # e.g. a reasoner none of whose outputs parsed: every window falls back to y_phi
        LOG.warning("%s/%s holds no usable forecasts: fusion falls back to y_phi everywhere", ref.stage, ref.key)
    return chosen


def fusion_arrays(
    ws: WindowSet, forecasts: pd.DataFrame, attributes: tuple[str, ...], backbone
) -> training.FusionArrays:
    x = ws.inputs().astype(np.float32)
    c, available = conditioning.attributes_for(ws.index, forecasts, attributes, ws.horizon)
    tickers = ws.index["ticker"].astype(str).to_numpy()
    return training.FusionArrays(x, ws.targets(), c, available, trainer.predict(backbone, x), tickers=tickers)


def build_models(backbone_ref: ArtifactRef, fold: int, n_attributes: int, config: FusionTrainingConfig):
    backbone = trainer.load_checkpoint(require(backbone_ref).file(f"checkpoint_fold{fold}"))
    if not isinstance(backbone, CalfBackbone):
        raise TypeError(f"fusion needs the CALF-like backbone, {backbone_ref.key} holds a {type(backbone).__name__}")
    return backbone, fusion_model.FusionModel(backbone, n_attributes, config.hidden, config.finetune_backbone)


def load_fusion(
    fusion: ArtifactRef, backbone: ArtifactRef, fold: int
) -> tuple[object, fusion_model.FusionModel, tuple]:
    """(backbone phi, psi, attributes) of one fold, rebuilt from safetensors + JSON."""
    meta = json.loads(require(fusion).file(CONFIG).read_text())
    config = FusionTrainingConfig.model_validate(meta["training"])
    net, psi = build_models(backbone, fold, len(config.attributes), config)
    psi.load_state_dict(load_file(str(fusion.file(f"fold{fold}_{WEIGHTS}"))), strict=False)
    return net, psi.eval(), config.attributes
