"""Fusion inference stage: guided forecasts y = y_phi + s * (y_psi(c) - y_phi) for val and test windows,
the guidance scale fixed or chosen on validation, and the sensitivity of the error to s."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.data.windows import WindowSet
from vta_core.evaluation import predictions
from vta_core.evaluation.selection import lowest, per_ticker_mse
from vta_core.fusion import conditioning, guidance, training
from vta_core.identities import FUSION_MODELS, StageName
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.fusion_common import CONFIG, SOURCES, fusion_arrays, load_fusion, reasoning_forecasts
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


def choose_scale(ws: WindowSet, arrays: training.FusionArrays, y_psi: np.ndarray, grid: tuple[float, ...]) -> float:
    """The guidance scale with the lowest validation MSE (per-ticker mean); ties go to the smaller scale."""
    val = (ws.index["split"] == "val").to_numpy()
    tickers = ws.index["ticker"].astype(str).to_numpy()[val]
    scores = {
        float(scale): per_ticker_mse(
            guidance.guided(arrays.y_phi[val], y_psi[val], scale, arrays.available[val]), arrays.y[val], tickers
        )
        for scale in grid
    }
    return lowest(scores)


@stage(StageName.FUSION_INFERENCE)
def fusion_inference_stage(
    guidance_scale: float | str,
    scale_grid: tuple[float, ...],
    source: str,
    reasoning_model: str,
    fusion: ArtifactRef,
    backbone: ArtifactRef,
    reasoning: ArtifactRef,
    windows: ArtifactRef,
    out: StageOutput,
) -> ArtifactRef:
    all_windows, forecasts = load_windows(windows), reasoning_forecasts(reasoning, reasoning_model)
    seed = int(json.loads(require(fusion).file(CONFIG).read_text())["seed"])
    frames, details, sensitivity, chosen = [], [], [], {}
    fallbacks: dict[str, int] = {}
    for fold in sorted(all_windows.index["fold"].unique()):
        net, psi, attributes = load_fusion(fusion, backbone, fold)
        ws = all_windows.select(("val", "test"), fold=fold)
        arrays = fusion_arrays(ws, forecasts, attributes, net)
        y_psi = training.predict_conditional(psi, arrays)
        scale = choose_scale(ws, arrays, y_psi, scale_grid) if guidance_scale == "validation" else float(guidance_scale)
        chosen[int(fold)] = scale
        y = guidance.guided(arrays.y_phi, y_psi, scale, arrays.available)
        frames.append(predictions.prediction_frame(ws, y, FUSION_MODELS[source], seed))
        details.append(_details(ws, arrays, y_psi, y, attributes))
        for scale in scale_grid:
            grid_y = guidance.guided(arrays.y_phi, y_psi, scale, arrays.available)
            sensitivity.append(predictions.prediction_frame(ws, grid_y, f"s={scale:g}", seed).assign(fold=fold))
        for split in ("val", "test"):
            mask = (ws.index["split"] == split).to_numpy()
            fallbacks[split] = fallbacks.get(split, 0) + int((~arrays.available[mask]).sum())
    detail = pd.concat(details, ignore_index=True)
    detail = _with_narratives(detail, reasoning)
    with out.writing() as folder:
        write_parquet(folder / "predictions.parquet", pd.concat(frames, ignore_index=True))
        write_parquet(folder / "inference.parquet", detail)
        write_parquet(
            folder / "guidance_sensitivity.parquet", _sensitivity_table(pd.concat(sensitivity, ignore_index=True))
        )
        write_json(
            folder / "inference_report.json",
            {
                "guidance_scale": guidance_scale,
                "scale_by_fold": chosen,
                "fallback_to_y_phi": fallbacks,
                "windows": detail.groupby("split").size().to_dict(),
            },
        )
        # What `vta predict` needs to rebuild this forecaster on new data.
        write_json(
            folder / SOURCES,
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
        FUSION_MODELS[source],
        seed,
        chosen,
        guidance_scale,
        fallbacks,
    )
    return out.ref


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
