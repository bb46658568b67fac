"""Ridge baseline stage: per fold, fit on training windows, choose alpha on validation, forecast val and test."""

from __future__ import annotations

import logging

import pandas as pd
from safetensors.numpy import save_file

from vta_core.artifacts import ArtifactRef, write_json, write_parquet
from vta_core.baselines import ridge
from vta_core.config.evaluation_sections import RidgeConfig
from vta_core.evaluation import predictions
from vta_core.identities import ModelId, StageName
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


@stage(StageName.RIDGE)
def ridge_stage(ridge_config: RidgeConfig, windows: ArtifactRef, out: StageOutput) -> ArtifactRef:
    all_windows = load_windows(windows)
    frames, folds = [], []
    with out.writing() as folder:
        for fold in sorted(all_windows.index["fold"].unique()):
            train, val = all_windows.select("train", fold=fold), all_windows.select("val", fold=fold)
            model, scores = ridge.select_ridge(
                (train.inputs(), train.targets()),
                (val.inputs(), val.targets()),
                ridge_config.alphas,
                val_tickers=val.index["ticker"].astype(str).to_numpy(),
            )
            evaluated = all_windows.select(("val", "test"), fold=fold)
            frames.append(predictions.prediction_frame(evaluated, model.predict(evaluated.inputs()), ModelId.RIDGE))
            save_file({"coef": model.coef, "intercept": model.intercept}, str(folder / f"ridge_fold{fold}.safetensors"))
            folds.append(
                {"fold": int(fold), "alpha": model.alpha, "val_mse_by_alpha": scores, "train_windows": len(train)}
            )
            LOG.info(
                "ridge fold %d: alpha %g chosen on validation (val MSE %.5f)", fold, model.alpha, scores[model.alpha]
            )
        write_parquet(folder / "predictions.parquet", pd.concat(frames, ignore_index=True))
        write_json(folder / "ridge_report.json", {"folds": folds})
    return out.ref
