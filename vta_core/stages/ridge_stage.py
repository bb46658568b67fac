"""Ridge baseline stage: per fold, fit on training windows, choose alpha on validation, forecast val and test."""

from __future__ import annotations

import logging

import pandas as pd
from safetensors.numpy import save_file

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, stage_key, write_json, write_parquet
from vta_core.baselines import ridge
from vta_core.config.sections import RidgeConfig
from vta_core.evaluation import predictions
from vta_core.stages.data_stages import load_windows

LOG = logging.getLogger(__name__)
RIDGE = StageSpec("ridge_baseline", "1", (ridge, predictions))
MODEL_NAME = "ridge (linear baseline)"


def ridge_stage(config: RidgeConfig, windows: ArtifactRef, store: ArtifactStore) -> ArtifactRef:
    key = stage_key(RIDGE, {"ridge": config, "windows": windows})
    all_windows = load_windows(windows)
    frames, folds = [], []
    with store.writing(RIDGE, key) as out:
        for fold in sorted(all_windows.index["fold"].unique()):
            train, val = all_windows.select("train", fold=fold), all_windows.select("val", fold=fold)
            model, scores = ridge.select_ridge(
                (train.inputs(), train.targets()), (val.inputs(), val.targets()), config.alphas
            )
            evaluated = all_windows.select(("val", "test"), fold=fold)
            frames.append(predictions.prediction_frame(evaluated, model.predict(evaluated.inputs()), MODEL_NAME))
            save_file({"coef": model.coef, "intercept": model.intercept}, str(out / f"ridge_fold{fold}.safetensors"))
            folds.append(
                {"fold": int(fold), "alpha": model.alpha, "val_mse_by_alpha": scores, "train_windows": len(train)}
            )
            LOG.info(
                "ridge fold %d: alpha %g chosen on validation (val MSE %.5f)", fold, model.alpha, scores[model.alpha]
            )
        write_parquet(out / "predictions.parquet", pd.concat(frames, ignore_index=True))
        write_json(out / "ridge_report.json", {"folds": folds})
    return store.ref(RIDGE, key)
