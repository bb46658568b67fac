"""A throwaway local Prefect server with the project's work pools, one process worker per pool and the
deployments of `deployments/prefect.yaml`: for end-to-end tests and the UI screenshots.

    from tools.local_server import local_server

    with local_server(tmp_dir, worker_env={"VTA_RUNTIME__HOME": str(tmp_dir / "runs")}) as server:
        server.deploy()
        run_id = server.run_deployment("vta-pipeline/vta-pipeline", {"preset": "smoke", "dispatch": True})
        run = server.wait(run_id)                 # the flow run as the API returns it (dict)
        print(server.url, run["state_type"])

Everything lives under the given folder: PREFECT_HOME (the SQLite database), the local result storage that
the workers' flow runs share (the parent reads its dispatched children's results there), and the logs of
every process. Each process is started in its own session; `stop()` (called on leaving the context, also
on errors) ends the workers before the server, each with its descendants (the flow-run processes the
workers started), by PID: SIGTERM, then SIGKILL after a grace period. The server's scheduler is off by
default, so the nightly deployment's schedule never starts a `cpu` run on these workers.

Run the caller under `nice -n 19` on a shared machine: the server, workers and flow runs inherit it.
Command line (manual use, stays up until Ctrl-C):

    nice -n 19 .venv/bin/python tools/local_server.py --deploy [--port 4200] [--dir /tmp/vta-server] \
        [--worker-env VTAFAULT_ONCE=backtest --worker-env VTAFAULT_FILE=/tmp/vta-fault]

It prints the UI URL and the PIDs; the workers' artifacts go to <dir>/runs (VTA_RUNTIME__HOME).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
POOLS = {"vta-cpu": "process", "vta-cuda": "process"}
PREFECT_FILE = "deployments/prefect.yaml"
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


class LocalServerError(RuntimeError):
    """The server or a worker did not come up, or a CLI call failed (the message has the log tail)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prefect_cli() -> str:
    """The `prefect` executable beside this interpreter (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "prefect"
    return str(beside) if beside.exists() else "prefect"


def _clean_environ() -> dict[str, str]:
    """The caller's environment without Prefect settings (profile, home, API URL) and without `VTA_*`
    configuration overrides, so that nothing of the caller's own setup leaks into the server or the runs."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VTA_", "VTAFAULT_"))}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children first found, then theirs), read from /proc."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def terminate(processes: list[subprocess.Popen], grace: float = 20.0) -> None:
    """End processes started here and every descendant they have now, by PID: SIGTERM to all at once, SIGKILL
    to whatever is left after `grace` seconds."""
    pids = [pid for p in processes for pid in (p.pid, *descendants(p.pid))]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        for process in processes:
            process.poll()  # reap our direct children, so that they do not linger as zombies
        time.sleep(0.5)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


class LocalServer:
    """One local Prefect server and its workers, all under `workdir`; see the module docstring."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        scheduler: bool = False,
        worker_query_seconds: int = 3,
        scheduler_loop_seconds: float = 60,
    ):
        self.workdir = Path(workdir).resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api"
        self.logs = self.workdir / "logs"
        self.storage = self.workdir / "prefect-storage"
        self.worker_query_seconds = worker_query_seconds
        self.processes: dict[str, subprocess.Popen] = {}
        for folder in (self.logs, self.storage, self.workdir / "prefect-home"):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **_clean_environ(),
            "PREFECT_HOME": str(self.workdir / "prefect-home"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_LOCAL_STORAGE_PATH": str(self.storage),  # flow results: the parent reads its children's here
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "true" if scheduler else "false",
            # How often the scheduler turns schedules into runs (Prefect's default: 60 s; tests use a few seconds).
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": str(scheduler_loop_seconds),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
            "DO_NOT_TRACK": "1",
        }
        self.http = httpx.Client(base_url=self.api_url, timeout=60)

    # ------------------------------------------------------------------ processes

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        try:
            process = subprocess.Popen(
                args, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()
        self.processes[name] = process
        return process

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return f"--- last lines of {path} ---\n" + "\n".join(text[-lines:])

    def _fail(self, message: str, *logs: str) -> LocalServerError:
        return LocalServerError("\n".join([message, *(self.log_tail(n) for n in logs)]))

    def start_server(self, timeout: float = 180) -> None:
        """`prefect server start --host 127.0.0.1 --port <port>` and wait until /api/health answers."""
        process = self._spawn(
            "server", [prefect_cli(), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)], self.env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise self._fail(f"prefect server exited with {process.returncode}", "server")
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/health", timeout=5).status_code == 200:
                    return
            time.sleep(1)
        raise self._fail(f"prefect server not healthy after {timeout:.0f} s", "server")

    def prefect(self, *args: str, timeout: float = 600, env: Mapping[str, str] | None = None) -> str:
        """Run a `prefect` CLI command against this server from the repository root; its output, or an error."""
        done = subprocess.run(
            [prefect_cli(), *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise LocalServerError(f"prefect {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def create_pools(self, pools: Mapping[str, str] = POOLS) -> None:
        for name, kind in pools.items():
            self.prefect("work-pool", "create", name, "--type", kind, "--overwrite", timeout=180)

    def start_worker(self, pool: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> None:
        """One process worker on `pool`, run from the repository root with VTAROOT set (the deployments' pull
        step changes into it); waits until the server lists it online."""
        worker_env = {
            **self.env,
            "VTAROOT": str(ROOT),
            "PREFECT_WORKER_QUERY_SECONDS": str(self.worker_query_seconds),
            **(env or {}),
        }
        name = f"worker-{pool}"
        process = self._spawn(
            name, [prefect_cli(), "worker", "start", "--pool", pool, "--type", "process", "--name", name], worker_env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise self._fail(f"worker on {pool} exited with {process.returncode}", name)
            workers = self.http.post(f"/work_pools/{pool}/workers/filter", json={}).json()
            if any(w["name"] == name and w.get("status") == "ONLINE" for w in workers):
                return
            time.sleep(2)
        raise self._fail(f"worker on {pool} not online after {timeout:.0f} s", name)

    def stop(self) -> None:
        """Workers first (and the flow runs they started), then the server."""
        workers = [p for name, p in self.processes.items() if name != "server"]
        terminate(workers)
        if "server" in self.processes:
            terminate([self.processes["server"]])
        self.processes.clear()
        self.http.close()

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}

    # ------------------------------------------------------------------ deployments and runs

    def deploy(self, *names: str, timeout: float = 600) -> str:
        """`prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml` from the repository root;
        only the named deployments (`--name vta-data ...`) when names are given."""
        which = [arg for name in names for arg in ("--name", name)] or ["--all"]
        return self.prefect("--no-prompt", "deploy", *which, "--prefect-file", PREFECT_FILE, timeout=timeout)

    def deployment(self, name: str) -> dict[str, Any]:
        flow, deployment = name.split("/")
        response = self.http.get(f"/deployments/name/{flow}/{deployment}")
        response.raise_for_status()
        return response.json()

    def run_deployment(self, name: str, parameters: Mapping[str, Any] | None = None) -> str:
        """Start a flow run of a deployment ("flow/deployment"; parameters merge with its defaults); its id."""
        url = f"/deployments/{self.deployment(name)['id']}/create_flow_run"
        response = self._send("POST", url, json={"parameters": dict(parameters or {})})
        return str(response.json()["id"])

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request that waits out a busy server: a SQLite-backed server answers 503 for a moment (seen on
        create_flow_run after a previous test's runs and on deleting a schedule while the scheduler works)."""
        for attempt in range(5):
            response = self.http.request(method, url, **kwargs)
            if response.status_code != 503:
                break
            time.sleep(2.0 * (attempt + 1))
        response.raise_for_status()
        return response

    def add_interval_schedule(
        self, name: str, seconds: float, anchor: datetime, parameters: Mapping[str, Any] | None = None
    ) -> str:
        """What the UI's "+ Schedule" does: an active interval schedule on a deployment ("flow/deployment"), first
        run at `anchor` (timezone-aware), with its own parameter overrides; its id."""
        body = [
            {
                "schedule": {"interval": seconds, "anchor_date": anchor.isoformat(), "timezone": "UTC"},
                "active": True,
                "parameters": dict(parameters or {}),
            }
        ]
        response = self._send("POST", f"/deployments/{self.deployment(name)['id']}/schedules", json=body)
        return str(response.json()[0]["id"])

    def delete_schedule(self, name: str, schedule_id: str) -> None:
        """Remove a deployment's schedule; the server also deletes the runs it had scheduled and not yet started."""
        self._send("DELETE", f"/deployments/{self.deployment(name)['id']}/schedules/{schedule_id}")

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = self.http.get(f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def wait(self, flow_run_id: str, timeout: float = 1800, poll: float = 3) -> dict[str, Any]:
        """Poll a flow run until it is in a final state; the flow run as the API returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.flow_run(flow_run_id)
            if run["state_type"] in FINAL_STATES:
                return run
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise self._fail(f"{name} exited with {process.returncode} while waiting", name)
            time.sleep(poll)
        raise self._fail(f"flow run {flow_run_id} not finished after {timeout:.0f} s", *self.processes)

    def flow_runs(self, **filters: Any) -> list[dict[str, Any]]:
        """POST /flow_runs/filter with `flow_runs` criteria, e.g. parent_flow_run_id={"any_": [id]}."""
        response = self.http.post("/flow_runs/filter", json={"flow_runs": filters, "sort": "START_TIME_ASC"})
        response.raise_for_status()
        return response.json()

    def task_runs(self, flow_run_ids: list[str]) -> list[dict[str, Any]]:
        body = {"flow_runs": {"id": {"any_": flow_run_ids}}, "limit": 200}
        response = self.http.post("/task_runs/filter", json=body)
        response.raise_for_status()
        return response.json()

    def deployment_names(self) -> dict[str, str]:
        """Deployment id -> "flow/deployment"."""
        flows = {f["id"]: f["name"] for f in self.http.post("/flows/filter", json={}).json()}
        return {
            d["id"]: f"{flows[d['flow_id']]}/{d['name']}" for d in self.http.post("/deployments/filter", json={}).json()
        }

    def artifacts(self, **filters: Any) -> list[dict[str, Any]]:
        response = self.http.post("/artifacts/filter", json={"artifacts": filters})
        response.raise_for_status()
        return response.json()

    def retry(self, flow_run_id: str) -> str:
        """`prefect flow-run retry <id>`: what the UI's Retry button does for a deployment's run."""
        return self.prefect("flow-run", "retry", flow_run_id, timeout=180)


@contextlib.contextmanager
def local_server(
    workdir: Path,
    pools: Mapping[str, str] = POOLS,
    worker_env: Mapping[str, str] | None = None,
    port: int | None = None,
    health_timeout: float = 180,
    scheduler: bool = False,
    scheduler_loop_seconds: float = 60,
) -> Iterator[LocalServer]:
    """Server, pools and one worker per pool (worker_env added to each worker's environment); everything
    stopped on exit, also when starting fails half-way."""
    server = LocalServer(workdir, port=port, scheduler=scheduler, scheduler_loop_seconds=scheduler_loop_seconds)
    try:
        server.start_server(timeout=health_timeout)
        server.create_pools(pools)
        for pool in pools:
            server.start_worker(pool, env=worker_env)
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="working folder (default: a new temporary one)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--deploy", action="store_true", help="also deploy deployments/prefect.yaml")
    parser.add_argument(
        "--worker-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="add to the workers' environment, e.g. VTAFAULT_ONCE=backtest (repeatable)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill <pid>` still stops the server and workers
    workdir = (args.dir or Path(tempfile.mkdtemp(prefix="vta-server-"))).resolve()
    runs = workdir / "runs"
    extra = dict(item.split("=", 1) for item in args.worker_env)
    env = {"VTA_RUNTIME__HOME": str(runs), **extra}
    with local_server(workdir, worker_env=env, port=args.port) as server:
        if args.deploy:
            server.deploy()
        print(json.dumps({"ui": server.url, "api": server.api_url, "runs": str(runs), "pids": server.pids()}))
        print(f"export PREFECT_API_URL={server.api_url}  # Ctrl-C stops everything", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
