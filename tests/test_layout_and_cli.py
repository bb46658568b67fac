"""Architecture rules and the `vta` command line."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import vta_core
from flows.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_required_layout():
    for name in [
        "flows",
        "tasks",
        "vta_core",
        "deployments",
        "profiles",
        "docker",
        "tests",
        "pyproject.toml",
        "README.md",
    ]:
        assert (ROOT / name).exists(), name


def test_vta_core_never_imports_prefect():
    modules = [m.name for m in pkgutil.walk_packages(vta_core.__path__, "vta_core.")]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.'))\n"
        "assert not bad, bad\n"
    )
    assert len(modules) > 10
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_cli_rejects_bad_config_before_any_work(tmp_path):
    result = runner.invoke(
        app, ["run", "--preset", "smoke", "--set", "data.windw.lookback=3", "--set", f"runtime.home={tmp_path}"]
    )
    assert result.exit_code == 2
    assert "did you mean 'window'" in result.output
    assert not any(tmp_path.iterdir()), "nothing may be written for an invalid config"


def test_cli_unknown_preset_and_config_printing():
    bad = runner.invoke(app, ["config", "--preset", "nope"])
    assert bad.exit_code == 2 and "unknown preset 'nope'" in bad.output
    good = runner.invoke(app, ["config", "--preset", "smoke", "--set", "data.window.horizon=5"])
    assert good.exit_code == 0 and "horizon: 5" in good.output
    assert runner.invoke(app, ["presets"]).output.split() == ["cpu", "paper", "smoke"]


def test_cli_show_without_runs(tmp_path):
    result = runner.invoke(app, ["show", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "no finished run" in result.output


@pytest.mark.flow
@pytest.mark.e2e
def test_cli_run_then_show(harness, tmp_path):
    result = runner.invoke(app, ["run", "--preset", "smoke", "--set", f"runtime.home={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert "| persistence | ours |" in result.output and "| drift | ours |" in result.output
    assert "| VTA | paper (arXiv 2511.08616) |" in result.output
    shown = runner.invoke(app, ["show", "--home", str(tmp_path)])
    assert shown.exit_code == 0 and "| persistence | ours |" in shown.output


@pytest.mark.flow
def test_cli_reports_bad_data_file(harness, tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("date,ticker,Open,High,Low,Close,Adj Close\n2016-01-04,AAA,1,1,1,1,1\n")
    result = runner.invoke(
        app,
        [
            "run",
            "--preset",
            "smoke",
            "--set",
            "data.source.kind=file",
            "--set",
            f"data.source.path={bad}",
            "--set",
            "data.source.tickers=null",
            "--set",
            f"runtime.home={tmp_path / 'home'}",
        ],
    )
    assert result.exit_code == 3
    assert "prices.csv" in result.output and "missing_column" in result.output and "'Volume'" in result.output
