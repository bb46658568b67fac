"""Result tables as keyed Prefect table artifacts."""

from __future__ import annotations

from typing import Any

import pandas as pd
from prefect.artifacts import create_table_artifact

from tasks.progress import KEY_PATTERN

MAX_ROWS = 500  # a table artifact is for reading in the UI; the full table stays in the artifact folder


def table_records(frame: pd.DataFrame, limit: int = MAX_ROWS) -> list[dict[str, Any]]:
    """JSON-ready rows: floats rounded to 6 digits, missing values as None, at most `limit` rows."""
    head = frame.head(limit)
    return head.round(6).astype(object).where(head.notna(), None).to_dict("records")


def publish_table(key: str, frame: pd.DataFrame, description: str) -> None:
    """`frame` as the table artifact `key` (the first MAX_ROWS rows, said in the description when cut)."""
    if not KEY_PATTERN.match(key):
        raise ValueError(f"invalid artifact key {key!r}: lowercase letters, digits and dashes only")
    if len(frame) > MAX_ROWS:
        description = f"{description} (first {MAX_ROWS} of {len(frame)} rows)"
    create_table_artifact(key=key, table=table_records(frame), description=description)
