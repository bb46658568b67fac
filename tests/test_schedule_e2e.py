"""A schedule, end to end on a real Prefect server: the server's scheduler service turns a short interval
schedule into a flow run, a process worker on vta-cpu picks it up and completes it, and removing the schedule
removes the runs it had scheduled ahead.

Its own server (tools/local_server.py) with the scheduler on and only the `vta-data` deployment deployed: the
nightly and forecast deployments' cron schedules must never start a `cpu` run on these workers, whatever the
hour CI runs at. The schedule is what the UI's "+ Schedule" creates (POST /deployments/{id}/schedules), with
its own parameter override (preset=smoke) on top of the deployment's defaults.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.local_server import FINAL_STATES, LocalServer, local_server  # noqa: E402

pytestmark = [pytest.mark.flow, pytest.mark.e2e]

DEPLOYMENT = "vta-data/vta-data"
INTERVAL = 600  # seconds: one run inside the test; the next would start 10 minutes later (it never does)
LOOP = 2  # seconds between the scheduler's passes (Prefect's default is 60)


def _say(message: str) -> None:
    sys.stderr.write(f"[schedule-e2e] {message}\n")


def _runs(server: LocalServer, deployment_id: str) -> list[dict]:
    return server.flow_runs(deployment_id={"any_": [deployment_id]})


def _first_scheduled_run(server: LocalServer, deployment_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _runs(server, deployment_id)
        if runs:
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"the scheduler created no run in {timeout:.0f} s\n{server.log_tail('server')}")


def test_interval_schedule_creates_a_run_that_a_worker_completes_and_removing_it_stops_the_runs(tmp_path):
    env = {"VTA_RUNTIME__HOME": str(tmp_path / "runs")}
    pools = {"vta-cpu": "process"}
    with local_server(tmp_path, pools=pools, worker_env=env, scheduler=True, scheduler_loop_seconds=LOOP) as server:
        server.deploy("vta-data")
        deployment = server.deployment(DEPLOYMENT)
        assert deployment["schedules"] == [] and _runs(server, deployment["id"]) == [], "a clean start"

        anchor = datetime.now(UTC) + timedelta(seconds=5)
        started = time.monotonic()
        schedule_id = server.add_interval_schedule(DEPLOYMENT, INTERVAL, anchor, parameters={"preset": "smoke"})

        scheduled = _first_scheduled_run(server, deployment["id"])
        _say(f"the scheduler created run {scheduled['id']} after {time.monotonic() - started:.0f} s")
        assert scheduled["auto_scheduled"] is True and "auto-scheduled" in scheduled["tags"]
        assert abs(datetime.fromisoformat(scheduled["expected_start_time"]) - anchor) < timedelta(seconds=1)
        assert scheduled["parameters"]["preset"] == "smoke", "the schedule's override on the deployment's defaults"
        assert scheduled["parameters"]["overrides"] == [] and scheduled["work_pool_name"] == "vta-cpu"

        run = server.wait(scheduled["id"], timeout=900)
        _say(f"run {run['name']} ended {run['state_name']} {time.monotonic() - started:.0f} s after scheduling")
        assert run["state_type"] == "COMPLETED", server.log_tail("worker-vta-cpu")
        assert f"submitting flow run '{run['id']}'" in (server.logs / "worker-vta-cpu.log").read_text()
        assert run["infrastructure_pid"], "a process worker ran it"
        assert list((tmp_path / "runs" / "artifacts").glob("windows/*/_manifest.json")), "the data flow's output"

        # The scheduler keeps the next runs scheduled ahead, every INTERVAL after the first; removing the schedule
        # deletes them, and no run starts after that.
        ahead = [r for r in _runs(server, deployment["id"]) if r["id"] != run["id"]]
        assert ahead and all(r["state_type"] == "SCHEDULED" for r in ahead), ahead
        offsets = sorted(datetime.fromisoformat(r["expected_start_time"]) - anchor for r in ahead)
        assert offsets == [timedelta(seconds=INTERVAL * k) for k in range(1, len(ahead) + 1)]
        server.delete_schedule(DEPLOYMENT, schedule_id)
        time.sleep(3 * LOOP)
        assert server.deployment(DEPLOYMENT)["schedules"] == []
        left = _runs(server, deployment["id"])
        assert [r["id"] for r in left] == [run["id"]], "the scheduled run went with its schedule"
        assert all(r["state_type"] in FINAL_STATES for r in left)
