"""Read + cleanse stage (paper tasks 1-2): every dropped row is kept in an audit table with its rule."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from vta_core.artifacts import ArtifactRef, write_json, write_parquet
from vta_core.config.data_sections import CalendarConfig, SourceConfig
from vta_core.data import cleansing, reading
from vta_core.data.schema import TICKER
from vta_core.identities import StageName
from vta_core.stage_keys import StageOutput, stage

LOG = logging.getLogger(__name__)


def source_path(source: SourceConfig) -> Path:
    if source.kind == "stocknet":
        return reading.stocknet_path()
    if source.path is None:  # SourceConfig's validator already rejects this
        raise ValueError("data.source.path is required when data.source.kind is 'file'")
    return Path(source.path).expanduser().resolve()


def source_fingerprint(source: SourceConfig) -> str:
    """Content hash of the input file, so edited data invalidates the cache even at the same path."""
    path = source_path(source)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return "missing:" + str(path)  # reading reports the missing file with a clear error
    return digest.hexdigest()


@stage(StageName.CLEANSE)
def cleanse_stage(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, out: StageOutput
) -> ArtifactRef:
    """`input_fingerprint` (the file's content hash) is an argument so that it is part of the key."""
    raw = reading.read_prices(source_path(source), source.tickers)
    result = cleansing.cleanse(raw, calendar)
    with out.writing() as folder:
        write_parquet(folder / "prices.parquet", result.prices)
        write_parquet(folder / "audit.parquet", result.audit)
        write_json(
            folder / "cleanse_report.json",
            {
                "rows_read": len(raw),
                "rows_kept": len(result.prices),
                "rows_dropped": len(result.audit),
                "dropped_by_rule": result.audit["rule"].value_counts().to_dict(),
                "tickers": int(result.prices[TICKER].nunique()),
                "reordered_tickers": list(result.reordered_tickers),
            },
        )
    return out.ref
