"""Example test windows of a run: a seeded choice among windows with a stage-3 narrative, their history and
actual next prices, and the forecasts of a few models, all mapped back to price units with each window's scaler.

Forecasts and window values live in the standardised space (z-score of the window's (fold, ticker) training
Adj Close); price = z * std + mean with that scaler, as `vta predict` maps them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from vta_core.data.windows import TARGET_COLUMN, WindowSet
from vta_core.identities import ModelId, label
from vta_core.reports.run_folder import RunFolder, require_artifact, require_file
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)
SPLIT = "test"
# The models an example draws, in legend order.
DRAWN_MODELS: tuple[str, ...] = (
    ModelId.PERSISTENCE,
    ModelId.BACKBONE,
    ModelId.VTA_REASONER,
    ModelId.REASONER_STAGE3,
)
KEY = ["fold", "ticker", "end_date"]


@dataclass(frozen=True)
class Forecast:
    model: str
    seed: int  # -1 for a deterministic model
    prices: np.ndarray  # (horizon,)

    @property
    def description(self) -> str:
        return label(self.model) + (f" (seed {self.seed})" if self.seed >= 0 else "")


@dataclass(frozen=True)
class Example:
    fold: int
    ticker: str
    end_date: pd.Timestamp  # last input day
    history_dates: np.ndarray  # (lookback,) datetime64
    history: np.ndarray  # (lookback,) Adj Close in price units
    target_dates: np.ndarray  # (horizon,)
    actual: np.ndarray  # (horizon,) the actual next Adj Close prices
    scale_mean: float
    scale_std: float
    forecasts: list[Forecast] = field(default_factory=list)
    narrative: str | None = None
    narrative_valid: bool | None = None
    narrative_error: str | None = None

    @property
    def missing(self) -> list[str]:
        drawn = {f.model for f in self.forecasts}
        return [m for m in DRAWN_MODELS if m not in drawn]


def _dates(values: pd.Series | np.ndarray) -> pd.Series:
    """Dates at one resolution, so keys of artifacts written at ms and us resolution compare equal."""
    return pd.Series(pd.to_datetime(np.asarray(values))).astype("datetime64[ns]")


def _keyed(index: pd.DataFrame) -> pd.DataFrame:
    frame = index.reset_index(drop=True).copy()
    frame["row"] = np.arange(len(frame))
    frame["ticker"] = frame["ticker"].astype(str)
    frame["end_date"] = _dates(frame["end_date"]).to_numpy()
    return frame


def candidate_windows(test_index: pd.DataFrame, narratives: pd.DataFrame | None) -> pd.DataFrame:
    """Test windows an example may show, in a fixed order (ticker, end date, fold), with their narrative
    columns when there are narratives: only windows that have one (the lowest fold where folds share a day)."""
    windows = _keyed(test_index)
    if narratives is not None:
        told = narratives[narratives["split"].astype(str) == SPLIT].copy()
        told["ticker"] = told["ticker"].astype(str)
        told["end_date"] = _dates(told["window_end_date"]).to_numpy()
        told = told.drop_duplicates(["ticker", "end_date"])[["ticker", "end_date", "narrative", "valid", "error"]]
        windows = windows.merge(told, on=["ticker", "end_date"], how="inner")
    windows = windows.sort_values(["ticker", "end_date", "fold"], kind="stable")
    return windows.drop_duplicates(["ticker", "end_date"]).reset_index(drop=True)


def choose_windows(candidates: pd.DataFrame, examples: int, seed: int) -> pd.DataFrame:
    """`examples` candidates drawn without replacement by numpy's seeded generator, shown by ticker and date."""
    if examples < 0:
        raise ValueError(f"examples must be >= 0, got {examples}")
    count = min(examples, len(candidates))
    picked = np.random.default_rng(seed).choice(len(candidates), size=count, replace=False)
    return candidates.iloc[np.sort(picked)].reset_index(drop=True)


def _read_forecasts(run: RunFolder, chosen: pd.DataFrame) -> pd.DataFrame:
    """The test-split forecasts of DRAWN_MODELS on the chosen windows, from every predictions artifact."""
    tickers = sorted(set(chosen["ticker"]))
    frames = []
    for ref in run.prediction_refs():
        path = require_file(require_artifact(ref).file("predictions.parquet"), f"predictions of {ref.stage}")
        if pq.read_metadata(path).num_rows == 0:  # e.g. a reasoner none of whose outputs parsed
            continue
        filters = [("split", "==", SPLIT), ("model", "in", list(DRAWN_MODELS)), ("ticker", "in", tickers)]
        columns = ["model", "seed", "fold", "ticker", "window_end_date", "step", "y_hat"]
        frames.append(pd.read_parquet(path, columns=columns, filters=filters))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["model", "seed", "fold", "ticker", "end_date", "step", "y_hat"])
    table = pd.concat([f.astype({"model": str, "ticker": str}) for f in frames], ignore_index=True)
    table["end_date"] = _dates(table.pop("window_end_date")).to_numpy()
    return table.merge(chosen[KEY], on=KEY, how="inner")


def _model_forecasts(table: pd.DataFrame, horizon: int, mean: float, std: float) -> list[Forecast]:
    """Per drawn model its first seed's forecast of one window, in price units (complete horizons only)."""
    found = []
    for model in DRAWN_MODELS:
        rows = table[table["model"] == model]
        if rows.empty:
            continue
        seed = int(rows["seed"].min())
        z = rows[rows["seed"] == seed].sort_values("step")["y_hat"].to_numpy(dtype=float)
        if len(z) != horizon:
            LOG.warning("%s (seed %d) has %d of %d forecast steps; not drawn", model, seed, len(z), horizon)
            continue
        found.append(Forecast(model=model, seed=seed, prices=z * std + mean))
    return found


def _subset(ws: WindowSet, rows: np.ndarray) -> WindowSet:
    return WindowSet(
        ws.panel, ws.dates, ws.index.iloc[rows].reset_index(drop=True), ws.scalers, ws.lookback, ws.horizon
    )


def window_prices(ws: WindowSet) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per window (history, actual next prices, scaler mean, scaler std): the standardised Adj Close of the
    inputs and targets mapped back to prices with the window's scaler."""
    mean, std = ws.price_scale()
    history = ws.inputs()[:, :, TARGET_COLUMN] * std[:, None] + mean[:, None]
    actual = ws.targets() * std[:, None] + mean[:, None]
    return history, actual, mean, std


def _history_dates(ws: WindowSet) -> np.ndarray:
    starts = ws.index["start"].to_numpy(dtype=np.int64)
    return ws.dates[starts[:, None] + np.arange(ws.lookback)[None, :]]


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


@dataclass(frozen=True)
class ExampleSet:
    examples: list[Example]
    candidates: int  # how many test windows the examples were drawn from
    has_narratives: bool  # whether the run has a stage-3 reasoner's narratives (else drawn among all test windows)


def example_windows(run: RunFolder, examples: int, seed: int) -> ExampleSet:
    """The chosen example windows with prices, forecasts and narratives."""
    ws = load_windows(run.ref("windows"))
    test = ws.select(SPLIT)
    generation = run.stage3_generation()
    narratives = None
    if generation is not None:
        narratives = pd.read_parquet(require_file(generation.file("narratives.parquet"), "the stage-3 narratives"))
    candidates = candidate_windows(test.index, narratives)
    chosen = choose_windows(candidates, examples, seed)
    if chosen.empty:
        return ExampleSet([], len(candidates), narratives is not None)
    subset = _subset(test, chosen["row"].to_numpy())
    history, actual, mean, std = window_prices(subset)
    history_dates, target_dates = _history_dates(subset), subset.target_dates()
    forecasts = _read_forecasts(run, chosen)
    result = []
    for i, window in enumerate(chosen.itertuples(index=False)):
        mine = forecasts[
            (forecasts["fold"] == window.fold)
            & (forecasts["ticker"] == window.ticker)
            & (forecasts["end_date"] == window.end_date)
        ]
        result.append(
            Example(
                fold=int(window.fold),
                ticker=str(window.ticker),
                end_date=pd.Timestamp(window.end_date),
                history_dates=history_dates[i],
                history=history[i],
                target_dates=target_dates[i],
                actual=actual[i],
                scale_mean=float(mean[i]),
                scale_std=float(std[i]),
                forecasts=_model_forecasts(mine, ws.horizon, float(mean[i]), float(std[i])),
                narrative=_text(getattr(window, "narrative", None)),
                narrative_valid=None if narratives is None else bool(window.valid),
                narrative_error=_text(getattr(window, "error", None)),
            )
        )
    return ExampleSet(result, len(candidates), narratives is not None)
