"""The daily forecast: forecasts and narratives for every ticker of the latest prices with enough history, from a
finished training run, written as one dated folder `<home>/forecasts/<as-of date>/`:

    forecast.parquet   one row per ticker (see `predict_prices`), with the run that produced it
    forecast.md        the table a person reads, then each ticker's narrative
    skipped.parquet    tickers not forecast, with the rule and why
    dropped.parquet    the cleansing audit of the new prices (every dropped row and its rule)
    source.json        the source, the run folder, the as-of date and the counts
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.artifacts import write_json, write_parquet, write_text
from vta_core.inference.predict import Prediction, predict_latest

LOG = logging.getLogger(__name__)
FORECASTS = "forecasts"


@dataclass(frozen=True)
class DailyForecast:
    folder: Path
    as_of: str
    prediction: Prediction
    markdown: str


def _path(values: object) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in np.asarray(values, dtype=float)) + "]"


def forecast_markdown(prediction: Prediction, run_folder: Path, source: str, as_of: str) -> str:
    table = prediction.table
    lines = [
        f"## Daily forecast as of {as_of}\n",
        f"Source `{source}`; run `{run_folder.name}`; {len(table)} ticker(s) forecast, {len(prediction.skipped)} "
        f"skipped, {len(prediction.dropped)} input row(s) dropped by cleansing. Prices in the input's units.\n",
        "| ticker | last session | last price | next sessions | forecast | forecast by | narrated by | scaler |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        how = f"guided fusion (s = {row.guidance_scale:g})" if row.fused else f"backbone ({row.fallback_reason})"
        sessions = f"{row.forecast_dates[0]} .. {row.forecast_dates[-1]}"
        lines.append(
            f"| {row.ticker} | {str(row.window_end_date)[:10]} | {row.last_price:.2f} | {sessions} | "
            f"{_path(row.forecast)} | {how} | {row.narrator} | {row.scaler} |"
        )
    if len(prediction.skipped):
        lines += ["\n### Skipped\n", "| ticker | rule | detail |", "|---|---|---|"]
        lines += [f"| {r.ticker} | {r.rule} | {r.detail} |" for r in prediction.skipped.itertuples(index=False)]
    lines.append("\n### Narratives\n")
    for row in table.itertuples(index=False):
        head = f"**{row.ticker}** ({row.narrator}; numbers in prices; fusion: {row.fusion_note}):"
        lines.append(head + "\n\n> " + str(row.narrative).replace("\n", "\n> ") + "\n")
    return "\n".join(lines) + "\n"


def daily_forecast(run_folder: Path, source: str, home: Path, min_history: int = 60) -> DailyForecast:
    """Forecast every ticker of `source` that has enough history; skip and report the others."""
    prediction = predict_latest(run_folder, source, min_history=min_history, strict=False)
    as_of = str(pd.Timestamp(prediction.table["window_end_date"].max()).date())
    folder = home / FORECASTS / as_of
    folder.mkdir(parents=True, exist_ok=True)
    table = prediction.table.assign(run=run_folder.name, source=source)
    markdown = forecast_markdown(prediction, run_folder, source, as_of)
    write_parquet(folder / "forecast.parquet", table)
    write_parquet(folder / "skipped.parquet", prediction.skipped)
    write_parquet(folder / "dropped.parquet", prediction.dropped.astype({c: str for c in prediction.dropped.columns}))
    write_text(folder / "forecast.md", markdown)
    write_json(
        folder / "source.json",
        {
            "source": source,
            "run": str(run_folder),
            "as_of": as_of,
            "forecast": len(table),
            "skipped": len(prediction.skipped),
            "dropped_rows": len(prediction.dropped),
        },
    )
    LOG.info("daily forecast as of %s: %d tickers -> %s", as_of, len(table), folder)
    return DailyForecast(folder, as_of, prediction, markdown)
