"""The market the backtest trades: one session grid, Adj Close per ticker, returns and risk.

The grid is the exchange calendar of `calendar.default_market` between the first and last price
date (exchange_calendars, never date arithmetic), so "the next session" of a decision date is the
next row of the grid: a Friday's next session is Monday and Thanksgiving is not a row at all.
Nothing is forward-filled: a ticker without a row on a session has NaN there.

Two return series, for two purposes:
- `accrual[j, i]`: what a holding of ticker i earns on session j, close to close. When a ticker had
  no price on the previous session(s), the move since its last price is booked on the day a price
  is seen again (that is what marking to market does); on a session without a price it earns 0
  (no mark). Those gaps are listed in `gaps` so they reach the skipped table.
- `strict[j, i]`: P[j] / P[j-1] - 1 only when both prices exist; feeds the covariance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vta_core.config.data_sections import CalendarConfig
from vta_core.data.calendars import sessions
from vta_core.data.schema import DATE, TARGET, TICKER
from vta_core.prompts.text import NOT_AVAILABLE, format_number

LOG = logging.getLogger(__name__)


class PortfolioDataError(ValueError):
    """Prices or predictions the backtest cannot use (multi-market universe, duplicate forecasts...)."""


@dataclass(frozen=True)
class Market:
    dates: np.ndarray  # (T,) datetime64[ns], the session grid
    tickers: np.ndarray  # (m,) str, sorted
    prices: np.ndarray  # (T, m) Adj Close, NaN where the ticker has no row that session
    accrual: np.ndarray  # (T, m) close-to-close return a holding earns on session j (0 without a price)
    strict: np.ndarray  # (T, m) P[j] / P[j-1] - 1, NaN unless both prices exist
    first: np.ndarray  # (m,) first grid row with a price
    last: np.ndarray  # (m,) last grid row with a price
    off_grid: pd.DataFrame  # date, ticker: price rows dated on a non-session of the grid (ignored)

    def row_of(self, dates: np.ndarray) -> np.ndarray:
        """Grid rows of `dates`; -1 where a date is not a session."""
        rows = np.searchsorted(self.dates, dates)
        rows = np.minimum(rows, len(self.dates) - 1)
        return np.where(self.dates[rows] == dates, rows, -1)

    def gaps(self) -> pd.DataFrame:
        """(date, ticker) sessions inside a ticker's listed life without a price."""
        rows, cols = np.nonzero(np.isnan(self.prices))
        inside = (rows > self.first[cols]) & (rows < self.last[cols])
        return pd.DataFrame({"date": self.dates[rows[inside]], "ticker": self.tickers[cols[inside]]})


def build_market(prices: pd.DataFrame, calendar: CalendarConfig) -> Market:
    """Pivot long cleaned prices (date, ticker, Adj Close, ...) onto the default market's session grid."""
    tickers = np.array(sorted(prices[TICKER].astype(str).unique()))
    foreign = {
        t: calendar.ticker_markets[t]
        for t in tickers
        if calendar.ticker_markets.get(t, calendar.default_market) != calendar.default_market
    }
    if foreign:
        # One grid per portfolio: mixing exchanges needs per-ticker execution dates, not built yet.
        raise PortfolioDataError(
            f"the backtest trades on one exchange calendar ({calendar.default_market}); "
            f"tickers on other markets: {dict(list(foreign.items())[:5])}"
        )
    dates = pd.to_datetime(prices[DATE]).to_numpy().astype("datetime64[ns]")
    grid = sessions(calendar.default_market, pd.Timestamp(dates.min()), pd.Timestamp(dates.max()))
    grid = grid.astype("datetime64[ns]")
    frame = pd.DataFrame({"date": dates, "ticker": prices[TICKER].astype(str).to_numpy(), "price": prices[TARGET]})
    on_grid = np.isin(frame["date"].to_numpy(), grid)
    off_grid = frame.loc[~on_grid, ["date", "ticker"]].reset_index(drop=True)
    if len(off_grid):
        LOG.warning("%d price rows fall on non-sessions of %s and are ignored", len(off_grid), calendar.default_market)
    frame = frame[on_grid & np.isfinite(frame["price"].to_numpy())]
    if frame.duplicated(["date", "ticker"]).any():
        raise PortfolioDataError("prices hold two rows for the same (date, ticker); cleanse them first")
    wide = frame.pivot(index="date", columns="ticker", values="price").reindex(index=grid, columns=tickers)
    p = wide.to_numpy(dtype=float)
    has = np.isfinite(p)
    first = np.where(has.any(axis=0), has.argmax(axis=0), len(grid))
    last = np.where(has.any(axis=0), len(grid) - 1 - has[::-1].argmax(axis=0), -1)
    previous = pd.DataFrame(p).ffill().shift(1).to_numpy()  # last seen price before j (bookkeeping only)
    with np.errstate(invalid="ignore", divide="ignore"):
        accrual = np.where(has & np.isfinite(previous), p / previous - 1.0, 0.0)
        strict = np.full_like(p, np.nan)
        strict[1:] = p[1:] / p[:-1] - 1.0
    return Market(grid, tickers, p, accrual, strict, first, last, off_grid)


@dataclass
class RiskModel:
    """Daily covariance of the trailing `lookback` strict returns ending at t, cached per (t, universe)."""

    market: Market
    lookback: int
    shrinkage: str
    min_history_share: float
    _cache: dict

    @classmethod
    def create(cls, market: Market, lookback: int, shrinkage: str, min_history_share: float) -> RiskModel:
        return cls(market, lookback, shrinkage, min_history_share, {})

    def eligible(self, row: int) -> np.ndarray:
        """(m,) bool: tickers with enough finite returns in the window ending at `row` (inclusive)."""
        if row + 1 < self.lookback:
            return np.zeros(len(self.market.tickers), dtype=bool)
        window = self.market.strict[row - self.lookback + 1 : row + 1]
        need = int(np.ceil(self.min_history_share * self.lookback))
        return np.isfinite(window).sum(axis=0) >= need

    def covariance(self, row: int, columns: np.ndarray) -> np.ndarray | None:
        """Sigma over `columns` on the sessions where all of them have a return; None if < 2 such sessions."""
        key = (row, columns.tobytes())
        if key not in self._cache:
            window = self.market.strict[row - self.lookback + 1 : row + 1][:, columns]
            complete = window[np.isfinite(window).all(axis=1)]  # listwise: a one-day hole drops one row
            if len(complete) < 2:
                self._cache[key] = None
            elif self.shrinkage == "ledoit_wolf":
                from sklearn.covariance import ledoit_wolf  # imported here: scikit-learn costs 0.5 s to import

                self._cache[key] = ledoit_wolf(complete)[0]
            else:
                self._cache[key] = np.atleast_2d(np.cov(complete, rowvar=False))
        return self._cache[key]


def quoted_values(values: np.ndarray, digits: int) -> np.ndarray:
    """Each value as a prompt prints it (`format_number`), read back as a float; NaN where none is printed."""
    texts = [format_number(float(v), digits) for v in values]
    return np.array([math.nan if t == NOT_AVAILABLE else float(t) for t in texts], dtype=np.float64)


@dataclass(frozen=True)
class PrintedCloses:
    """Models that answer a prompt, and the significant digits it printed prices with (standardised units)."""

    models: frozenset[str]
    digits: int


def expected_returns(
    predictions: pd.DataFrame,
    scalers: pd.DataFrame,
    market: Market,
    rule: str,
    horizon: int,
    printed: PrintedCloses | None = None,
) -> pd.DataFrame:
    """mu per (model, seed, date, ticker) from forecasts in price space (each (fold, ticker) scaler inverted).

    horizon_rate: mu = (P_hat[t+h] / P[t])^(1/h) - 1; next_day: mu = P_hat[t+1] / P[t] - 1, where P[t] is
    the observed Adj Close at the decision date t = window_end_date. A forecast price <= 0 (possible after
    inverting a z-score) is floored at 1e-12 of P[t], i.e. mu ~ -1, and logged.

    For `printed.models`, P[t] is the last close as their prompt printed it: such a model sees "0.5703", not
    0.570349, and its answer "0.5703" means flat. Measured from the observed close, mu would be the print's
    rounding error, on which the optimiser trades: 0.79 of the book a day for the analyst of the 2026-12-04 cpu
    run, whose every answer is flat, against 0.13 for persistence.
    """
    step = 1 if rule == "next_day" else horizon
    chosen = predictions[predictions["step"] == step]
    if chosen.empty:
        raise PortfolioDataError(f"predictions hold no step {step} (mu={rule!r}, horizon={horizon})")
    frame = _merge_scalers(chosen, scalers)
    keys = ["model", "seed", "window_end_date", "ticker"]
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        raise PortfolioDataError(
            "two forecasts for the same (model, seed, date, ticker): "
            f"{frame.loc[duplicated, keys].head(3).to_dict('records')}"
        )
    dates = pd.to_datetime(frame["window_end_date"]).to_numpy().astype("datetime64[ns]")
    rows = market.row_of(dates)
    cols = np.searchsorted(market.tickers, frame["ticker"].to_numpy())
    cols = np.minimum(cols, len(market.tickers) - 1)
    known = (rows >= 0) & (market.tickers[cols] == frame["ticker"].to_numpy())
    last_price = np.where(known, market.prices[np.maximum(rows, 0), cols], np.nan)
    mean, std = frame["price_mean"].to_numpy(), frame["price_std"].to_numpy()
    forecast = frame["y_hat"].to_numpy() * std + mean
    if printed is not None:
        # The same arithmetic as WindowSet's scaling, so the printed value is the prompt's to the last digit.
        shown = frame["model"].astype(str).isin(printed.models).to_numpy() & np.isfinite(last_price)
        as_printed = quoted_values((last_price[shown] - mean[shown]) / std[shown], printed.digits)
        last_price = last_price.copy()
        last_price[shown] = as_printed * std[shown] + mean[shown]
    ratio = forecast / last_price
    floored = np.isfinite(ratio) & (ratio <= 0)
    if floored.any():
        LOG.warning("%d forecast prices <= 0 floored (mu ~ -1)", int(floored.sum()))
    ratio = np.where(floored, 1e-12, ratio)
    mu = ratio ** (1.0 / step) - 1.0
    return pd.DataFrame(
        {
            "model": frame["model"].astype(str).to_numpy(),
            "seed": frame["seed"].to_numpy(dtype=np.int64),
            "date": dates,
            "ticker": frame["ticker"].astype(str).to_numpy(),
            "mu": mu,  # NaN where the decision date has no price: the ticker is then skipped as no_price
        }
    )


def _merge_scalers(chosen: pd.DataFrame, scalers: pd.DataFrame) -> pd.DataFrame:
    frame = chosen.astype({"ticker": str}).merge(
        scalers[["fold", "ticker", "price_mean", "price_std"]].astype({"ticker": str}),
        on=["fold", "ticker"],
        how="left",
        validate="many_to_one",
    )
    if frame["price_std"].isna().any():
        missing = frame.loc[frame["price_std"].isna(), ["fold", "ticker"]].drop_duplicates()
        raise PortfolioDataError(f"no scaler for (fold, ticker) {missing.to_dict('records')[:5]}")
    return frame


def foresight_returns(market: Market, rows: np.ndarray, rule: str, horizon: int) -> np.ndarray:
    """(len(rows), m) mu from the realised prices: the same rule as the models with y_hat = the truth.

    The realised P[t+h] is the ticker's own h-th next price row after t (the windows count rows, not
    sessions); NaN where it does not exist yet. This deliberately looks ahead: it is the upper bound.
    """
    step = 1 if rule == "next_day" else horizon
    out = np.full((len(rows), len(market.tickers)), np.nan)
    for i in range(len(market.tickers)):
        have = np.flatnonzero(np.isfinite(market.prices[:, i]))
        position = np.searchsorted(have, rows)
        ok = (position < len(have)) & (have[np.minimum(position, len(have) - 1)] == rows)
        ahead = position + step
        ok &= ahead < len(have)
        future = market.prices[have[np.minimum(ahead, len(have) - 1)], i]
        out[ok, i] = (future[ok] / market.prices[rows[ok], i]) ** (1.0 / step) - 1.0
    return out
