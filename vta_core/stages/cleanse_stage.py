"""Read + cleanse stage (paper tasks 1-2): every dropped row is kept in an audit table with its rule."""

from __future__ import annotations

import logging
from pathlib import Path

from vta_core.artifacts import ArtifactRef, write_json, write_parquet
from vta_core.config.data_sections import CalendarConfig, SourceConfig
from vta_core.data import cleansing, reading, sources
from vta_core.data.schema import TICKER
from vta_core.identities import StageName
from vta_core.stage_keys import StageOutput, stage

LOG = logging.getLogger(__name__)


def source_location(source: SourceConfig) -> str:
    """The bundled StockNet file, or the configured file, folder or fsspec URL (local paths made absolute)."""
    if source.kind == "stocknet":
        return str(reading.stocknet_path())
    if source.path is None:  # SourceConfig's validator already rejects this
        raise ValueError("data.source.path is required when data.source.kind is 'file'")
    if "://" in source.path:
        return source.path
    return str(Path(source.path).expanduser().resolve())


def source_fingerprint(source: SourceConfig) -> str:
    """Content hash of every input file (names and bytes), so edited data or a new day's file invalidates the
    cache even at the same path."""
    return sources.source_digest(source_location(source))


@stage(StageName.CLEANSE)
def cleanse_stage(
    source: SourceConfig, calendar: CalendarConfig, input_fingerprint: str, out: StageOutput
) -> ArtifactRef:
    """`input_fingerprint` (the file's content hash) is an argument so that it is part of the key."""
    raw = sources.read_source(source_location(source), source.tickers)
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
