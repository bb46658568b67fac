"""Rebuild the bundled copy of the VTA authors' released Qwen2.5-7B-Instruct stage-3 forecasts.

Run once by a maintainer (nothing reads the raw CSVs at run time):
    .venv/bin/python tools/build_released_forecasts.py ../shared/data/vta_qwen2.5-7b_forecasts
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import pandas as pd

LOG = logging.getLogger("build_released_forecasts")
DEST = Path(__file__).resolve().parents[1] / "vta_core" / "resources" / "released_forecasts"


def build(source: Path) -> Path:
    frames = []
    for csv in sorted((source / "forecasts").glob("*.csv")):
        raw = pd.read_csv(csv)
        values = pd.DataFrame([json.loads(v) for v in raw["grpo_prediction"]], dtype="float64")
        values.columns = [f"h{i + 1}" for i in range(values.shape[1])]
        frames.append(
            pd.concat([pd.DataFrame({"ticker": csv.stem, "example_index": raw["example_index"]}), values], axis=1)
        )
    table = pd.concat(frames, ignore_index=True)
    DEST.mkdir(parents=True, exist_ok=True)
    table.to_parquet(DEST / "forecasts.parquet", index=False, compression="zstd")
    shutil.copyfile(source / "LICENSE", DEST / "LICENSE")
    LOG.info("wrote %d forecasts for %d tickers to %s", len(table), table["ticker"].nunique(), DEST)
    return DEST


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    build(Path(sys.argv[1]))
