"""Public API of the annotation kernels: indicator periods, indicators and window statistics.

Periods follow the paper's rule in window mode: period = min(T - 5, TA-Lib default), so 5 for
T = 10, and MACD 2/5/2. History mode uses TA-Lib's standard periods on a longer causal history.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from vta_core.annotation import kernels

# Window statistics, in the order prompts print them (the prompts import this).
STAT_COLUMNS = ("min", "min_day", "max", "max_day", "mean", "median", "median_day")

INDICATORS = (
    "sma",
    "ema",
    "momentum",
    "rsi",
    "macd",
    "willr",
    "cci",
    "adx",
    "bb_upper",
    "bb_middle",
    "bb_lower",
    "stoch_k",
    "stoch_d",
)
STATISTICS = ("min", "min_day", "max", "max_day", "mean", "median", "median_day")
# Smallest period TA-Lib accepts for each parameter.
_MINIMUM = {
    "sma": 2,
    "ema": 2,
    "momentum": 1,
    "rsi": 2,
    "willr": 2,
    "cci": 2,
    "adx": 2,
    "bbands": 2,
    "stoch_fastk": 1,
    "stoch_slowk": 1,
    "stoch_slowd": 1,
    "macd_fast": 2,
    "macd_slow": 2,
    "macd_signal": 1,
}


@dataclass(frozen=True)
class IndicatorPeriods:
    sma: int = 20
    ema: int = 20
    momentum: int = 10
    rsi: int = 14
    willr: int = 14
    cci: int = 14
    adx: int = 14
    bbands: int = 20
    stoch_fastk: int = 14
    stoch_slowk: int = 3
    stoch_slowd: int = 3
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bb_nbdev: float = 2.0

    def __post_init__(self) -> None:
        for name, minimum in _MINIMUM.items():
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"indicator period {name} must be an integer >= {minimum}, got {value!r}")
        if self.macd_fast >= self.macd_slow:
            raise ValueError(
                f"indicator period macd_fast ({self.macd_fast}) must be below macd_slow ({self.macd_slow})"
            )
        if not self.bb_nbdev > 0:
            raise ValueError(f"indicator parameter bb_nbdev must be > 0, got {self.bb_nbdev}")

    @classmethod
    def standard(cls) -> IndicatorPeriods:
        return cls()

    @classmethod
    def for_lookback(cls, lookback: int) -> IndicatorPeriods:
        """Paper rule: min(T - 5, default), floored at TA-Lib's minimum; MACD fast/slow/signal scaled
        the same way (2/5/2 for T = 10)."""
        base = cls()
        cap = lookback - 5
        fields = {
            name: max(_MINIMUM[name], min(cap, getattr(base, name)))
            for name in _MINIMUM
            if not name.startswith(("macd", "stoch_slow"))
        }
        slow = max(3, min(cap, base.macd_slow))
        if slow < base.macd_slow:  # shortened MACD keeps roughly the 12/26/9 proportions: 2/5/2 for T = 10
            fields.update(
                macd_slow=slow, macd_fast=max(2, min(slow - 1, slow * 2 // 5)), macd_signal=max(1, slow * 2 // 5)
            )
        return cls(**fields)

    def vector(self) -> np.ndarray:
        return np.array(
            [
                self.sma,
                self.ema,
                self.momentum,
                self.rsi,
                self.willr,
                self.cci,
                self.adx,
                self.bbands,
                self.stoch_fastk,
                self.stoch_slowk,
                self.stoch_slowd,
                self.macd_fast,
                self.macd_slow,
                self.macd_signal,
            ],
            dtype=np.int64,
        )

    def labels(self) -> dict[str, str]:
        """Period text shown beside each indicator in prompts."""
        bb = f"{self.bbands}, {self.bb_nbdev:g} sd"
        return {
            "sma": str(self.sma),
            "ema": str(self.ema),
            "momentum": str(self.momentum),
            "rsi": str(self.rsi),
            "macd": f"{self.macd_fast}/{self.macd_slow}/{self.macd_signal}",
            "willr": str(self.willr),
            "cci": str(self.cci),
            "adx": str(self.adx),
            "bb_upper": bb,
            "bb_middle": bb,
            "bb_lower": bb,
            "stoch_k": f"{self.stoch_fastk}/{self.stoch_slowk}",
            "stoch_d": str(self.stoch_slowd),
        }

    def replace(self, **changes: int | float) -> IndicatorPeriods:
        fields: dict[str, Any] = dict(changes)
        return dataclasses.replace(self, **fields)


def compute_indicators(
    close: np.ndarray, high: np.ndarray, low: np.ndarray, first_valid: np.ndarray, periods: IndicatorPeriods
) -> dict[str, np.ndarray]:
    """Value at each row's last day of every indicator; rows are (n, L), left-padded before first_valid."""
    if not (close.shape == high.shape == low.shape) or close.ndim != 2:
        raise ValueError(f"close/high/low must be equal (n, L) matrices, got {close.shape}, {high.shape}, {low.shape}")
    values = kernels.indicator_kernel(
        np.ascontiguousarray(close, dtype=np.float64),
        np.ascontiguousarray(high, dtype=np.float64),
        np.ascontiguousarray(low, dtype=np.float64),
        np.asarray(first_valid, dtype=np.int64),
        periods.vector(),
        float(periods.bb_nbdev),
    )
    return {name: values[:, k] for k, name in enumerate(INDICATORS)}


def window_statistics(series: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of each (n, T) row: min/max and their 1-based days (first occurrence), mean, median
    (for even T the mean of the two middle values; its day is that of the lower middle value)."""
    values = kernels.statistics_kernel(np.ascontiguousarray(series, dtype=np.float64))
    return {name: values[:, k] for k, name in enumerate(STATISTICS)}


def gather_history(
    column: np.ndarray, end_rows: np.ndarray, ticker_first_rows: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, length) causal histories ending at `end_rows`, NaN-padded on the left where the ticker's
    data starts later; never reaches into another ticker's rows. Returns (matrix, first_valid)."""
    offsets = np.arange(length - 1, -1, -1)
    rows = end_rows[:, None] - offsets[None, :]
    valid = rows >= ticker_first_rows[:, None]
    matrix = np.where(valid, column[np.maximum(rows, 0)], np.nan)
    first_valid = length - 1 - np.minimum(end_rows - ticker_first_rows, length - 1)
    return matrix, first_valid.astype(np.int64)
