"""Benchmark the data flow: fingerprint, read, validate, cleanse, calendar check, split, scalers, windows.

It runs the real stage functions (`cleanse_stage`, `windows_stage`) into a temporary ArtifactStore on
(a) the bundled StockNet prices (cpu preset) and (b) a synthetic universe of N tickers x 5 years of
XNYS sessions written once to a Parquet file with the StockNet schema (date32, large_string, doubles).
Each measurement runs in a fresh 'spawn' child process; peak memory is that child's
`ru_maxrss`, next to its RSS just after the imports. Per-step times come from timing wrappers
installed in the child around the stage's own helpers (the project code is not changed); each
step's time excludes the wrapped steps inside it, so the steps add up to the stage time.

    .venv/bin/python benchmarks/bench_data_flow.py [--tickers N] [--repeat N] [--only stocknet|synthetic]
                                                    [--profile] [--seed N]

--tickers N   synthetic universe size (default 5000); --repeat N   fresh children per dataset (the
table shows the steps of the run with the median total and the largest peak RSS of all runs);
--only        one dataset; --profile   also run each child under cProfile and log the top functions.
The parent process imports only the standard library, so it stays small: with vfork + exec the
child's ru_maxrss starts at the parent's peak, and VmHWM is logged as a cross-check.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

LOG = logging.getLogger("bench_data_flow")
SYNTH_START, SYNTH_END = "2012-01-03", "2016-12-30"
# (key, label) in report order; keys are filled by the timing wrappers in the child.
STEPS = (
    ("fingerprint", "source fingerprint (sha256 of file)"),
    ("read", "read file (parquet -> pandas)"),
    ("validate", "validate + parse columns"),
    ("order_check", "per-ticker date-order check"),
    ("cleanse", "cleanse: sort + rule masks + audit"),
    ("calendar", "calendar check (off_calendar)"),
    ("cleanse_write", "write cleanse artifacts"),
    ("cleanse_other", "cleanse stage: key, report, commit"),
    ("load", "load cleaned prices"),
    ("split", "split blocks"),
    ("scalers", "fit scalers"),
    ("windows", "enumerate windows + index + panel"),
    ("windows_write", "write windows artifacts"),
    ("windows_other", "windows stage: key, group dates, report, commit"),
)


# ----------------------------------------------------------------------------------- child side


class _Timer:
    """Exclusive wall time per key: a wrapped call's time minus the wrapped calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list] = []  # [key, time spent in wrapped children]

    def wrap(self, owner: object, attr: str, key: str | None) -> None:
        """Replace owner.attr by a timed version; key None = '<outer stage>_write'."""
        inner = getattr(owner, attr)
        timer = self

        def timed(*args, **kwargs):
            name = key or f"{timer._stack[0][0].split('_')[0]}_write"
            frame = [name, 0.0]
            timer._stack.append(frame)
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                timer._stack.pop()
                timer.seconds[name] = timer.seconds.get(name, 0.0) + spent - frame[1]
                if timer._stack:
                    timer._stack[-1][1] += spent

        setattr(owner, attr, timed)


def _proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _measure(spec: dict) -> dict:
    """Run the data flow once in this (fresh) process and return times, counts and memory."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{spec['name']} child] %(name)s: %(message)s")
    import json
    import types

    import pandas as pd

    from vta_core.artifacts import ArtifactStore
    from vta_core.config import load_config
    from vta_core.data import cleansing, reading, splits, windows
    from vta_core.stages import cleanse_stage as cleanse_module
    from vta_core.stages import windows_stage as windows_module

    cfg = load_config("cpu", overrides=spec["overrides"]).data
    baseline_rss = _proc_status_kib("VmRSS")
    baseline_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    timer = _Timer()
    timer.wrap(cleanse_module, "source_fingerprint", "fingerprint")
    timer.wrap(cleanse_module, "cleanse_stage", "cleanse_other")
    timer.wrap(reading, "_read_any", "read")
    timer.wrap(reading, "read_prices", "validate")
    timer.wrap(cleansing, "_unsorted_tickers", "order_check")
    timer.wrap(cleansing, "cleanse", "cleanse")
    timer.wrap(cleansing, "_off_calendar", "calendar")
    for module in (cleanse_module, windows_module):
        timer.wrap(module, "write_parquet", None)
        timer.wrap(module, "write_json", None)
    timer.wrap(windows_module, "windows_stage", "windows_other")
    timer.wrap(splits, "split_blocks", "split")
    timer.wrap(windows, "fit_scalers", "scalers")
    timer.wrap(windows, "build_windows", "windows")
    timer.wrap(windows.WindowSet, "save", "windows_write")

    # pd.read_parquet in the windows stage is the cleaned-prices load; time it there only.
    class _PandasProxy(types.ModuleType):
        def __getattr__(self, name: str):
            return getattr(pd, name)

    proxy = _PandasProxy("pandas")
    timer.wrap(proxy, "read_parquet", "load")
    windows_module.pd = proxy

    profiler = None
    if spec["profile"]:
        import cProfile

        profiler = cProfile.Profile()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory(prefix="vta-bench-store-") as tmp:
        store = ArtifactStore(Path(tmp))
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        fingerprint = cleanse_module.source_fingerprint(cfg.source)
        cleaned = cleanse_module.cleanse_stage(cfg.source, cfg.calendar, fingerprint, store=store)
        built = windows_module.windows_stage(cfg.window, cfg.split, cleaned, store=store)
        if profiler:
            profiler.disable()
        total = time.perf_counter() - start
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cleanse_report = json.loads(cleaned.file("cleanse_report.json").read_text())
        windows_report = json.loads(built.file("windows_report.json").read_text())
        artifact_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    if profiler:
        import io
        import pstats

        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(spec["profile_top"])
            LOG.info("cProfile of %s by %s:\n%s", spec["name"], order, text.getvalue())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": {**timer.seconds, "total": total},
        "cpu_seconds": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "rows_read": cleanse_report["rows_read"],
        "rows_kept": cleanse_report["rows_kept"],
        "tickers": cleanse_report["tickers"],
        "windows": sum(windows_report["windows_by_split"].values()),
        "windows_by_split": windows_report["windows_by_split"],
        "artifact_bytes": artifact_bytes,
        "baseline_rss_kib": baseline_rss,
        "baseline_maxrss_kib": baseline_maxrss,
        "peak_maxrss_kib": peak,
        "peak_vmhwm_kib": _proc_status_kib("VmHWM"),
    }


def _generate(path: str, n_tickers: int, seed: int) -> int:
    """Write the synthetic universe (StockNet schema, ticker-major rows); return the row count."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s [generator child] %(name)s: %(message)s")
    import exchange_calendars as xcals
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    days = xcals.get_calendar("XNYS", start=SYNTH_START, end=SYNTH_END).sessions.tz_localize(None)
    days = days.to_numpy().astype("datetime64[D]")
    rng = np.random.default_rng(seed)
    n, t = n_tickers, len(days)
    start_price = np.exp(rng.uniform(np.log(5.0), np.log(500.0), n))[:, None]
    drift = rng.normal(3e-4, 3e-4, n)[:, None]
    vol = rng.uniform(0.01, 0.04, n)[:, None]
    close = start_price * np.exp(np.cumsum(drift - 0.5 * vol**2 + vol * rng.standard_normal((n, t)), axis=1))
    previous = np.concatenate([start_price, close[:, :-1]], axis=1)
    open_ = previous * np.exp(0.3 * vol * rng.standard_normal((n, t)))
    high = np.maximum(open_, close) * np.exp(np.abs(0.5 * vol * rng.standard_normal((n, t))))
    low = np.minimum(open_, close) * np.exp(-np.abs(0.5 * vol * rng.standard_normal((n, t))))
    adj_close = close * rng.uniform(0.6, 1.0, n)[:, None]
    volume = np.round(np.exp(rng.normal(np.log(rng.uniform(1e5, 5e7, n))[:, None], 0.4, (n, t)))) + 1.0
    names = np.array([f"S{i:04d}" for i in range(n)])
    table = pa.table(
        {
            "date": pa.array(np.tile(days, n), type=pa.date32()),
            "ticker": pa.array(np.repeat(names, t), type=pa.large_string()),
            "Open": open_.ravel(),
            "High": high.ravel(),
            "Low": low.ravel(),
            "Close": close.ravel(),
            "Adj Close": adj_close.ravel(),
            "Volume": volume.ravel(),
        }
    )
    pq.write_table(table, path)
    LOG.info("wrote %d rows (%d tickers x %d sessions) to %s", table.num_rows, n, t, path)
    return table.num_rows


# ---------------------------------------------------------------------------------- parent side


def _in_child(ctx, func, *args):
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(func, args)


def _run_dataset(ctx, spec: dict, repeat: int) -> dict:
    results = []
    for i in range(repeat):
        LOG.info("measuring %s (run %d of %d) in a fresh child", spec["name"], i + 1, repeat)
        result = _in_child(ctx, _measure, spec)
        LOG.info(
            "%s run %d: %.2f s, peak RSS %.0f MiB",
            spec["name"],
            i + 1,
            result["seconds"]["total"],
            result["peak_maxrss_kib"] / 1024,
        )
        if abs(result["peak_maxrss_kib"] - result["peak_vmhwm_kib"]) > 0.05 * result["peak_vmhwm_kib"]:
            LOG.warning(
                "ru_maxrss (%d KiB) and VmHWM (%d KiB) disagree", result["peak_maxrss_kib"], result["peak_vmhwm_kib"]
            )
        results.append(result)
    # Times of the run with the median total (so its steps add up); memory: the largest of all runs.
    merged = dict(sorted(results, key=lambda r: r["seconds"]["total"])[(len(results) - 1) // 2])
    merged["totals"] = [r["seconds"]["total"] for r in results]
    for k in ("baseline_rss_kib", "peak_maxrss_kib", "peak_vmhwm_kib"):
        merged[k] = max(r[k] for r in results)
    merged["runs"] = repeat
    merged.update(label=spec["label"], file_bytes=spec["file_bytes"])
    return merged


def _by_split(result: dict) -> str:
    return " / ".join(f"{result['windows_by_split'].get(s, 0):,}" for s in ("train", "val", "test"))


def _table(results: list[dict]) -> str:
    mib = lambda kib: f"{kib / 1024:,.0f}"  # noqa: E731
    rows = [
        ("source file size (MiB)", [f"{r['file_bytes'] / 2**20:,.1f}" for r in results]),
        ("rows read / kept", [f"{r['rows_read']:,} / {r['rows_kept']:,}" for r in results]),
        ("tickers", [f"{r['tickers']:,}" for r in results]),
        ("windows (train / val / test)", [f"{r['windows']:,} ({_by_split(r)})" for r in results]),
    ]
    for key, label in STEPS:
        rows.append((f"{label} (s)", [f"{r['seconds'].get(key, 0.0):.3f}" for r in results]))
    stage = lambda r, prefix: sum(r["seconds"].get(k, 0.0) for k, _ in STEPS if k.split("_")[0] in prefix)  # noqa: E731
    rows += [
        (
            "**cleanse stage** (s)",
            [f"{stage(r, ('read', 'validate', 'order', 'cleanse', 'calendar')):.3f}" for r in results],
        ),
        ("**windows stage** (s)", [f"{stage(r, ('load', 'split', 'scalers', 'windows')):.3f}" for r in results]),
        ("**total wall time** (s)", [f"**{r['seconds']['total']:.2f}**" for r in results]),
        ("CPU time, user + sys (s)", [f"{r['cpu_seconds']:.2f}" for r in results]),
        ("artifacts written (MiB)", [f"{r['artifact_bytes'] / 2**20:,.1f}" for r in results]),
        ("child RSS after imports (MiB)", [mib(r["baseline_rss_kib"]) for r in results]),
        ("**peak RSS, ru_maxrss** (MiB)", [f"**{mib(r['peak_maxrss_kib'])}**" for r in results]),
        ("peak increment over baseline (MiB)", [mib(r["peak_maxrss_kib"] - r["baseline_rss_kib"]) for r in results]),
        ("runs: total wall times (s)", [", ".join(f"{t:.2f}" for t in r["totals"]) for r in results]),
    ]
    lines = ["| step | " + " | ".join(r["label"] for r in results) + " |", "|---" + "|---:" * len(results) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def _options(argv: list[str]) -> dict:
    opts = {"tickers": 5000, "repeat": 1, "only": None, "profile": False, "seed": 0}
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag == "--profile":
            opts["profile"] = True
        elif flag in ("--tickers", "--repeat", "--seed", "--only") and args:
            value = args.pop(0)
            opts[flag[2:]] = value if flag == "--only" else int(value)
        else:
            sys.exit(__doc__ + f"\nunknown or incomplete option {flag!r}")
    if opts["only"] not in (None, "stocknet", "synthetic"):
        sys.exit("--only takes stocknet or synthetic")
    return opts


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    opts = _options(argv)
    ctx = mp.get_context("spawn")
    common = {"profile": opts["profile"], "profile_top": 30}
    results = []
    with tempfile.TemporaryDirectory(prefix="vta-bench-data-") as tmp:
        if opts["only"] in (None, "stocknet"):
            stocknet = Path(__file__).resolve().parents[1] / "vta_core" / "resources" / "stocknet" / "prices.parquet"
            spec = {
                "name": "stocknet",
                "label": "StockNet (cpu preset)",
                "overrides": [],
                "file_bytes": stocknet.stat().st_size,
                **common,
            }
            results.append(_run_dataset(ctx, spec, opts["repeat"]))
        if opts["only"] in (None, "synthetic"):
            path = Path(tmp) / f"synthetic_{opts['tickers']}.parquet"
            LOG.info("generating %d synthetic tickers x %s..%s (not timed)", opts["tickers"], SYNTH_START, SYNTH_END)
            _in_child(ctx, _generate, str(path), opts["tickers"], opts["seed"])
            spec = {
                "name": "synthetic",
                "label": f"synthetic ({opts['tickers']:,} tickers x 5 y)",
                "overrides": ["data.source.kind=file", f"data.source.path={path}"],
                "file_bytes": path.stat().st_size,
                **common,
            }
            results.append(_run_dataset(ctx, spec, opts["repeat"]))
    print(_table(results))


if __name__ == "__main__":
    main(sys.argv[1:])
