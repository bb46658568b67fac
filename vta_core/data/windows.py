"""Sliding windows as views over one raw price panel, with per-(fold, ticker) scalers.

Nothing is materialised per window: the panel holds every cleaned row once (raw values), the
window index holds one row per window (fold, ticker, split, start row, scaler id, dates), and
`inputs()` / `targets()` gather and scale only the windows asked for. Scaling is z-score with
the training rows' Adj Close mean and std (ddof=0) for every price column and min-max for volume.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.artifacts import write_json, write_parquet
from vta_core.data.schema import DATE, TARGET, TICKER, VALUE_COLUMNS, VOLUME

LOG = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
TARGET_COLUMN = VALUE_COLUMNS.index(TARGET)
VOLUME_COLUMN = VALUE_COLUMNS.index(VOLUME)


@dataclass(frozen=True)
class WindowSet:
    panel: np.ndarray  # (rows, 6) raw values in VALUE_COLUMNS order, tickers contiguous, dates ascending
    dates: np.ndarray  # (rows,) datetime64[s]
    index: pd.DataFrame  # fold, ticker, split, start, scaler_id, end_date (last input day)
    scalers: pd.DataFrame  # fold, ticker, price_mean, price_std, volume_min, volume_span, train_rows, first_row
    lookback: int
    horizon: int

    def __len__(self) -> int:
        return len(self.index)

    def select(
        self, split: str | tuple[str, ...] | None = None, fold: int | None = None, ticker: str | None = None
    ) -> WindowSet:
        keep = np.ones(len(self.index), dtype=bool)
        if split is not None:
            keep &= self.index["split"].isin([split] if isinstance(split, str) else list(split)).to_numpy()
        if fold is not None:
            keep &= (self.index["fold"] == fold).to_numpy()
        if ticker is not None:
            keep &= (self.index[TICKER] == ticker).to_numpy()
        return WindowSet(
            self.panel, self.dates, self.index[keep].reset_index(drop=True), self.scalers, self.lookback, self.horizon
        )

    def _gather(self, offset: int, length: int) -> np.ndarray:
        starts = self.index["start"].to_numpy(dtype=np.int64) + offset
        return self.panel[starts[:, None] + np.arange(length)[None, :]]  # (n, length, 6)

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        s = self.scalers.iloc[self.index["scaler_id"].to_numpy()]
        mean, std = s["price_mean"].to_numpy()[:, None, None], s["price_std"].to_numpy()[:, None, None]
        vmin, vspan = s["volume_min"].to_numpy()[:, None], s["volume_span"].to_numpy()[:, None]
        out = (raw - mean) / std
        out[:, :, VOLUME_COLUMN] = (raw[:, :, VOLUME_COLUMN] - vmin) / vspan
        return out

    def inputs(self) -> np.ndarray:
        """Scaled inputs, shape (n_windows, lookback, 6) in VALUE_COLUMNS order."""
        return self._scale(self._gather(0, self.lookback))

    def targets(self) -> np.ndarray:
        """Scaled Adj Close of the next `horizon` rows, shape (n_windows, horizon)."""
        return self._scale(self._gather(self.lookback, self.horizon))[:, :, TARGET_COLUMN]

    def target_dates(self) -> np.ndarray:
        starts = self.index["start"].to_numpy(dtype=np.int64) + self.lookback
        return self.dates[starts[:, None] + np.arange(self.horizon)[None, :]]

    def ticker_first_rows(self) -> np.ndarray:
        """Per window, the panel row where its ticker's data begins (causal history stops there)."""
        return self.scalers["first_row"].to_numpy(np.int64)[self.index["scaler_id"].to_numpy()]

    def price_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-window (mean, std) that map scaled prices back: price = z * std + mean."""
        s = self.scalers.iloc[self.index["scaler_id"].to_numpy()]
        return s["price_mean"].to_numpy(), s["price_std"].to_numpy()

    def save(self, folder: Path) -> None:
        np.save(folder / "panel.npy", self.panel)
        np.save(folder / "dates.npy", self.dates.astype("datetime64[s]").astype(np.int64))
        write_parquet(folder / "windows.parquet", self.index)
        write_parquet(folder / "scalers.parquet", self.scalers)
        write_json(folder / "windows_meta.json", {"lookback": self.lookback, "horizon": self.horizon})

    @classmethod
    def load(cls, folder: Path) -> WindowSet:
        import json

        meta = json.loads((folder / "windows_meta.json").read_text())
        return cls(
            panel=np.load(folder / "panel.npy", mmap_mode="r"),
            dates=np.load(folder / "dates.npy").astype("datetime64[s]"),
            index=pd.read_parquet(folder / "windows.parquet"),
            scalers=pd.read_parquet(folder / "scalers.parquet"),
            lookback=int(meta["lookback"]),
            horizon=int(meta["horizon"]),
        )


def fit_scalers(prices: pd.DataFrame, offsets: dict[str, int], blocks: pd.DataFrame) -> pd.DataFrame:
    """Scaler per (fold, ticker) from that block's training rows only."""
    target = prices[TARGET].to_numpy()
    volume = prices[VOLUME].to_numpy()
    rows = []
    for b in blocks.itertuples(index=False):
        lo, hi = offsets[b.ticker] + b.train_lo, offsets[b.ticker] + b.train_hi
        if hi <= lo:
            rows.append((b.fold, b.ticker, np.nan, np.nan, np.nan, np.nan, 0, offsets[b.ticker]))
            continue
        train_target, train_volume = target[lo:hi], volume[lo:hi]
        vmin, vmax = float(train_volume.min()), float(train_volume.max())
        # A constant training volume has no range; a span of 1 keeps the transform defined and invertible.
        span = vmax - vmin if vmax > vmin else 1.0
        rows.append(
            (
                b.fold,
                b.ticker,
                float(train_target.mean()),
                float(train_target.std(ddof=0)),
                vmin,
                span,
                hi - lo,
                offsets[b.ticker],
            )
        )
    columns = ["fold", TICKER, "price_mean", "price_std", "volume_min", "volume_span", "train_rows", "first_row"]
    return pd.DataFrame(rows, columns=columns)


def build_windows(
    prices: pd.DataFrame, blocks: pd.DataFrame, lookback: int, horizon: int
) -> tuple[WindowSet, pd.DataFrame]:
    """Enumerate windows of every (fold, ticker, split); return them and the exclusions table."""
    tickers = prices[TICKER].to_numpy()
    boundaries = np.flatnonzero(np.r_[True, tickers[1:] != tickers[:-1]])
    offsets = {str(tickers[i]): int(i) for i in boundaries}
    scalers = fit_scalers(prices, offsets, blocks)
    pieces, exclusions = [], []
    for scaler_id, b in enumerate(blocks.itertuples(index=False)):
        ranges = {
            "train": (b.train_lo + lookback, b.train_hi),
            "val": (b.val_lo, b.val_hi),
            "test": (b.test_lo, b.test_hi),
        }
        first = {s: max(lo - lookback, 0) for s, (lo, _) in ranges.items()}  # never before the ticker's first row
        counts = {s: hi - horizon - lookback - first[s] + 1 for s, (_, hi) in ranges.items()}
        reason = _exclusion_reason(b, counts, scalers.iloc[scaler_id])
        if reason:
            exclusions.append((b.fold, b.ticker, b.n_rows, reason))
            continue
        for split, (_, hi) in ranges.items():
            starts = np.arange(first[split], hi - horizon - lookback + 1, dtype=np.int64) + offsets[b.ticker]
            pieces.append((b.fold, b.ticker, split, starts, scaler_id))
    index = _index_frame(pieces, prices[DATE].to_numpy(), lookback)
    excluded = pd.DataFrame(exclusions, columns=["fold", TICKER, "n_rows", "reason"])
    for row in excluded.itertuples(index=False):
        LOG.warning("excluded %s (fold %d): %s", row.ticker, row.fold, row.reason)
    panel = np.ascontiguousarray(prices[list(VALUE_COLUMNS)].to_numpy(dtype=np.float64))
    dates = prices[DATE].to_numpy().astype("datetime64[s]")
    return WindowSet(panel, dates, index, scalers, lookback, horizon), excluded


def _exclusion_reason(block, counts: dict[str, int], scaler: pd.Series) -> str | None:
    if min(counts.values()) < 1:
        detail = ", ".join(f"{max(c, 0)} {s}" for s, c in counts.items())
        return f"too short: {block.n_rows} rows give {detail} windows (each split needs at least one)"
    if not scaler["price_std"] > 0:
        return "flat training prices: Adj Close has zero variance on the training rows, z-score undefined"
    return None


def _index_frame(pieces: list, dates: np.ndarray, lookback: int) -> pd.DataFrame:
    if not pieces:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in [
                    ("fold", "int16"),
                    (TICKER, "str"),
                    ("split", "str"),
                    ("start", "int64"),
                    ("scaler_id", "int32"),
                    ("end_date", "datetime64[s]"),
                ]
            }
        )
    sizes = np.array([len(p[3]) for p in pieces])
    starts = np.concatenate([p[3] for p in pieces])
    tickers = sorted({p[1] for p in pieces})
    ticker_code = {t: i for i, t in enumerate(tickers)}
    # Categoricals straight from integer codes: millions of windows never become Python strings.
    frame = pd.DataFrame(
        {
            "fold": np.repeat([p[0] for p in pieces], sizes).astype(np.int16),
            TICKER: pd.Categorical.from_codes(
                np.repeat([ticker_code[p[1]] for p in pieces], sizes).astype(np.int32), tickers
            ),
            "split": pd.Categorical.from_codes(
                np.repeat([SPLITS.index(p[2]) for p in pieces], sizes).astype(np.int8), list(SPLITS)
            ),
            "start": starts,
            "scaler_id": np.repeat([p[4] for p in pieces], sizes).astype(np.int32),
            "end_date": dates[starts + lookback - 1].astype("datetime64[s]"),
        }
    )
    return frame
