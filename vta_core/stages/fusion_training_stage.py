"""Fusion training stage: psi on one reasoning source for one backbone seed (classifier-free dropout of c).

Keyed on `fusion.training`, the source, the seed and the backbone, reasoning-forecast and window
keys. The guidance scale is read only by inference, so changing it re-runs no training. Train
windows are conditioned on whatever forecasts the source has for them; the training report says
how many had one and whether those forecasts are in-sample for the reasoner.
"""

from __future__ import annotations

import json
import logging

import numpy as np
from safetensors.torch import save_file

from vta_core.artifacts import ArtifactRef, write_json
from vta_core.config.model_sections import FusionTrainingConfig
from vta_core.fusion import training
from vta_core.identities import StageName
from vta_core.models import trainer
from vta_core.progress import PercentHook, parts
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.fusion_common import CONFIG, WEIGHTS, build_models, fusion_arrays, reasoning_forecasts
from vta_core.stages.loaders import load_windows
from vta_core.stages.timeseries_stage import subsample

LOG = logging.getLogger(__name__)


@stage(StageName.FUSION_TRAINING, unkeyed=("progress",))
def fusion_training_stage(
    training_config: FusionTrainingConfig,
    source: str,
    reasoning_model: str,
    seed: int,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    out: StageOutput,
    progress: PercentHook | None = None,
) -> ArtifactRef:
    """Train psi per fold; `progress(percent)`: epochs done, each fold an equal share."""
    all_windows, forecasts = load_windows(windows), reasoning_forecasts(reasoning, reasoning_model)
    attributes = training_config.attributes
    folds, fold_ids = [], sorted(all_windows.index["fold"].unique())
    with out.writing() as folder:
        for fold, fold_progress in zip(fold_ids, parts(progress, len(fold_ids)), strict=True):
            train = subsample(all_windows.select("train", fold=fold), training_config.train.max_train_windows, seed)
            val = all_windows.select("val", fold=fold)
            trainer.seed_everything(seed)
            net, psi = build_models(backbone, fold, len(attributes), training_config)
            train_arrays, val_arrays = (
                fusion_arrays(train, forecasts, attributes, net),
                fusion_arrays(val, forecasts, attributes, net),
            )
            result = training.fit_fusion(psi, train_arrays, val_arrays, training_config, seed, fold_progress)
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in psi.conditioning_state().items()},
                str(folder / f"fold{fold}_{WEIGHTS}"),
            )
            backbone_val = float(np.mean((val_arrays.y_phi - val_arrays.y) ** 2))
            folds.append(
                {
                    "fold": int(fold),
                    "train_windows": len(train),
                    "train_conditioned": int(train_arrays.available.sum()),
                    "val_windows": len(val),
                    "val_conditioned": int(val_arrays.available.sum()),
                    "val_mse_backbone": backbone_val,
                    "best_val_guided_mse": result.best_val_loss,
                    "best_epoch": result.best_epoch,
                    "seconds": result.seconds,
                    "history": result.history,
                }
            )
            LOG.info(
                "fusion %s seed %d fold %d: %d/%d train windows conditioned; guided val MSE %.5f (backbone %.5f)",
                source,
                seed,
                fold,
                train_arrays.available.sum(),
                len(train),
                result.best_val_loss,
                backbone_val,
            )
        write_json(
            folder / CONFIG,
            {
                "source": source,
                "reasoning_model": reasoning_model,
                "seed": seed,
                "training": training_config.model_dump(mode="json"),
            },
        )
        write_json(
            folder / "fusion_training_report.json", {"folds": folds, "reasoning_report": _reasoning_note(reasoning)}
        )
    return out.ref


def _reasoning_note(reasoning: ArtifactRef) -> dict:
    """What the reasoning stage said about its forecasts (e.g. that train forecasts are in-sample)."""
    notes = {}
    for name in ("released_report.json", "generation_report.json"):
        if reasoning.file(name).is_file():
            payload = json.loads(reasoning.file(name).read_text())
            notes[name] = {k: payload[k] for k in ("in_sample", "order_recovery", "matched_by_split") if k in payload}
    return notes
