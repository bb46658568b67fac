"""Significance: block-bootstrap Sharpe intervals (paired with a benchmark) and the Diebold-Mariano test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vta_core.portfolio.metrics import PERIODS


def block_indices(n: int, block_length: int, samples: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(samples, n) resampled day indices.

    circular: blocks of exactly `block_length` consecutive days starting at uniform positions, wrapping
    past the end. stationary (Politis-Romano 1994): each day starts a new block with probability
    1 / block_length (geometric lengths, mean block_length), otherwise continues the previous day + 1.
    """
    if n == 0:
        return np.zeros((samples, 0), dtype=np.int64)
    if kind == "circular":
        blocks = -(-n // block_length)
        starts = rng.integers(0, n, size=(samples, blocks))
        idx = (starts[:, :, None] + np.arange(block_length)[None, None, :]).reshape(samples, -1)[:, :n]
        return idx % n
    if kind != "stationary":
        raise ValueError(f"unknown bootstrap kind {kind!r} (stationary or circular)")
    new_block = rng.random((samples, n)) < 1.0 / block_length
    new_block[:, 0] = True
    fresh = rng.integers(0, n, size=(samples, n))
    # Position within the current block: days since the last block start, by a running maximum of start indices.
    positions = np.arange(n)[None, :]
    last_start = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    origin = np.take_along_axis(fresh, last_start, axis=1)
    return (origin + positions - last_start) % n


def _sharpe_rows(r: np.ndarray, risk_free: float) -> np.ndarray:
    excess = r - risk_free / PERIODS
    sd = excess.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 0, excess.mean(axis=-1) / sd * np.sqrt(PERIODS), np.nan)


@dataclass(frozen=True)
class SharpeInterval:
    sharpe: float
    low: float
    high: float
    diff: float  # Sharpe minus the benchmark's, on the same days (NaN without a benchmark)
    diff_low: float
    diff_high: float


def sharpe_interval(
    r: np.ndarray,
    benchmark: np.ndarray | None,
    *,
    block_length: int,
    samples: int,
    level: float,
    kind: str,
    seed: int,
    risk_free: float = 0.0,
) -> SharpeInterval:
    """Percentile block-bootstrap interval of the Sharpe ratio and of its difference to a benchmark.

    The difference is paired: both series are resampled with the same day indices, so their
    correlation is kept (r and benchmark must be aligned on the same days).
    """
    r = np.asarray(r, dtype=float)
    idx = block_indices(len(r), block_length, samples, kind, np.random.default_rng(seed))
    draws = _sharpe_rows(r[idx], risk_free)
    tail = (1.0 - level) / 2 * 100
    point = float(_sharpe_rows(r, risk_free))
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    if benchmark is None:
        return SharpeInterval(point, float(low), float(high), np.nan, np.nan, np.nan)
    b = np.asarray(benchmark, dtype=float)
    if b.shape != r.shape:
        raise ValueError(f"benchmark returns {b.shape} are not aligned with the strategy's {r.shape}")
    diffs = draws - _sharpe_rows(b[idx], risk_free)
    d_low, d_high = np.nanpercentile(diffs, [tail, 100 - tail])
    return SharpeInterval(
        point, float(low), float(high), point - float(_sharpe_rows(b, risk_free)), float(d_low), float(d_high)
    )


@dataclass(frozen=True)
class DMResult:
    statistic: float  # HLN-corrected DM statistic; negative = the first forecast has the smaller loss
    p_value: float  # two-sided, Student t with T - 1 degrees of freedom
    n: int


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, horizon: int = 1, power: int = 2) -> DMResult:
    """Diebold-Mariano (1995) test of equal accuracy with the Harvey-Leybourne-Newbold (1997) correction.

    d_t = |e_a,t|^power - |e_b,t|^power; V = (g_0 + 2 sum_{k=1}^{h-1} g_k) / T with g_k the sample
    autocovariance (divisor T) of d; DM = mean(d) / sqrt(V); DM* = DM * sqrt((T + 1 - 2h + h(h-1)/T) / T);
    p = 2 P(t_{T-1} > |DM*|). A non-positive V (possible with the truncated HAC sum) falls back to g_0.
    """
    a, b = np.asarray(errors_a, dtype=float), np.asarray(errors_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"error series must be 1-d and aligned, got {a.shape} and {b.shape}")
    d = np.abs(a) ** power - np.abs(b) ** power
    t = len(d)
    if t < 3:
        return DMResult(float("nan"), float("nan"), t)
    centred = d - d.mean()
    gammas = [float(centred[k:] @ centred[: t - k]) / t for k in range(min(horizon, t))]
    variance = (gammas[0] + 2.0 * sum(gammas[1:])) / t
    if variance <= 0:
        variance = gammas[0] / t
    if variance <= 0:
        return DMResult(float("nan"), float("nan"), t)  # identical losses: nothing to test
    dm = d.mean() / np.sqrt(variance)
    corrected = dm * np.sqrt((t + 1 - 2 * horizon + horizon * (horizon - 1) / t) / t)
    return DMResult(float(corrected), float(2 * stats.t.sf(abs(corrected), df=t - 1)), t)


def dm_versus_baseline(
    predictions: pd.DataFrame, model: str, seed: int | None = None, baseline: str = "persistence", split: str = "test"
) -> DMResult:
    """DM test of one model's forecast errors against the baseline's on the same windows.

    The loss series is one value per decision date (window_end_date): the squared error averaged over
    tickers and horizon steps present for both models; horizon = the largest step, because windows
    ending h-1 days apart share targets and their loss differentials are autocorrelated up to lag h-1.
    Errors are in the standardised space, as in the error table. seed None = the model's first seed.
    """
    chosen = predictions[predictions["split"].astype(str) == split]
    ours = chosen[chosen["model"].astype(str) == model]
    if seed is not None:
        ours = ours[ours["seed"] == seed]
    elif len(ours):
        ours = ours[ours["seed"] == ours["seed"].min()]
    base = chosen[chosen["model"].astype(str) == baseline]
    if len(base):
        base = base[base["seed"] == base["seed"].min()]
    keys = ["fold", "ticker", "window_end_date", "step"]
    both = ours.astype({"ticker": str}).merge(base.astype({"ticker": str}), on=keys, suffixes=("", "_base"))
    if both.empty:
        raise ValueError(f"no common windows between {model!r} and {baseline!r} in split {split!r}")
    both["loss"] = (both["y_hat"] - both["y_true"]) ** 2
    both["loss_base"] = (both["y_hat_base"] - both["y_true"]) ** 2
    per_day = both.groupby("window_end_date")[["loss", "loss_base"]].mean().sort_index()
    # DM on losses directly: power=1 of |loss| equals the loss (losses are >= 0).
    return diebold_mariano(
        per_day["loss"].to_numpy(), per_day["loss_base"].to_numpy(), horizon=int(both["step"].max()), power=1
    )
