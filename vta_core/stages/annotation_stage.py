"""Annotation stage (paper task 4): statistics + technical indicators of every window, vectorised."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from vta_core.annotation import indicators as ind
from vta_core.artifacts import ArtifactRef, write_json, write_parquet
from vta_core.config.annotation_sections import AnnotationConfig
from vta_core.data.schema import VALUE_COLUMNS
from vta_core.data.windows import WindowSet
from vta_core.identities import StageName
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)
_COL = {name: VALUE_COLUMNS.index(name) for name in VALUE_COLUMNS}


def periods_for(annotation: AnnotationConfig, lookback: int) -> ind.IndicatorPeriods:
    """Paper rule in window mode (period = min(T - 5, default)); standard periods in history mode."""
    base = (
        ind.IndicatorPeriods.for_lookback(lookback) if annotation.mode == "window" else ind.IndicatorPeriods.standard()
    )
    fields: dict[str, int] = {k: v for k, v in annotation.period_overrides.items()}
    arguments: dict[str, Any] = {**base.__dict__, **fields, "bb_nbdev": annotation.bb_nbdev}
    return ind.IndicatorPeriods(**arguments)


def _adjusted_hlc(panel: np.ndarray, price_column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (rows,) close/high/low; with Adj Close, High and Low are adjusted by the same factor."""
    close = panel[:, _COL[price_column]]
    factor = close / panel[:, _COL["Close"]]
    return close, panel[:, _COL["High"]] * factor, panel[:, _COL["Low"]] * factor


def _series(ws: WindowSet, annotation: AnnotationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled (n, L) close/high/low matrices ending at each window's last day, and first_valid."""
    close, high, low = _adjusted_hlc(np.asarray(ws.panel), annotation.price_column)
    starts = ws.index["start"].to_numpy(np.int64)
    ends = starts + ws.lookback - 1
    if annotation.mode == "window":
        rows = starts[:, None] + np.arange(ws.lookback)[None, :]
        first_valid = np.zeros(len(ws), dtype=np.int64)
        mats = [close[rows], high[rows], low[rows]]
    else:
        ticker_first = ws.ticker_first_rows()
        mats = []
        for column in (close, high, low):
            mat, first_valid = ind.gather_history(column, ends, ticker_first, annotation.history_length)
            mats.append(mat)
    mean, std = ws.price_scale()
    scaled = [(m - mean[:, None]) / std[:, None] for m in mats]
    return scaled[0], scaled[1], scaled[2], first_valid


def annotate_windows(ws: WindowSet, annotation: AnnotationConfig) -> tuple[pd.DataFrame, ind.IndicatorPeriods]:
    """Statistics and indicators of every window of `ws` (also used by `vta predict` on new data)."""
    periods = periods_for(annotation, ws.lookback)
    close, high, low, first_valid = _series(ws, annotation)
    values = ind.compute_indicators(close, high, low, first_valid, periods)
    shown = close[:, -ws.lookback :]  # statistics describe the series the prompt shows: the window itself
    stats = ind.window_statistics(shown)
    frame = pd.DataFrame(
        {
            "window": np.arange(len(ws), dtype=np.int64),
            "fold": ws.index["fold"].to_numpy(),
            "ticker": ws.index["ticker"],
            "split": ws.index["split"],
            "window_end_date": ws.index["end_date"],
            **{name: stats[name] for name in ind.STAT_COLUMNS},
            **{name: values[name] for name in ind.INDICATORS},
        }
    )
    return frame, periods


@stage(StageName.ANNOTATION)
def annotation_stage(annotation: AnnotationConfig, windows: ArtifactRef, out: StageOutput) -> ArtifactRef:
    frame, periods = annotate_windows(load_windows(windows), annotation)
    with out.writing() as folder:
        write_parquet(folder / "annotations.parquet", frame)
        write_json(
            folder / "periods.json",
            {"mode": annotation.mode, "price_column": annotation.price_column, "labels": periods.labels()},
        )
    LOG.info("annotated %d windows (%s mode)", len(frame), annotation.mode)
    return out.ref
