"""Config sections of annotation (statistics + indicators) and of the rule-based analyst."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vta_core.config.base import PositiveInt, Section

IndicatorName = Literal[
    "sma",
    "ema",
    "momentum",
    "rsi",
    "willr",
    "cci",
    "adx",
    "bbands",
    "stoch_fastk",
    "stoch_slowk",
    "stoch_slowd",
    "macd_fast",
    "macd_slow",
    "macd_signal",
]


class AnnotationConfig(Section):
    """Statistics and technical indicators per window (SPEC section 4)."""

    mode: Literal["window", "history"] = Field(
        default="window",
        description="window: only the T rows of the window (paper); history: standard periods "
        "on the causal history that ends at the window's last day",
    )
    history_length: PositiveInt = Field(default=60, description="rows of causal history in history mode")
    price_column: Literal["Adj Close", "Close"] = Field(
        default="Adj Close",
        description="series for the single-series indicators and the statistics; "
        "high/low-based indicators use High, Low and Close",
    )
    period_overrides: dict[IndicatorName, PositiveInt] = Field(default_factory=dict)
    bb_nbdev: Annotated[float, Field(gt=0)] = 2.0


class AnalystConfig(Section):
    """Rule-based analyst: damped-trend forecast, damping chosen on validation windows."""

    damping_grid: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    narratives_for: tuple[Literal["train", "val", "test"], ...] = ("train", "val", "test")
