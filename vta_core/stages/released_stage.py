"""Released-forecasts stage: the paper authors' Qwen2.5-7B forecasts as an evaluated "LLM only" model.

Applies only to the bundled StockNet data with the paper split and T = T' = 10 (what the release was made
for); the flow skips it otherwise. Windows that exist on only one side (the release counts PTR, REX and
SNP's null row as a day, which shifts their split boundaries by one row) are counted and reported.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, write_json, write_parquet
from vta_core.config.data_sections import PaperSplit, SourceConfig, WindowConfig
from vta_core.data.reading import read_prices, stocknet_path
from vta_core.data.schema import TICKER
from vta_core.evaluation import predictions
from vta_core.external import released, released_alignment
from vta_core.identities import ModelId, StageName
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


def applies(source: SourceConfig, window: WindowConfig, split: object) -> bool:
    return (
        source.kind == "stocknet"
        and isinstance(split, PaperSplit)
        and split.purge == 0
        and (split.train_fraction, split.test_fraction) == (0.7, 0.2)
        and (window.lookback, window.horizon) == (10, 10)
    )


# The shipped forecasts and prices are data files, not code: their bytes are part of the key.
@stage(StageName.RELEASED, resources=(released.released_path(), stocknet_path()))
def released_forecasts_stage(
    source: SourceConfig, window: WindowConfig, split: PaperSplit, windows: ArtifactRef, out: StageOutput
) -> ArtifactRef:
    # The shuffle is a property of the whole release: recover it from all 88 tickers, then keep the configured ones.
    mapped = released.map_released(
        read_prices(stocknet_path()), pd.read_parquet(released.released_path()), window, split
    )
    mapped, recovery = released_alignment.recover_order(
        mapped.drop(columns="last"), mapped[[TICKER, "split", "window_end_date", "last"]]
    )
    if source.tickers is not None:
        mapped = mapped[mapped[TICKER].isin(source.tickers)]
    ws = load_windows(windows)
    ours = ws.index.assign(
        row=np.arange(len(ws)), ticker=ws.index[TICKER].astype(str), split=ws.index["split"].astype(str)
    )
    joined = ours.merge(
        mapped.rename(columns={"window_end_date": "end_date"}),
        on=[TICKER, "split", "end_date"],
        how="inner",
        validate="one_to_one",
    )
    matched = type(ws)(
        ws.panel,
        ws.dates,
        ws.index.iloc[joined["row"].to_numpy()].reset_index(drop=True),
        ws.scalers,
        ws.lookback,
        ws.horizon,
    )
    y_hat = joined[[f"h{i + 1}" for i in range(window.horizon)]].to_numpy(dtype=float)
    report = {
        "windows": len(ws),
        "matched": len(joined),
        "unmatched_ours": len(ws) - len(joined),
        "matched_by_split": joined["split"].value_counts().to_dict(),
        "unmatched_by_ticker": (ours[~ours["row"].isin(joined["row"])].groupby(TICKER).size().to_dict()),
        "order_recovery": [g.as_dict() for g in recovery],
        "in_sample": "train forecasts come from the released stage-3 model, which was trained on those windows",
    }
    with out.writing() as folder:
        write_parquet(
            folder / "predictions.parquet", predictions.prediction_frame(matched, y_hat, ModelId.LLM_RELEASED)
        )
        write_json(folder / "released_report.json", report)
    LOG.info("released forecasts: %d of %d windows matched", len(joined), len(ws))
    return out.ref
