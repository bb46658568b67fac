"""Warm re-run of the main job: where the time goes when every stage is cached.

Run after `make run` (so that every stage of the preset is in the artifact store):

    .venv/bin/python benchmarks/bench_warm_rerun.py [--preset cpu] [--repeat 2]

Each row is a fresh process, timed from outside: the import of the flows alone, `vta run` with the cached
fast path (a cache-only pass, no Prefect server), and `vta run` through Prefect with every task a cache hit
(`runtime.cached_fast_path=false`: temporary server, one flow run per stage flow). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VTA = str(Path(sys.executable).with_name("vta"))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "DO_NOT_TRACK": "1"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    cases = {
        "import flows.pipeline (python -c)": [sys.executable, "-c", "import flows.pipeline"],
        "vta run, cached fast path (default)": [VTA, "run", "--preset", args.preset],
        "vta run through Prefect, all cache hits": [
            VTA,
            "run",
            "--preset",
            args.preset,
            "--set",
            "runtime.cached_fast_path=false",
        ],
    }
    print(f"| what ({args.preset} preset, every stage cached) | seconds (median of {args.repeat}) | runs |")
    print("|---|---:|---|")
    for label, command in cases.items():
        runs = [timed(command) for _ in range(args.repeat)]
        print(f"| {label} | {statistics.median(runs):.1f} | {', '.join(f'{r:.1f}' for r in runs)} |")


if __name__ == "__main__":
    main()
