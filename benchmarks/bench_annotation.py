"""Benchmark the annotation kernels (13 indicators + statistics) against a per-window TA-Lib loop.

    .venv/bin/python benchmarks/bench_annotation.py

Datasets: every StockNet window (T = 10, window mode, all splits) and a synthetic set of 1,000,000
windows. Each kernel measurement runs in a fresh child process: 'cold' with an empty numba cache
(includes JIT compilation), 'cached' with the on-disk cache from the cold run (a new process's first
call), 'warm' the second call in that process. The TA-Lib loop calls talib once per indicator per
window, as the paper's code does; on the 1M set it runs on the first 100,000 windows and is
extrapolated (marked *).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LOG = logging.getLogger("bench_annotation")
SYNTHETIC = 1_000_000
TALIB_SUBSET = 100_000


def stocknet_matrices() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from vta_core.config.sections import CalendarConfig, PaperSplit, WindowConfig
    from vta_core.data.cleansing import cleanse
    from vta_core.data.reading import read_prices, stocknet_path
    from vta_core.data.splits import split_blocks
    from vta_core.data.windows import build_windows

    prices = cleanse(read_prices(stocknet_path()), CalendarConfig()).prices
    dates = {str(t): g["date"].to_numpy() for t, g in prices.groupby("ticker", sort=False)}
    ws, _ = build_windows(prices, split_blocks(dates, PaperSplit(), WindowConfig()), 10, 10)
    inputs = ws.inputs()
    return inputs[:, :, 3], inputs[:, :, 1], inputs[:, :, 2]  # Close, High, Low (scaled)


def synthetic_matrices(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    close = np.cumsum(rng.normal(0, 0.05, size=(n, 10)), axis=1)
    spread = np.abs(rng.normal(0, 0.03, size=(n, 10)))
    return close, close + spread, close - spread


def matrices(name: str):
    return stocknet_matrices() if name == "stocknet" else synthetic_matrices(SYNTHETIC)


def child(name: str) -> None:
    """Time two kernel calls in this process and print JSON."""
    from vta_core.annotation.indicators import IndicatorPeriods, compute_indicators, window_statistics

    close, high, low = matrices(name)
    first = np.zeros(len(close), dtype=np.int64)
    periods = IndicatorPeriods.for_lookback(10)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        compute_indicators(close, high, low, first, periods)
        window_statistics(close)
        times.append(time.perf_counter() - start)
    sys.stdout.write(json.dumps({"windows": len(close), "first": times[0], "second": times[1]}) + "\n")


def talib_loop(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> float:
    import talib

    from vta_core.annotation.indicators import IndicatorPeriods

    p = IndicatorPeriods.for_lookback(10)
    start = time.perf_counter()
    for c, h, lo in zip(close, high, low, strict=False):
        talib.SMA(c, p.sma), talib.EMA(c, p.ema), talib.MOM(c, p.momentum), talib.RSI(c, p.rsi)
        talib.MACD(c, p.macd_fast, p.macd_slow, p.macd_signal), talib.WILLR(h, lo, c, p.willr)
        talib.CCI(h, lo, c, p.cci), talib.ADX(h, lo, c, p.adx), talib.BBANDS(c, p.bbands, 2.0, 2.0, 0)
        talib.STOCH(h, lo, c, p.stoch_fastk, p.stoch_slowk, 0, p.stoch_slowd, 0)
        np.min(c), np.argmin(c), np.max(c), np.argmax(c), np.mean(c), np.median(c)
    return time.perf_counter() - start


def run_child(name: str, cache_dir: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    done = subprocess.run(
        [sys.executable, __file__, "--child", name], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = []
    for name in ("stocknet", "synthetic"):
        with tempfile.TemporaryDirectory() as cache:
            cold = run_child(name, cache)
            cached = run_child(name, cache)
        close, high, low = matrices(name)
        subset = min(len(close), TALIB_SUBSET if name == "synthetic" else len(close))
        loop = talib_loop(close[:subset], high[:subset], low[:subset]) * len(close) / subset
        star = "*" if subset < len(close) else ""
        n = cold["windows"]
        rows.append((name, n, cold["first"], cached["first"], cached["second"], loop, star))
        LOG.info("%s done", name)
    out = [
        "| dataset | windows | cold incl. JIT (s) | new process, cached JIT (s) | warm (s) | warm windows/s | "
        "TA-Lib loop (s) | speed-up warm vs TA-Lib |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, n, cold_s, cached_s, warm_s, loop, star in rows:
        out.append(
            f"| {name} | {n:,} | {cold_s:.2f} | {cached_s:.2f} | {warm_s:.3f} | {n / warm_s:,.0f} | "
            f"{loop:.1f}{star} | {loop / warm_s:,.0f}x |"
        )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
