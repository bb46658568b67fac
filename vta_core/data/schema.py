"""Column names of the long price format every stage reads."""

from __future__ import annotations

DATE = "date"
TICKER = "ticker"
PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close")
VOLUME = "Volume"
VALUE_COLUMNS = (*PRICE_COLUMNS, VOLUME)
REQUIRED_COLUMNS = (DATE, TICKER, *VALUE_COLUMNS)
TARGET = "Adj Close"
# Bookkeeping columns carried from reading to the audit so every drop names its origin.
SOURCE_FILE = "_file"
SOURCE_ROW = "_row"
NULL_TOKENS = frozenset({"", "null", "NULL", "Null", "nan", "NaN", "NA", "N/A", "None"})
