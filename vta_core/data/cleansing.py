"""Drop unusable rows and audit every drop: nothing is removed silently.

Rules, checked in this order (a row is audited once, under the first rule it breaks; `detail`
lists every rule it breaks):
missing_value, non_finite, non_positive_price, negative_volume, ohlc_inconsistent,
duplicate (same ticker and date: the first occurrence is kept), off_calendar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vta_core.config.data_sections import CalendarConfig
from vta_core.data.calendars import CalendarError, market_of, sessions
from vta_core.data.problems import DataProblem, DataValidationError
from vta_core.data.schema import DATE, PRICE_COLUMNS, SOURCE_FILE, SOURCE_ROW, TICKER, VALUE_COLUMNS, VOLUME

LOG = logging.getLogger(__name__)
AUDIT_COLUMNS = [SOURCE_FILE, SOURCE_ROW, TICKER, DATE, "rule", "detail"]
RULE_ORDER = (
    "missing_value",
    "non_finite",
    "non_positive_price",
    "negative_volume",
    "ohlc_inconsistent",
    "duplicate",
    "off_calendar",
)


@dataclass(frozen=True)
class CleansedPrices:
    prices: pd.DataFrame  # date, ticker, value columns; sorted by ticker then date
    audit: pd.DataFrame  # one row per dropped row: file, row, ticker, date, rule, detail
    reordered_tickers: tuple[str, ...]  # tickers whose rows were not in date order in the source


def cleanse(frame: pd.DataFrame, calendar: CalendarConfig) -> CleansedPrices:
    reordered = _unsorted_tickers(frame)
    if reordered:
        LOG.warning(
            "rows of %d ticker(s) were not in date order and were sorted: %s", len(reordered), ", ".join(reordered[:10])
        )
    frame = frame.sort_values([TICKER, DATE, SOURCE_ROW], kind="stable").reset_index(drop=True)
    failures = {rule: mask for rule, mask in _rule_masks(frame, calendar).items() if mask.any()}
    any_failure = np.zeros(len(frame), dtype=bool)
    for mask in failures.values():
        any_failure |= mask
    dropped = frame.loc[any_failure, [SOURCE_FILE, SOURCE_ROW, TICKER, DATE]].copy()
    first_rule = pd.Series("", index=dropped.index, dtype=object)
    all_rules = pd.Series("", index=dropped.index, dtype=object)
    for rule in RULE_ORDER:
        if rule not in failures:
            continue
        hit = failures[rule][any_failure]
        first_rule[hit & (first_rule == "")] = rule
        all_rules[hit] = all_rules[hit] + np.where(all_rules[hit] == "", "", "; ") + rule
    dropped["rule"] = first_rule
    dropped["detail"] = all_rules
    audit = dropped[AUDIT_COLUMNS].reset_index(drop=True)
    clean = frame.loc[~any_failure, [DATE, TICKER, *VALUE_COLUMNS]].reset_index(drop=True)
    if len(audit):
        LOG.info("cleansing dropped %d of %d rows: %s", len(audit), len(frame), audit["rule"].value_counts().to_dict())
    return CleansedPrices(clean, audit, tuple(reordered))


def _unsorted_tickers(frame: pd.DataFrame) -> list[str]:
    ordered = frame.groupby(TICKER, sort=True)[DATE].apply(lambda d: d.is_monotonic_increasing)
    return sorted(ordered.index[~ordered.to_numpy(dtype=bool)].astype(str))


def _rule_masks(frame: pd.DataFrame, calendar: CalendarConfig) -> dict[str, np.ndarray]:
    values = frame[list(VALUE_COLUMNS)].to_numpy(dtype="float64")
    prices = values[:, : len(PRICE_COLUMNS)]  # VALUE_COLUMNS starts with the price columns
    with np.errstate(invalid="ignore"):
        open_, high, low, close = (frame[c].to_numpy() for c in ("Open", "High", "Low", "Close"))
        masks = {
            "missing_value": np.isnan(values).any(axis=1),
            "non_finite": np.isinf(values).any(axis=1),
            "non_positive_price": (prices <= 0).any(axis=1),
            "negative_volume": frame[VOLUME].to_numpy() < 0,
            "ohlc_inconsistent": (low > np.minimum(open_, close)) | (high < np.maximum(open_, close)) | (low > high),
            "duplicate": frame.duplicated([TICKER, DATE], keep="first").to_numpy(),
        }
    masks["off_calendar"] = _off_calendar(frame, calendar) if calendar.enabled else np.zeros(len(frame), bool)
    return masks


def _off_calendar(frame: pd.DataFrame, calendar: CalendarConfig) -> np.ndarray:
    off = np.zeros(len(frame), dtype=bool)
    codes, tickers = pd.factorize(frame[TICKER])  # one lookup per ticker, not per row
    markets = pd.Series(
        np.asarray([market_of(t, calendar.default_market, calendar.ticker_markets) for t in tickers], dtype=object)[
            codes
        ],
        index=frame.index,
    )
    problems = []
    for market, rows in frame.groupby(markets.to_numpy(), sort=True).groups.items():
        dates = frame.loc[rows, DATE]
        try:
            valid = sessions(market, dates.min(), dates.max())
        except CalendarError as err:
            problems.append(DataProblem(str(frame[SOURCE_FILE].iloc[0]), "calendar", str(err)))
            continue
        off[np.asarray(rows)] = ~np.isin(dates.to_numpy().astype("datetime64[s]"), valid)
    if problems:
        raise DataValidationError(problems)
    return off
