"""The daily forecast: a folder of price files (or an fsspec URL) forecast with a finished smoke run, a ticker the
run never saw scaled on its own history, too-short histories skipped and reported, bad files failing clearly."""

from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from vta_core.data.problems import DataValidationError
from vta_core.inference.daily import daily_forecast
from vta_core.inference.predict import predict_latest

pytestmark = pytest.mark.flow
CUT = "2017-06-30"


def _rows(raw: pd.DataFrame, ticker: str, n: int) -> pd.DataFrame:
    return raw[(raw["ticker"] == ticker) & (raw["date"] <= CUT)].tail(n)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.drop(columns=["_file", "_row"]).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


@pytest.fixture
def folder(stocknet_raw, tmp_path):
    """Two files, as a desk would append them: AAPL in one; XOM, MSFT (not a smoke ticker, 120 rows) and
    WMT (not a smoke ticker, 20 rows: too few for a scaler of its own) in the other."""
    prices = tmp_path / "prices"
    prices.mkdir()
    _csv(_rows(stocknet_raw, "AAPL", 40), prices / "2017-06-a.csv")
    other = pd.concat([_rows(stocknet_raw, t, n) for t, n in (("XOM", 40), ("MSFT", 120), ("WMT", 20))])
    _csv(other, prices / "2017-06-b.csv")
    return prices


def test_folder_forecast_with_unknown_ticker_scaled_on_its_own_history(
    smoke_run_folder, folder, stocknet_raw, tmp_path
):
    result = daily_forecast(Path(smoke_run_folder), str(folder), tmp_path / "home")
    table = result.prediction.table.set_index("ticker")
    assert list(table.index) == ["AAPL", "MSFT", "XOM"] and result.as_of == CUT
    assert result.folder == tmp_path / "home" / "forecasts" / CUT
    assert table.loc["AAPL", "scaler"] == table.loc["XOM", "scaler"] == "run"
    assert table.loc["MSFT", "scaler"] == "own history"
    msft = _rows(stocknet_raw, "MSFT", 120)["Adj Close"].to_numpy(float)
    assert table.loc["MSFT", "scale_mean"] == pytest.approx(msft.mean())
    assert table.loc["MSFT", "scale_std"] == pytest.approx(msft.std())
    assert table.loc["MSFT", "last_price"] == pytest.approx(msft[-1])
    assert np.isfinite(table.loc["MSFT", "forecast"]).all()
    # WMT is skipped and reported, not silently dropped; the others are still forecast.
    skipped = result.prediction.skipped
    assert skipped["ticker"].tolist() == ["WMT"] and skipped["rule"].tolist() == ["too_little_history_for_own_scaler"]
    # A known ticker gets exactly the forecast `vta predict` gives for the same window from a single file.
    single = predict_latest(Path(smoke_run_folder), _csv(_rows(stocknet_raw, "AAPL", 40), tmp_path / "aapl.csv"))
    np.testing.assert_allclose(table.loc["AAPL", "forecast"], single.table.iloc[0]["forecast"])
    written = pd.read_parquet(result.folder / "forecast.parquet")
    assert written["ticker"].tolist() == ["AAPL", "MSFT", "XOM"] and set(written["run"]) == {
        Path(smoke_run_folder).name
    }
    markdown = (result.folder / "forecast.md").read_text()
    assert f"as of {CUT}" in markdown and "| MSFT |" in markdown and "own history" in markdown
    assert "| WMT | too_little_history_for_own_scaler |" in markdown


def test_fsspec_url_source_gives_the_same_forecast(smoke_run_folder, folder, tmp_path):
    fs = fsspec.filesystem("memory")
    for file in folder.iterdir():
        fs.pipe(f"/desk/prices/{file.name}", file.read_bytes())
    remote = daily_forecast(Path(smoke_run_folder), "memory://desk/prices", tmp_path / "remote")
    local = daily_forecast(Path(smoke_run_folder), str(folder), tmp_path / "local")
    pd.testing.assert_series_equal(remote.prediction.table["ticker"], local.prediction.table["ticker"])
    np.testing.assert_allclose(
        np.stack(remote.prediction.table["forecast"]), np.stack(local.prediction.table["forecast"])
    )


def test_bad_file_fails_clearly_and_the_flow_cli_reports_it(smoke_run_folder, folder, tmp_path):
    bad = (folder / "2017-06-a.csv").read_text().splitlines()
    bad[3] = bad[3].replace(bad[3].split(",")[2], "n/a?", 1)  # a price that is not a number, in data row 3
    (folder / "2017-06-a.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataValidationError) as caught:
        daily_forecast(Path(smoke_run_folder), str(folder), tmp_path / "home")
    assert "2017-06-a.csv, ticker AAPL, row 3" in str(caught.value)
    runner = CliRunner()
    out = runner.invoke(app, ["forecast", str(folder), "--run", smoke_run_folder, "--home", str(tmp_path / "h")])
    assert out.exit_code == 3 and "2017-06-a.csv" in out.output
    assert not (tmp_path / "home" / "forecasts").exists(), "a failed forecast writes no dated folder"


def test_cli_forecast_writes_the_dated_folder(smoke_run_folder, folder, tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["forecast", str(folder), "--run", smoke_run_folder, "--home", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert f"Daily forecast as of {CUT}" in out.output and "| MSFT |" in out.output
    assert (tmp_path / "forecasts" / CUT / "forecast.parquet").is_file()
