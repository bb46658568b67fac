"""Recover the order of the release's shuffled train and validation forecasts.

Finding (see README): in the release, each ticker's *test* forecasts are in window order, but its train
and validation forecasts are not: their first steps have the same distribution as the windows' last
prices (sorted values agree to ~1e-4 MSE) yet correlation ~0 in index order. The shuffle is one fixed
permutation per (split, window count): estimated from half of the 81 tickers with 861 train windows,
it aligns the other half to a median correlation of 0.996.

So the permutation is estimated jointly over every ticker of a group by a linear assignment that
matches forecast position i to window j with cost sum_tickers (first forecast step_i - last input
value_j)^2. The cost uses only the windows' *inputs*, never their targets, so no future value
leaks into the conditioning. Groups with fewer than `min_tickers` tickers are not recovered (their
forecasts are dropped and reported). On test forecasts shuffled on purpose, recovery is exact from
about 10 tickers (tests/test_released_alignment.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from vta_core.data.schema import TICKER

LOG = logging.getLogger(__name__)
SHUFFLED_SPLITS = ("train", "val")


@dataclass(frozen=True)
class GroupRecovery:
    split: str
    windows: int
    tickers: int
    estimated_from: int  # tickers whose every window has a last value in our windows
    recovered: bool
    median_corr_before: float
    median_corr_after: float

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _median_corr(first: list[np.ndarray], last: list[np.ndarray]) -> float:
    values = [
        np.corrcoef(f, g)[0, 1]
        for f, g in zip(first, last, strict=True)
        if len(f) > 2 and np.std(f) > 0 and np.std(g) > 0
    ]
    return float(np.median(values)) if values else float("nan")


def recover_order(
    mapped: pd.DataFrame, last_values: pd.DataFrame, splits: tuple[str, ...] = SHUFFLED_SPLITS, min_tickers: int = 8
) -> tuple[pd.DataFrame, list[GroupRecovery]]:
    """Reassign `window_end_date` of the shuffled splits; drop forecasts of unrecoverable groups.

    mapped: the release mapped on raw rows (ticker, example_index, split, window_end_date, h1..hH).
    last_values: our windows' last scaled input value (ticker, split, window_end_date, last).
    """
    lookup = last_values.set_index([TICKER, "split", "window_end_date"])["last"]
    kept, reports = [mapped[~mapped["split"].isin(splits)]], []
    for split in splits:
        rows = mapped[mapped["split"] == split].sort_values([TICKER, "example_index"])
        by_ticker = {str(t): g for t, g in rows.groupby(TICKER, sort=True, observed=True)}
        sizes = pd.Series({t: len(g) for t, g in by_ticker.items()}, dtype=int)
        for size, members in sizes.groupby(sizes):
            tickers = list(members.index)
            firsts, lasts, usable = [], [], []
            for t in tickers:
                g = by_ticker[t]
                ends = np.sort(g["window_end_date"].to_numpy())
                keys = pd.MultiIndex.from_arrays([[t] * len(ends), [split] * len(ends), ends])
                last = lookup.reindex(keys).to_numpy(dtype=float)
                if np.isfinite(last).all():
                    firsts.append(g["h1"].to_numpy(dtype=float))
                    lasts.append(last)
                    usable.append(t)
            before = _median_corr(firsts, lasts)
            if len(usable) < min_tickers:
                reports.append(GroupRecovery(split, int(size), len(tickers), len(usable), False, before, float("nan")))
                LOG.warning(
                    "released %s forecasts of %s (%d windows each) dropped: %d tickers are too few to "
                    "recover their shuffled order",
                    split,
                    tickers,
                    size,
                    len(usable),
                )
                continue
            cost = sum((f[:, None] - g[None, :]) ** 2 for f, g in zip(firsts, lasts, strict=True))
            position, window = linear_sum_assignment(cost)
            order = window[np.argsort(position)]  # forecast position i belongs to the order[i]-th window in time
            after = _median_corr([f[np.argsort(order)] for f in firsts], lasts)
            reports.append(GroupRecovery(split, int(size), len(tickers), len(usable), True, before, after))
            for t in tickers:
                g = by_ticker[t].copy()
                g["window_end_date"] = np.sort(g["window_end_date"].to_numpy())[order]
                kept.append(g)
            LOG.info(
                "released %s forecasts, %d tickers x %d windows: order recovered (median correlation of first "
                "step with last price %.3f -> %.3f)",
                split,
                len(tickers),
                size,
                before,
                after,
            )
    return pd.concat(kept, ignore_index=True), reports
