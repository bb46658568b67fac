"""Exchange calendars: which dates are trading sessions for each ticker's market."""

from __future__ import annotations

import functools
import logging

import exchange_calendars as xcals
import numpy as np
import pandas as pd

LOG = logging.getLogger(__name__)


class CalendarError(ValueError):
    """A market name or date range the exchange calendars cannot serve."""


def known_markets() -> frozenset[str]:
    return frozenset(xcals.get_calendar_names(include_aliases=True))


def market_of(ticker: str, default_market: str, ticker_markets: dict[str, str]) -> str:
    return ticker_markets.get(ticker, default_market)


@functools.lru_cache(maxsize=64)
def sessions(market: str, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Sorted session dates (datetime64[s]) of `market` between start and end inclusive."""
    if market not in known_markets():
        raise CalendarError(f"unknown exchange calendar {market!r} (see exchange_calendars.get_calendar_names())")
    try:
        calendar = xcals.get_calendar(market, start=start, end=end)
    except (xcals.errors.DateOutOfBounds, ValueError) as err:
        raise CalendarError(f"calendar {market!r} cannot cover {start.date()}..{end.date()}: {err}") from err
    return calendar.sessions.tz_localize(None).to_numpy().astype("datetime64[s]")
