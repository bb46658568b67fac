"""Screenshots of the Prefect UI for the README: a local server (tools/local_server.py), every deployment, one
dispatched smoke pipeline, then headless Chromium on the pages an operator uses.

    nice -n 19 .venv/bin/python tools/ui_screenshots.py                 # writes docs/ui/*.png, stops everything
    nice -n 19 .venv/bin/python tools/ui_screenshots.py --port 4200     # reuse a running server and its last
                                                                        # finished dispatched vta-pipeline run

Pages (found through the API; the UI is a single-page app, so Chromium gets a virtual time budget):
  deployment-run-form.png   /deployments/deployment/<vta-pipeline id>/run   (Run > Custom run: the parameter form)
  flow-run-graph.png        /runs/flow-run/<parent run id>                  (the dispatched stage runs as a graph)
  flow-run-fusion.png       /runs/flow-run/<its vta-fusion run id>          (a stage run on the vta-cuda pool)
  error-table-artifact.png  /artifacts/artifact/<vta-error-table id>        (the error table, Markdown artifact)
  work-pools.png            /work-pools                                     (vta-cpu and vta-cuda)
  flow-run-retried.png      /runs/flow-run/<a retried run id>               (backtest failed once, then Retry)

For the last one the workers get VTAFAULT_ONCE=backtest (tasks/faults.py): a second run, with a changed backtest
setting so that only the backtest executes, fails there once; `prefect flow-run retry <id>` completes it.

Needs `chromium` on PATH (Debian: apt-get install -y chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks.faults import FILE_VARIABLE, STAGE_VARIABLE  # noqa: E402
from tools.local_server import LocalServer, local_server, terminate  # noqa: E402

PIPELINE = "vta-pipeline/vta-pipeline"
OVERRIDES = ["reasoner.enabled=false", "tsmixer.enabled=false", "dlinear.enabled=false", "backtest.protocols=[run]"]
FAULT_STAGE = "backtest"
MAX_BYTES = 300_000
SIDEBAR_PX = 270  # the UI's navigation column at --window-size=1400,900


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("chromium not found: apt-get update && apt-get install -y chromium")


def _without_renice() -> list[str]:
    """As root, Chromium raises the priority of its own processes (nice 0 and -8 under a `nice -n 19` caller);
    without CAP_SYS_NICE they keep the caller's niceness."""
    if os.geteuid() == 0 and (setpriv := shutil.which("setpriv")):
        return [setpriv, "--inh-caps=-sys_nice", "--bounding-set=-sys_nice"]
    return []


def _looks_blank(png: Path) -> bool:
    """Not rendered yet: one flat colour (the SPA loading), or a main area without any bright text (its fade-in
    still running; a rendered page has white headings right of the sidebar)."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        colours = grey.getcolors(maxcolors=1 << 16) or []
        main = grey.crop((SIDEBAR_PX, 0, grey.width, grey.height)).histogram()
    total = sum(count for count, _ in colours)
    flat = len(colours) < 8 or max(count for count, _ in colours) > 0.97 * total
    return flat or sum(main[200:]) < 0.0005 * sum(main)


def _shrink(png: Path) -> None:
    """Keep a screenshot under MAX_BYTES: a 256-colour palette loses nothing visible on the UI's flat colours."""
    if png.stat().st_size <= MAX_BYTES:
        return
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(png, optimize=True)


def screenshot(url: str, out: Path, profile: Path, budget_ms: int = 15000, tries: int = 3) -> Path:
    """Headless Chromium; a blank render (the SPA still loading) is retried with twice the virtual time."""
    for _ in range(tries):
        args = [
            *_without_renice(),
            chromium(),
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={profile}",
            "--window-size=1400,900",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={out}",
            url,
        ]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            pass
        finally:
            terminate([process], grace=5)
        if out.is_file() and not _looks_blank(out):
            _shrink(out)
            print(f"{out} ({out.stat().st_size // 1024} KB) <- {url}", flush=True)
            return out
        print(f"{url}: not rendered after {budget_ms} ms of virtual time, trying again", flush=True)
        budget_ms *= 2
    raise RuntimeError(f"no rendered page at {url} after {tries} tries (last budget {budget_ms // 2} ms)")


def dispatched_run(server: LocalServer, start: bool) -> str:
    """The parent run to show: a new dispatched smoke run, or the last completed dispatched one."""
    if start:
        run_id = server.run_deployment(PIPELINE, {"preset": "smoke", "dispatch": True, "overrides": OVERRIDES})
        _expect(server, server.wait(run_id, timeout=1800), "COMPLETED")
        return run_id
    runs = _completed_dispatched_runs(server)
    if not runs:
        raise SystemExit("no completed dispatched vta-pipeline run on that server: run without --port")
    return str(runs[-1]["id"])


def _expect(server: LocalServer, run: dict, state_type: str) -> None:
    if run["state_type"] != state_type:
        raise RuntimeError(f"run {run['id']} ended {run['state_name']}\n{server.log_tail('worker-vta-cpu')}")


def _completed_dispatched_runs(server: LocalServer) -> list[dict]:
    pipeline = server.deployment(PIPELINE)["id"]
    runs = server.flow_runs(deployment_id={"any_": [pipeline]}, state={"type": {"any_": ["COMPLETED"]}})
    return [r for r in runs if r["parameters"].get("dispatch")]


def retried_run(server: LocalServer, armed: Path | None) -> str | None:
    """A dispatched run that failed once in the backtest and was retried (`prefect flow-run retry`); with
    armed=None (a reused server) the last such run there, if any."""
    if armed is None:
        retried = [r for r in _completed_dispatched_runs(server) if r["run_count"] > 1]
        return str(retried[-1]["id"]) if retried else None
    armed.touch()
    overrides = [*OVERRIDES, "backtest.portfolio.gamma=5"]  # a new backtest only: every other stage is cached
    run_id = server.run_deployment(PIPELINE, {"preset": "smoke", "dispatch": True, "overrides": overrides})
    _expect(server, server.wait(run_id, timeout=1800), "FAILED")
    server.retry(run_id)
    _expect(server, server.wait(run_id, timeout=1800), "COMPLETED")
    return run_id


def take_all(server: LocalServer, run_id: str, retried: str | None, out: Path, budget_ms: int) -> list[Path]:
    names = server.deployment_names()
    children = server.flow_runs(parent_flow_run_id={"any_": [run_id]})
    fusion = next(r["id"] for r in children if names.get(r["deployment_id"]) == "vta-fusion/vta-fusion")
    body = {"artifacts": {"key": {"any_": ["vta-error-table"]}}, "sort": "CREATED_DESC", "limit": 1}
    artifact = server.http.post("/artifacts/filter", json=body).json()[0]["id"]
    pipeline = server.deployment(PIPELINE)["id"]
    pages = {
        "deployment-run-form.png": f"/deployments/deployment/{pipeline}/run",
        "flow-run-graph.png": f"/runs/flow-run/{run_id}",
        "flow-run-fusion.png": f"/runs/flow-run/{fusion}",
        "error-table-artifact.png": f"/artifacts/artifact/{artifact}",
        "work-pools.png": "/work-pools",
    }
    if retried:
        pages["flow-run-retried.png"] = f"/runs/flow-run/{retried}"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vta-chromium-") as profile:
        return [screenshot(server.url + page, out / name, Path(profile), budget_ms) for name, page in pages.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    parser.add_argument("--port", type=int, default=None, help="reuse the server running on 127.0.0.1:PORT")
    parser.add_argument("--budget", type=int, default=15000, help="Chromium virtual time budget (ms)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill <pid>` still stops the server and workers
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vta-ui-") as tmp:
        work = Path(tmp)
        if args.port:
            server = LocalServer(work, port=args.port)
            take_all(server, dispatched_run(server, start=False), retried_run(server, None), args.out, args.budget)
        else:
            armed = work / "fault-armed"
            env = {"VTA_RUNTIME__HOME": str(work / "runs"), STAGE_VARIABLE: FAULT_STAGE, FILE_VARIABLE: str(armed)}
            with local_server(work, worker_env=env) as server:
                server.deploy()
                run_id = dispatched_run(server, start=True)
                print(f"dispatched run {run_id} done after {time.monotonic() - started:.0f} s", flush=True)
                retried = retried_run(server, armed)
                print(f"failed and retried run {retried} done after {time.monotonic() - started:.0f} s", flush=True)
                take_all(server, run_id, retried, args.out, args.budget)
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
