"""Read long-format OHLCV prices from the bundled StockNet set, CSV or Parquet, and check structure.

Structural problems (missing columns, unparsable dates, non-numeric text, empty files) raise one
`DataValidationError` listing all of them. Value problems (nulls, bad prices) are left to cleansing,
which drops and audits them.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.schema import (
    DATE,
    NULL_TOKENS,
    REQUIRED_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
    TICKER,
    VALUE_COLUMNS,
)

LOG = logging.getLogger(__name__)
STOCKNET_PACKAGE = "vta_core.resources.stocknet"


def stocknet_path() -> Path:
    return Path(str(resources.files(STOCKNET_PACKAGE).joinpath("prices.parquet")))


def read_prices(path: Path, tickers: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Read and structurally validate a long-format price file.

    Returns columns date (datetime64), ticker (str), the six value columns (float64, NaN where
    the file had a null token) and `_file` / `_row` (1-based record number in the file).
    """
    label = path.name
    if not path.exists():
        raise DataValidationError([DataProblem(str(path), "file_missing", "file does not exist")])
    raw = _read_any(path, label)
    problems: list[DataProblem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        hints = {c: next((r for r in raw.columns if str(r).lower() == c.lower()), None) for c in missing}
        detail = ", ".join(
            f"{c!r}" + (f" (found {hints[c]!r}: names are case-sensitive)" if hints[c] else "") for c in missing
        )
        raise DataValidationError([DataProblem(label, "missing_column", f"missing required column(s) {detail}")])
    if raw.empty:
        raise DataValidationError([DataProblem(label, "empty_file", "file has a header but no rows")])
    frame = pd.DataFrame(
        {
            SOURCE_FILE: pd.Categorical.from_codes(
                np.zeros(len(raw), dtype=np.int8), [label]
            ),  # one label, not 6M strings
            SOURCE_ROW: np.arange(1, len(raw) + 1),
        }
    )
    frame[TICKER] = raw[TICKER].astype("string").str.strip()
    for row in frame.index[frame[TICKER].isna() | (frame[TICKER] == "")]:
        problems.append(DataProblem(label, "missing_ticker", "ticker is empty", row=int(row) + 1, column=TICKER))
    frame[DATE] = _parse_dates(raw[DATE], frame, label, problems)
    for column in VALUE_COLUMNS:
        frame[column] = _parse_numbers(raw[column], column, frame, label, problems)
    if problems:
        raise DataValidationError(problems)
    frame[TICKER] = frame[TICKER].astype(str)
    if tickers is not None:
        unknown = sorted(set(tickers) - set(frame[TICKER].unique()))
        if unknown:
            raise DataValidationError(
                [
                    DataProblem(label, "unknown_ticker", f"requested ticker {t!r} is not in the file", ticker=t)
                    for t in unknown
                ]
            )
        frame = frame[frame[TICKER].isin(tickers)].reset_index(drop=True)
    LOG.info("read %d rows for %d tickers from %s", len(frame), frame[TICKER].nunique(), path)
    return frame[[DATE, TICKER, *VALUE_COLUMNS, SOURCE_FILE, SOURCE_ROW]]


def _read_any(path: Path, label: str) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            # Dates as datetime64, not Python date objects (6M objects would cost seconds to parse).
            return pd.read_parquet(path, to_pandas_kwargs={"date_as_object": False})
        if suffix in {".csv", ".txt"}:
            # Everything as text so that this module, not pandas, decides what is a bad value.
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as err:
        raise DataValidationError([DataProblem(label, "empty_file", "file is empty (no header)")]) from err
    except (pd.errors.ParserError, UnicodeDecodeError, pa.ArrowInvalid, OSError) as err:
        raise DataValidationError([DataProblem(label, "unreadable_file", f"cannot parse file: {err}")]) from err
    raise DataValidationError([DataProblem(label, "unsupported_format", f"expected .csv or .parquet, got {suffix!r}")])


def _parse_dates(values: pd.Series, frame: pd.DataFrame, label: str, problems: list[DataProblem]) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.tz_localize(None).dt.normalize().astype("datetime64[s]")
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    if parsed.isna().any():
        # Parquet date32 columns arrive as python dates; fall back to the general parser.
        parsed = parsed.fillna(pd.to_datetime(values.where(parsed.isna()), errors="coerce", format="mixed"))
    for idx in parsed.index[parsed.isna()]:
        problems.append(
            DataProblem(
                label,
                "bad_date",
                f"cannot parse date {values[idx]!r} (expected YYYY-MM-DD)",
                ticker=_ticker(frame, idx),
                row=int(idx) + 1,
                column=DATE,
            )
        )
    return parsed.dt.normalize().astype("datetime64[s]")


def _parse_numbers(
    values: pd.Series, column: str, frame: pd.DataFrame, label: str, problems: list[DataProblem]
) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    if pd.api.types.is_bool_dtype(values):
        problems.append(
            DataProblem(label, "wrong_dtype", f"column {column!r} is boolean, expected numbers", column=column)
        )
        return pd.Series(np.nan, index=values.index)
    text = values.astype("string").str.strip()
    is_null = text.isna() | text.isin(NULL_TOKENS)
    numbers = pd.to_numeric(text.where(~is_null), errors="coerce")
    garbage = numbers.isna() & ~is_null
    if garbage.all():
        problems.append(
            DataProblem(
                label,
                "wrong_dtype",
                f"column {column!r} holds no numbers (first value {values.iloc[0]!r})",
                column=column,
            )
        )
    else:
        for idx in garbage.index[garbage]:
            problems.append(
                DataProblem(
                    label,
                    "not_a_number",
                    f"{column} is {values[idx]!r}, not a number or a null marker",
                    ticker=_ticker(frame, idx),
                    row=int(idx) + 1,
                    column=column,
                )
            )
    return numbers.astype("float64")


def _ticker(frame: pd.DataFrame, idx: int) -> str | None:
    value = frame.at[idx, TICKER]
    return None if pd.isna(value) else str(value)
