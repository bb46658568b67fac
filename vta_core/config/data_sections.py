"""Config sections of the data stages: source, exchange calendar, windows and splits."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import fsspec
from pydantic import Field, model_validator

from vta_core.config.base import Fraction, PositiveInt, Section


class SourceConfig(Section):
    """Where prices come from: the bundled StockNet set, or `path`: a CSV/Parquet file, a folder of such files (a
    desk appends a file per day or week), or an fsspec URL of either (s3://bucket/prices/, gs://..., memory://...)."""

    kind: Literal["stocknet", "file"] = "stocknet"
    path: str | None = Field(default=None, description="file, folder or fsspec URL (kind 'file')")
    tickers: tuple[str, ...] | None = Field(
        default=None, description="Subset of tickers to use; None means every ticker in the source."
    )

    @model_validator(mode="after")
    def _path_matches_kind(self) -> SourceConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("data.source.path is required when data.source.kind is 'file'")
        if self.kind == "stocknet" and self.path is not None:
            raise ValueError("data.source.path must be empty when data.source.kind is 'stocknet'")
        if self.tickers is not None and len(self.tickers) == 0:
            raise ValueError("data.source.tickers must name at least one ticker (or be null for all)")
        if self.path and "://" in self.path and not self.path.startswith("file://"):
            protocol = self.path.split("://", 1)[0]
            if protocol not in fsspec.available_protocols():
                raise ValueError(f"data.source.path: unknown fsspec protocol {protocol!r}")
        return self


class CalendarConfig(Section):
    """Exchange calendars used to reject rows on non-trading days."""

    enabled: bool = True
    default_market: str = "XNYS"
    ticker_markets: dict[str, str] = Field(default_factory=dict)


class WindowConfig(Section):
    lookback: PositiveInt = 10
    horizon: PositiveInt = 10


class PaperSplit(Section):
    """SPEC section 3: per ticker chronological 70/10/20 by rows (TSLib convention)."""

    kind: Literal["paper"] = "paper"
    train_fraction: Fraction = 0.7
    test_fraction: Fraction = 0.2
    purge: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _fractions_leave_validation(self) -> PaperSplit:
        if self.train_fraction + self.test_fraction >= 1.0:
            raise ValueError("train_fraction + test_fraction must be < 1 to leave validation rows")
        return self


class DateSplit(Section):
    """Fixed date cut-offs: train rows <= train_end < validation rows <= val_end < test rows."""

    kind: Literal["dates"] = "dates"
    train_end: dt.date
    val_end: dt.date
    test_end: dt.date | None = None
    purge: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Rows; None = horizon.")

    @model_validator(mode="after")
    def _ordered(self) -> DateSplit:
        if not self.train_end < self.val_end:
            raise ValueError("train_end must be before val_end")
        if self.test_end is not None and not self.val_end < self.test_end:
            raise ValueError("val_end must be before test_end")
        return self


class WalkForwardSplit(Section):
    """Rolling-origin folds on the calendar of all tickers, each with its own scalers."""

    kind: Literal["walk_forward"] = "walk_forward"
    n_folds: PositiveInt = 4
    test_sessions: PositiveInt = 126
    val_sessions: PositiveInt = 63
    min_train_sessions: PositiveInt = 252
    expanding: bool = True
    purge: Annotated[int, Field(ge=0)] | None = Field(default=None, description="Rows; None = horizon.")


SplitConfig = Annotated[PaperSplit | DateSplit | WalkForwardSplit, Field(discriminator="kind")]


class DataConfig(Section):
    source: SourceConfig = SourceConfig()
    calendar: CalendarConfig = CalendarConfig()
    window: WindowConfig = WindowConfig()
    split: SplitConfig = PaperSplit()
