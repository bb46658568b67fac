"""Split, scale and window stage (paper task 3): views over one raw panel with per-(fold, ticker) scalers."""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.config.data_sections import SplitConfig, WindowConfig
from vta_core.data import splits, windows
from vta_core.data.schema import DATE, TICKER
from vta_core.identities import StageName
from vta_core.stage_keys import StageOutput, stage

LOG = logging.getLogger(__name__)


@stage(StageName.WINDOWS)
def windows_stage(window: WindowConfig, split: SplitConfig, cleaned: ArtifactRef, out: StageOutput) -> ArtifactRef:
    prices = pd.read_parquet(require(cleaned).file("prices.parquet"))
    dates = {str(t): g[DATE].to_numpy() for t, g in prices.groupby(TICKER, sort=False)}
    blocks = splits.split_blocks(dates, split, window)
    window_set, excluded = windows.build_windows(prices, blocks, window.lookback, window.horizon)
    counts = window_set.index.groupby(["split"], observed=True).size().to_dict()
    with out.writing() as folder:
        window_set.save(folder)
        write_parquet(folder / "blocks.parquet", blocks)
        write_parquet(folder / "exclusions.parquet", excluded)
        write_json(
            folder / "windows_report.json",
            {
                "windows_by_split": {str(k): int(v) for k, v in counts.items()},
                "tickers": int(window_set.index[TICKER].nunique()),
                "excluded": excluded.to_dict("records"),
                "folds": int(blocks["fold"].nunique()),
            },
        )
    LOG.info("built %d windows (%s); excluded %d (fold, ticker) pairs", len(window_set), counts, len(excluded))
    return out.ref
