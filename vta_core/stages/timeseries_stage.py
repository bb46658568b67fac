"""Time-series model stage: train one learned forecaster for one seed, predict validation and test.

Walk-forward splits train one model per fold. Writes the best checkpoint of each fold
(safetensors + config JSON), the training log and the common predictions table.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

from vta_core import models
from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.config.model_sections import BackboneConfig, DLinearConfig, TSMixerConfig
from vta_core.data.windows import TARGET_COLUMN, WindowSet
from vta_core.evaluation import predictions
from vta_core.identities import TIMESERIES_MODELS, StageName
from vta_core.models import base, trainer
from vta_core.models.calf import CalfBackbone
from vta_core.progress import PercentHook, parts
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)
assert models  # the package import registers every model
ModelConfig = DLinearConfig | TSMixerConfig | BackboneConfig


def _arrays(ws: WindowSet) -> trainer.WindowArrays:
    return trainer.WindowArrays.from_windows(ws)  # with tickers: early stopping uses the per-ticker metric


def subsample(ws: WindowSet, limit: int | None, seed: int) -> WindowSet:
    if limit is None or len(ws) <= limit:
        return ws
    keep = np.sort(np.random.default_rng(seed).choice(len(ws), size=limit, replace=False))
    return WindowSet(
        ws.panel, ws.dates, ws.index.iloc[keep].reset_index(drop=True), ws.scalers, ws.lookback, ws.horizon
    )


def _build(
    model_name: str, model: ModelConfig, shape: base.DataShape, prototypes: ArtifactRef | None
) -> base.Forecaster:
    if model_name != "calf":
        return base.build(model_name, model, shape)
    if prototypes is None:
        raise ValueError("the CALF-like backbone needs the prototypes artifact")
    matrix = load_file(str(require(prototypes).file("prototypes.safetensors")))["prototypes"]
    net = base.build(model_name, model, shape, n_prototypes=matrix.shape[0], prototype_dim=matrix.shape[1])
    if not isinstance(net, CalfBackbone):
        raise TypeError(f"model {model_name!r} built a {type(net).__name__}, not the CALF-like backbone")
    net.set_prototypes(matrix)
    return net


@stage(StageName.TIMESERIES, unkeyed=("progress",))
def timeseries_stage(
    model_name: str,
    model: ModelConfig,
    seed: int,
    windows: ArtifactRef,
    out: StageOutput,
    prototypes: ArtifactRef | None = None,
    progress: PercentHook | None = None,
) -> ArtifactRef:
    """Train `model_name` (dlinear, tsmixer, calf) with `seed`; its predictions carry the model's id.
    `progress(percent)`: epochs done, each fold an equal share."""
    all_windows = load_windows(windows)
    shape = base.DataShape(all_windows.lookback, all_windows.horizon, all_windows.panel.shape[1], TARGET_COLUMN)
    model_id = TIMESERIES_MODELS[model_name]
    frames, logs = [], []
    folds = sorted(all_windows.index["fold"].unique())
    with out.writing() as folder:
        for fold, fold_progress in zip(folds, parts(progress, len(folds)), strict=True):
            train = subsample(all_windows.select("train", fold=fold), model.train.max_train_windows, seed)
            val = all_windows.select("val", fold=fold)
            trainer.seed_everything(seed)
            net = _build(model_name, model, shape, prototypes)
            result = trainer.fit(net, _arrays(train), _arrays(val), model.train, seed, progress=fold_progress)
            trainer.save_checkpoint(net, folder / f"checkpoint_fold{fold}")
            evaluated = all_windows.select(("val", "test"), fold=fold)
            y_hat = trainer.predict(net, evaluated.inputs().astype(np.float32))
            frames.append(predictions.prediction_frame(evaluated, y_hat, model_id, seed))
            logs.append(
                {
                    "fold": int(fold),
                    "train_windows": len(train),
                    "parameters": base.parameter_count(net),
                    "best_epoch": result.best_epoch,
                    "best_val_mse": result.best_val_loss,
                    "seconds": result.seconds,
                    "device": result.device,
                    "history": result.history,
                }
            )
            LOG.info(
                "%s seed %d fold %d: best epoch %d, val MSE %.5f, %.1f s on %s",
                model_id,
                seed,
                fold,
                result.best_epoch,
                result.best_val_loss,
                result.seconds,
                result.device,
            )
        write_parquet(folder / "predictions.parquet", pd.concat(frames, ignore_index=True))
        write_json(folder / "training_log.json", {"model": str(model_id), "seed": seed, "folds": logs})
    return out.ref
