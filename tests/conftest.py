"""Shared fixtures: the bundled StockNet prices, cleansed once per session."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")  # library logs outside flows (vta predict)

from vta_core.config.sections import CalendarConfig  # noqa: E402
from vta_core.data.cleansing import cleanse  # noqa: E402
from vta_core.data.reading import read_prices, stocknet_path  # noqa: E402


@pytest.fixture(scope="session")
def stocknet_clean() -> pd.DataFrame:
    return cleanse(read_prices(stocknet_path()), CalendarConfig()).prices


@pytest.fixture(scope="session")
def stocknet_raw() -> pd.DataFrame:
    return read_prices(stocknet_path())


@pytest.fixture(scope="session")
def harness():
    """Prefect's embedded test server, started once for all flow tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def smoke_run_folder(harness, tmp_path_factory) -> str:
    """A finished smoke run (backbone, fusion with the release, no reasoner), shared by the prediction tests."""
    from flows.pipeline import vta_pipeline
    from vta_core.config import load_config

    home = tmp_path_factory.mktemp("home")
    cfg = load_config(
        "smoke",
        overrides=[f"runtime.home={home}", "tsmixer.enabled=false", "dlinear.enabled=false", "reasoner.enabled=false"],
        environ={},
    )
    return vta_pipeline(preset="smoke", config=cfg).run_folder
