"""Fusion stages: train psi on one reasoning source for one backbone seed; guided inference.

Training is keyed on `fusion.training`, the source, the seed and the backbone, reasoning-forecast and
window keys. The guidance scale is read only by inference, so changing it re-runs no training.
Train windows are conditioned on whatever forecasts the source has for them; the training report
says how many had one and whether those forecasts are in-sample for the reasoner.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from safetensors.torch import load_file, save_file

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, require, stage_key, write_json, write_parquet
from vta_core.config.sections import FusionTrainingConfig
from vta_core.data.windows import WindowSet
from vta_core.evaluation import predictions
from vta_core.fusion import conditioning, guidance, training
from vta_core.fusion import model as fusion_model
from vta_core.models import trainer
from vta_core.stages.data_stages import load_windows
from vta_core.stages.timeseries_stage import subsample

LOG = logging.getLogger(__name__)
FUSION_TRAIN = StageSpec("fusion_training", "1", (conditioning, fusion_model, training))
FUSION_INFERENCE = StageSpec("fusion_inference", "3", (conditioning, guidance, fusion_model, training, predictions))
SOURCE_LABELS = {"released": "released Qwen2.5-7B forecasts", "reasoner": "own reasoner"}
WEIGHTS, CONFIG, SOURCES = "fusion.safetensors", "fusion_config.json", "sources.json"


def display_name(source: str) -> str:
    return f"VTA ({SOURCE_LABELS.get(source, source)})"


def _reasoning_forecasts(ref: ArtifactRef, model_name: str) -> pd.DataFrame:
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


def _arrays(ws: WindowSet, forecasts: pd.DataFrame, attributes: tuple[str, ...], backbone) -> training.FusionArrays:
    x = ws.inputs().astype(np.float32)
    c, available = conditioning.attributes_for(ws.index, forecasts, attributes, ws.horizon)
    return training.FusionArrays(x, ws.targets(), c, available, trainer.predict(backbone, x))


def _build(backbone_ref: ArtifactRef, fold: int, n_attributes: int, config: FusionTrainingConfig):
    backbone = trainer.load_checkpoint(require(backbone_ref).file(f"checkpoint_fold{fold}"))
    return backbone, fusion_model.FusionModel(backbone, n_attributes, config.hidden, config.finetune_backbone)


def fusion_training_stage(
    training_config: FusionTrainingConfig,
    source: str,
    reasoning_model: str,
    seed: int,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    store: ArtifactStore,
) -> ArtifactRef:
    key = stage_key(
        FUSION_TRAIN,
        {
            "training": training_config,
            "source": source,
            "reasoning_model": reasoning_model,
            "seed": seed,
            "backbone": backbone,
            "reasoning": reasoning,
            "windows": windows,
        },
    )
    all_windows, forecasts = load_windows(windows), _reasoning_forecasts(reasoning, reasoning_model)
    attributes = training_config.attributes
    folds = []
    with store.writing(FUSION_TRAIN, key) as out:
        for fold in sorted(all_windows.index["fold"].unique()):
            train = subsample(all_windows.select("train", fold=fold), training_config.train.max_train_windows, seed)
            val = all_windows.select("val", fold=fold)
            trainer.seed_everything(seed)
            net, psi = _build(backbone, fold, len(attributes), training_config)
            train_arrays, val_arrays = (
                _arrays(train, forecasts, attributes, net),
                _arrays(val, forecasts, attributes, net),
            )
            result = training.fit_fusion(psi, train_arrays, val_arrays, training_config, seed)
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in psi.conditioning_state().items()},
                str(out / f"fold{fold}_{WEIGHTS}"),
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
            out / CONFIG,
            {
                "source": source,
                "reasoning_model": reasoning_model,
                "seed": seed,
                "training": training_config.model_dump(mode="json"),
            },
        )
        write_json(
            out / "fusion_training_report.json", {"folds": folds, "reasoning_report": _reasoning_note(reasoning)}
        )
    return store.ref(FUSION_TRAIN, key)


def _reasoning_note(reasoning: ArtifactRef) -> dict:
    """What the reasoning stage said about its forecasts (e.g. that train forecasts are in-sample)."""
    notes = {}
    for name in ("released_report.json", "generation_report.json"):
        if reasoning.file(name).is_file():
            payload = json.loads(reasoning.file(name).read_text())
            notes[name] = {k: payload[k] for k in ("in_sample", "order_recovery", "matched_by_split") if k in payload}
    return notes


def load_fusion(
    fusion: ArtifactRef, backbone: ArtifactRef, fold: int
) -> tuple[object, fusion_model.FusionModel, tuple]:
    """(backbone phi, psi, attributes) of one fold, rebuilt from safetensors + JSON."""
    meta = json.loads(require(fusion).file(CONFIG).read_text())
    config = FusionTrainingConfig.model_validate(meta["training"])
    net, psi = _build(backbone, fold, len(config.attributes), config)
    psi.load_state_dict(load_file(str(fusion.file(f"fold{fold}_{WEIGHTS}"))), strict=False)
    return net, psi.eval(), config.attributes


def choose_scale(ws: WindowSet, arrays: training.FusionArrays, y_psi: np.ndarray, grid: tuple[float, ...]) -> float:
    """The guidance scale with the lowest validation MSE (per-ticker mean); ties go to the smaller scale."""
    val = (ws.index["split"] == "val").to_numpy()
    tickers = ws.index["ticker"].astype(str).to_numpy()[val]
    scores = {}
    for scale in sorted(set(grid)):
        y = guidance.guided(arrays.y_phi[val], y_psi[val], scale, arrays.available[val])
        scores[scale] = float(pd.Series(((y - arrays.y[val]) ** 2).mean(axis=1)).groupby(tickers).mean().mean())
    return min(scores, key=lambda s: (scores[s], s))


def fusion_inference_stage(
    guidance_scale: float | str,
    scale_grid: tuple[float, ...],
    source: str,
    reasoning_model: str,
    fusion: ArtifactRef,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    store: ArtifactStore,
) -> ArtifactRef:
    key = stage_key(
        FUSION_INFERENCE,
        {
            "guidance_scale": guidance_scale,
            "scale_grid": scale_grid,
            "source": source,
            "reasoning_model": reasoning_model,
            "fusion": fusion,
            "backbone": backbone,
            "reasoning": reasoning,
            "windows": windows,
        },
    )
    all_windows, forecasts = load_windows(windows), _reasoning_forecasts(reasoning, reasoning_model)
    seed = int(json.loads(require(fusion).file(CONFIG).read_text())["seed"])
    frames, details, sensitivity, fallbacks, chosen = [], [], [], {}, {}
    for fold in sorted(all_windows.index["fold"].unique()):
        net, psi, attributes = load_fusion(fusion, backbone, fold)
        ws = all_windows.select(("val", "test"), fold=fold)
        arrays = _arrays(ws, forecasts, attributes, net)
        y_psi = training.predict_conditional(psi, arrays)
        scale = choose_scale(ws, arrays, y_psi, scale_grid) if guidance_scale == "validation" else float(guidance_scale)
        chosen[int(fold)] = scale
        y = guidance.guided(arrays.y_phi, y_psi, scale, arrays.available)
        frames.append(predictions.prediction_frame(ws, y, display_name(source), seed))
        details.append(_details(ws, arrays, y_psi, y, attributes))
        for scale in scale_grid:
            grid_y = guidance.guided(arrays.y_phi, y_psi, scale, arrays.available)
            sensitivity.append(predictions.prediction_frame(ws, grid_y, f"s={scale:g}", seed).assign(fold=fold))
        for split in ("val", "test"):
            mask = (ws.index["split"] == split).to_numpy()
            fallbacks[split] = fallbacks.get(split, 0) + int((~arrays.available[mask]).sum())
    detail = pd.concat(details, ignore_index=True)
    detail = _with_narratives(detail, reasoning)
    with store.writing(FUSION_INFERENCE, key) as out:
        write_parquet(out / "predictions.parquet", pd.concat(frames, ignore_index=True))
        write_parquet(out / "inference.parquet", detail)
        write_parquet(
            out / "guidance_sensitivity.parquet", _sensitivity_table(pd.concat(sensitivity, ignore_index=True))
        )
        write_json(
            out / "inference_report.json",
            {
                "guidance_scale": guidance_scale,
                "scale_by_fold": chosen,
                "fallback_to_y_phi": fallbacks,
                "windows": detail.groupby("split").size().to_dict(),
            },
        )
        # What `vta predict` needs to rebuild this forecaster on new data.
        write_json(
            out / SOURCES,
            {
                "source": source,
                "reasoning_model": reasoning_model,
                "seed": seed,
                "guidance_scale": chosen[max(chosen)],
                "fusion": fusion.model_dump(mode="json"),
                "backbone": backbone.model_dump(mode="json"),
                "reasoning": reasoning.model_dump(mode="json"),
            },
        )
    LOG.info(
        "%s seed %d: s = %s (setting %s); fell back to y_phi on %s windows",
        display_name(source),
        seed,
        chosen,
        guidance_scale,
        fallbacks,
    )
    return store.ref(FUSION_INFERENCE, key)


def _details(
    ws: WindowSet, arrays: training.FusionArrays, y_psi: np.ndarray, y: np.ndarray, attributes: tuple[str, ...]
) -> pd.DataFrame:
    """One row per window: final, unconditional and conditional forecasts, c, and whether it fell back."""
    frame = pd.DataFrame(
        {
            "ticker": ws.index["ticker"].astype(str).to_numpy(),
            "split": ws.index["split"].astype(str).to_numpy(),
            "window_end_date": ws.index["end_date"].to_numpy(),
            "fallback": ~arrays.available,
            "y_final": list(y),
            "y_phi": list(arrays.y_phi),
            "y_psi": list(y_psi),
            "y_true": list(arrays.y),
        }
    )
    for i, name in enumerate(attributes):
        frame[f"c_{name}"] = np.where(arrays.available, arrays.c[:, i], np.nan)
    return frame


def _with_narratives(detail: pd.DataFrame, reasoning: ArtifactRef) -> pd.DataFrame:
    if not reasoning.file("narratives.parquet").is_file():
        return detail.assign(narrative=None)
    narratives = pd.read_parquet(reasoning.file("narratives.parquet"))
    narratives = narratives.assign(
        ticker=narratives["ticker"].astype(str),
        split=narratives["split"].astype(str),
        window_end_date=conditioning.as_day(narratives["window_end_date"]),
    )
    narratives = narratives.drop_duplicates(conditioning.KEYS, keep="last")[conditioning.KEYS + ["narrative"]]
    detail = detail.assign(window_end_date=conditioning.as_day(detail["window_end_date"]))
    return detail.merge(narratives, on=conditioning.KEYS, how="left", validate="one_to_one")


def _sensitivity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """MSE and MAE per guidance scale and split, averaged per ticker then across tickers."""
    err = frame["y_hat"] - frame["y_true"]
    per_ticker = (
        frame.assign(sq=err**2, ab=err.abs()).groupby(["model", "split", "ticker"], observed=True)[["sq", "ab"]].mean()
    )
    table = per_ticker.groupby(["model", "split"], observed=True).mean().reset_index()
    return table.rename(columns={"model": "guidance_scale", "sq": "mse", "ab": "mae"})
