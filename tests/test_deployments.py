"""Static checks of deployments/prefect.yaml and profiles/profiles.toml.

No Prefect server is started: the flow modules are imported (which does not run
anything) and the YAML / TOML are checked against them and against Prefect's
own schedule and settings models.
"""

import importlib
import inspect
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.client.schemas.schedules import CronSchedule

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
PROFILES_TOML = ROOT / "profiles" / "profiles.toml"

POOLS = {"vta-cpu", "vta-cuda"}
ENTRYPOINT_RE = re.compile(r"^(?P<path>[A-Za-z0-9_][A-Za-z0-9_/]*\.py):(?P<func>[A-Za-z_][A-Za-z0-9_]*)$")
# Flows that must exist and be deployed now (the GPU flows come with later issues).
REQUIRED_ENTRYPOINTS = {
    "flows/pipeline.py:vta_pipeline",
    "flows/data_flow.py:data_flow",
    "flows/baselines_flow.py:baselines_flow",
    "flows/evaluation_flow.py:evaluation_flow",
    "flows/backbone_flow.py:backbone_flow",
    "flows/reasoning_flow.py:reasoning_flow",
    "flows/fusion_flow.py:fusion_flow",
}


def _project() -> dict:
    with PREFECT_YAML.open() as f:
        return yaml.safe_load(f)


PROJECT = _project()
DEPLOYMENTS = PROJECT.get("deployments") or []
DEPLOYMENT_IDS = [d.get("name", f"#{i}") for i, d in enumerate(DEPLOYMENTS)]


def _load_flow(entrypoint: str) -> Flow:
    m = ENTRYPOINT_RE.match(entrypoint)
    assert m, f"entrypoint {entrypoint!r} is not of the form path/to/file.py:function"
    path = ROOT / m["path"]
    assert path.is_file(), f"{entrypoint}: {path} does not exist (entrypoints are relative to the repo root)"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module = importlib.import_module(m["path"][: -len(".py")].replace("/", "."))
    obj = getattr(module, m["func"], None)
    assert isinstance(obj, Flow), f"{entrypoint}: {m['func']} is {type(obj).__name__}, not a Prefect Flow"
    assert obj.fn.__name__ == m["func"]
    return obj


# --------------------------------------------------------------------- project


def test_project_header_and_pull_step():
    assert PROJECT["name"] == "vta"
    assert str(PROJECT["prefect-version"]) == "3.8.8"
    pull = PROJECT["pull"]
    assert isinstance(pull, list) and pull
    step = pull[0]
    assert list(step) == ["prefect.deployments.steps.set_working_directory"]
    assert step["prefect.deployments.steps.set_working_directory"]["directory"]


def test_work_pool_definitions():
    pools = PROJECT["definitions"]["work_pools"]
    by_name = {p["name"]: p for p in pools.values()}
    assert set(by_name) == POOLS
    cuda_env = by_name["vta-cuda"]["job_variables"]["env"]
    assert cuda_env["CUDA_VISIBLE_DEVICES"] == "0"


def test_required_flows_are_deployed():
    entrypoints = {d["entrypoint"] for d in DEPLOYMENTS}
    assert REQUIRED_ENTRYPOINTS <= entrypoints, REQUIRED_ENTRYPOINTS - entrypoints


def test_deployment_names_unique():
    names = [d["name"] for d in DEPLOYMENTS]
    assert len(names) == len(set(names)), names


# ----------------------------------------------------------------- deployments


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=DEPLOYMENT_IDS)
def test_entrypoint_is_a_flow(deployment):
    _load_flow(deployment["entrypoint"])


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=DEPLOYMENT_IDS)
def test_default_parameters_match_flow_signature(deployment):
    flow = _load_flow(deployment["entrypoint"])
    params = deployment.get("parameters") or {}
    signature = inspect.signature(flow.fn)
    unknown = set(params) - set(signature.parameters)
    assert not unknown, f"{deployment['name']}: {sorted(unknown)} are not parameters of {flow.fn.__name__}"
    if "preset" in params:
        assert params["preset"] == "cpu"
    # Same type validation Prefect applies to a deployment's parameters.
    flow.validate_parameters(dict(params))


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=DEPLOYMENT_IDS)
def test_metadata_and_work_pool(deployment):
    assert deployment.get("description"), f"{deployment['name']} has no description"
    tags = deployment.get("tags")
    assert tags and "vta" in tags
    pool = deployment["work_pool"]
    assert pool["name"] in POOLS


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=DEPLOYMENT_IDS)
def test_schedules_parse(deployment):
    for schedule in deployment.get("schedules") or []:
        assert "cron" in schedule, schedule
        CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone"))
        try:
            from croniter import croniter
        except ImportError:
            continue
        assert croniter.is_valid(schedule["cron"])


def test_nightly_retraining_schedule():
    nightly = {d["name"]: d for d in DEPLOYMENTS}["vta-pipeline-nightly"]
    assert nightly["entrypoint"] == "flows/pipeline.py:vta_pipeline"
    (schedule,) = nightly["schedules"]
    assert schedule["cron"].split() == ["30", "22", "*", "*", "1-5"]
    assert schedule["timezone"] == "America/New_York"
    assert schedule.get("active", True) is True


# -------------------------------------------------------------------- profiles


def _profiles() -> dict:
    with PROFILES_TOML.open("rb") as f:
        return tomllib.load(f)


def test_profiles_parse_and_default():
    data = _profiles()
    assert data["active"] == "embedded"
    assert {"embedded", "local-server", "remote"} <= set(data["profiles"])


def test_embedded_profile_has_no_api_url():
    embedded = _profiles()["profiles"]["embedded"]
    assert "PREFECT_API_URL" not in embedded
    # Without an API URL Prefect 3.8 only runs flows if ephemeral mode is enabled.
    assert str(embedded["PREFECT_SERVER_EPHEMERAL_ENABLED"]).lower() == "true"
    assert int(embedded["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 60


def test_local_server_and_remote_profiles():
    profiles = _profiles()["profiles"]
    assert profiles["local-server"]["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    assert profiles["remote"]["PREFECT_API_URL"].startswith("https://")
    for name, settings in profiles.items():
        assert "PREFECT_API_KEY" not in settings, f"profile {name} must not hold an API key"


def test_profile_settings_are_known_to_prefect():
    import prefect.settings

    for name, settings in _profiles()["profiles"].items():
        for key in settings:
            assert hasattr(prefect.settings, key), f"profile {name}: unknown Prefect setting {key}"
