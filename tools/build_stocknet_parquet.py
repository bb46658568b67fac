"""Rebuild the bundled StockNet Parquet from the raw StockNet CSVs.

Run once by a maintainer (the project never reads the raw CSVs at run time):
    .venv/bin/python tools/build_stocknet_parquet.py ../shared/data/stocknet

The raw rows are kept exactly, `null` rows included (as missing values), so that the
pipeline's own cleansing decides what to drop and reports it.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

LOG = logging.getLogger("build_stocknet")
DEST = Path(__file__).resolve().parents[1] / "vta_core" / "resources" / "stocknet"
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]


def build(source: Path) -> Path:
    frames = []
    for csv in sorted((source / "price").glob("*.csv")):
        frame = pd.read_csv(csv, na_values=["null"], keep_default_na=False, dtype={c: "float64" for c in PRICE_COLUMNS})
        frame.insert(1, "ticker", csv.stem)
        frames.append(frame)
    prices = pd.concat(frames, ignore_index=True).rename(columns={"Date": "date"})
    prices["date"] = pd.to_datetime(prices["date"], format="%Y-%m-%d").dt.date
    table = pa.Table.from_pandas(prices, preserve_index=False)
    DEST.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, DEST / "prices.parquet", compression="zstd", compression_level=19)
    sectors = pd.read_csv(source / "StockTable.tsv", sep="\t")
    sectors["Symbol"] = sectors["Symbol"].str.lstrip("$")
    pq.write_table(pa.Table.from_pandas(sectors, preserve_index=False), DEST / "stock_table.parquet")
    shutil.copyfile(source / "LICENSE", DEST / "LICENSE")
    LOG.info("wrote %d rows for %d tickers to %s", len(prices), prices["ticker"].nunique(), DEST)
    return DEST


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build(Path(sys.argv[1]))
