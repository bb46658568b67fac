"""Config of the backtest stage: which protocols to backtest and the portfolio problem (issue 14).

A portfolio trades every ticker on common dates, so its default protocol is a global date split: every
pooled model trains and selects its hyperparameters on data that ends before the first decision. Under
the paper's per-ticker 70/10/20 split, late listings (BABA, AGFS, GMRE) have training and validation rows
inside the other tickers' test period, so a pooled model has seen those dates: the `run` protocol (the
main run's own split, the paper's in every preset) is backtested beside it, marked as looking ahead.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, model_validator

from vta_core.config.base import Section
from vta_core.config.data_sections import DateSplit
from vta_core.config.portfolio_sections import PortfolioConfig

Protocol = Literal["dates", "run"]


class BacktestConfig(Section):
    enabled: bool = True
    protocols: tuple[Protocol, ...] = Field(
        default=("dates", "run"),
        description="dates: a second pass of every model on `date_split` (the default protocol of a portfolio); "
        "run: the main run's own predictions and split (the paper's per-ticker split in every preset; its table says "
        "whether pooled models looked ahead across tickers)",
    )
    date_split: DateSplit = Field(
        # About the paper's 70 / 10 / 20 proportions of 2012-09 .. 2017-09, with decisions from 2016-08-31 on,
        # the start of the paper split's test period for the tickers listed throughout.
        default=DateSplit(train_end=dt.date(2016, 2, 29), val_end=dt.date(2016, 8, 31), purge=0),
        description="the global date split of the `dates` protocol (train targets <= train_end < validation "
        "targets <= val_end < test targets)",
    )
    date_pass_reasoner: bool = Field(
        default=False,
        description="also retrain the reasoner in the `dates` pass (its fused VTA row then has a backtest); off in "
        "the cpu preset, where it would double the reasoner's training time",
    )
    portfolio: PortfolioConfig = PortfolioConfig()

    @model_validator(mode="after")
    def _protocols(self) -> BacktestConfig:
        if len(set(self.protocols)) != len(self.protocols):
            raise ValueError("backtest.protocols lists a protocol twice")
        return self
