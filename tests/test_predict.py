"""`vta predict`: latest window per ticker of a new file, scored with a finished smoke run."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from vta_core.data.problems import DataValidationError
from vta_core.inference.narration import GuidanceChoice, fusion_use, narrators
from vta_core.inference.predict import predict_latest
from vta_core.prompts.parser import parse_answer

pytestmark = pytest.mark.flow
CUT = "2017-06-30"  # a test-window end date of the smoke run; 2017-07-04 is a NYSE holiday


@pytest.fixture(scope="module")
def run_folder(smoke_run_folder):
    return smoke_run_folder


def _write(frame: pd.DataFrame, path) -> str:
    frame.drop(columns=["_file", "_row"]).to_csv(path, index=False, date_format="%Y-%m-%d")
    return str(path)


@pytest.fixture
def new_file(stocknet_raw, tmp_path):
    rows = stocknet_raw[
        stocknet_raw["ticker"].isin(["AAPL", "XOM"])
        & (stocknet_raw["date"] <= CUT)
        & (stocknet_raw["date"] > "2017-05-01")
    ]
    return _write(rows, tmp_path / "new.csv")


def test_forecast_equals_the_runs_own_forecast_for_the_same_window(run_folder, new_file, tmp_path):
    from pathlib import Path

    result = predict_latest(Path(run_folder), Path(new_file), tmp_path / "out.parquet")
    table = result.table.set_index("ticker")
    assert list(table.index) == ["AAPL", "XOM"]
    assert (table["window_end_date"].astype(str).str[:10] == CUT).all()
    assert table.loc["AAPL", "forecast_dates"][:3] == ["2017-07-03", "2017-07-05", "2017-07-06"]  # skips July 4th
    # The run forecast the same (ticker, end date) test window: the backbone and analyst must agree exactly.
    refs = json.loads((Path(run_folder) / "refs.json").read_text())
    stages = {r["stage"]: r["path"] for r in refs["predictions"]}
    backbone = pd.read_parquet(Path(stages["timeseries_model"]) / "predictions.parquet")
    analyst = pd.read_parquet(Path(stages["rule_based_analyst"]) / "predictions.parquet")
    for ticker in ("AAPL", "XOM"):
        row = table.loc[ticker]
        assert row["last_price"] > 1  # prices, not z-scores
        for frame, column in ((backbone, "y_phi"), (analyst, "reasoner_forecast")):
            same = frame[(frame["ticker"] == ticker) & (frame["window_end_date"] == pd.Timestamp(CUT))].sort_values(
                "step"
            )
            assert len(same) == 10, column
            expected = same["y_hat"].to_numpy() * row["scale_std"] + row["scale_mean"]
            np.testing.assert_allclose(np.asarray(row[column]), expected, rtol=1e-5)
        np.testing.assert_allclose(np.asarray(row["forecast"]), np.asarray(row["y_phi"]))  # not fused: y_phi
    assert table["narrative"].str.contains("<answer>").all() and not table["fused"].any()
    assert "fused no reasoner" in table.loc["AAPL", "fallback_reason"]
    # The narrator is the analyst (the smoke run has no reasoner), with the damping the run chose.
    damping = json.loads((Path(stages["rule_based_analyst"]) / "analyst_report.json").read_text())["damping"]
    assert (table["narrator"] == f"rule-based analyst (damping phi = {damping:g})").all()
    assert (table["narrator_id"] == "analyst").all() and not table["fusion_uses_reasoner"].any()
    assert table["fusion_note"].str.contains("no reasoner that can read new data").all()
    assert table["fusion_note"].str.endswith("the forecast is the backbone's y_phi").all()
    for ticker in ("AAPL", "XOM"):
        row = table.loc[ticker]
        # The standardised original is kept; in the narrative every number has a role and the answer is in prices.
        assert row["narrative_std"] != row["narrative"] and row["narrative_unmapped"] == 0
        z, priced = parse_answer(row["narrative_std"], 10), parse_answer(row["narrative"], 10)
        np.testing.assert_allclose(priced.forecast, np.asarray(row["reasoner_forecast"]), atol=0.005)
        # The last price as the narrative quotes it (a z-score at 4 significant digits), mapped back to a price.
        z_last = float(re.search(r"The last price (-?[\d.]+)", row["narrative_std"]).group(1))
        assert f"The last price {z_last * row['scale_std'] + row['scale_mean']:.2f}" in row["narrative"]
        assert abs(z_last * row["scale_std"] + row["scale_mean"] - row["last_price"]) < 1e-3 * row["scale_std"]
        assert re.search(r"RSI is -?[\d.]+", row["narrative_std"]).group(0) in row["narrative"]  # unit-free
        np.testing.assert_allclose(
            np.asarray(z.forecast) * row["scale_std"] + row["scale_mean"], priced.forecast, atol=0.005
        )
    written = pd.read_parquet(tmp_path / "out.parquet")
    assert len(written) == 2


def test_unknown_ticker_and_short_history_are_reported_together(run_folder, stocknet_raw, tmp_path):
    from pathlib import Path

    aapl = stocknet_raw[(stocknet_raw["ticker"] == "AAPL") & (stocknet_raw["date"] <= CUT)].tail(5)
    unknown = stocknet_raw[(stocknet_raw["ticker"] == "MSFT") & (stocknet_raw["date"] <= CUT)].tail(30)
    path = _write(pd.concat([aapl, unknown]), tmp_path / "bad.csv")
    with pytest.raises(DataValidationError) as caught:
        predict_latest(Path(run_folder), Path(path))
    message = str(caught.value)
    # MSFT is not a ticker of the run, and 30 rows are too few to fit a scaler on its own history.
    assert "bad.csv, ticker MSFT: [too_little_history_for_own_scaler]" in message
    assert "bad.csv, ticker AAPL: [too_little_history] 5 clean rows, the window needs T = 10" in message


def test_cli_prints_forecasts_and_fails_clearly(run_folder, new_file, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["predict", new_file, "--run", run_folder])
    assert ok.exit_code == 0, ok.output
    assert "AAPL  last 2017-06-30" in ok.output and "<answer>" in ok.output
    assert "  narrative by rule-based analyst (damping phi = " in ok.output and ", numbers in prices:" in ok.output
    assert "  fusion: the run has no reasoner that can read new data" in ok.output
    missing = tmp_path / "missing.csv"
    missing.write_text("date,ticker\n")
    bad = runner.invoke(app, ["predict", str(missing), "--run", run_folder])
    assert bad.exit_code == 3 and "missing.csv" in bad.output
    no_run = runner.invoke(app, ["predict", new_file, "--home", str(tmp_path / "nowhere")])
    assert no_run.exit_code == 2 and "no finished run" in no_run.output


AVAILABLE = np.array([True, False])
BACKBONE = "the forecast is the backbone's y_phi"


@pytest.mark.parametrize(
    ("has_reasoner", "choice", "uses", "notes"),
    [
        (False, None, [False, False], ["the run has no reasoner that can read new data"] * 2),
        (True, None, [False, False], ["the run fused no model on its own reasoner's forecasts"] * 2),
        (
            True,
            GuidanceChoice(0.0, "validation"),
            [False, False],
            ["validation chose guidance scale 0: " + BACKBONE, "the reasoner's output did not parse"],
        ),
        (
            True,
            GuidanceChoice(0.0, 0.0),
            [False, False],
            ["the run's guidance scale is 0 (fusion.guidance_scale)", "the reasoner's output did not parse"],
        ),
        (
            True,
            GuidanceChoice(2.0, "validation"),
            [True, False],
            ["guided fusion with s = 2 (chosen on validation)", "the reasoner's output did not parse"],
        ),
        (
            True,
            GuidanceChoice(0.1, 0.1),
            [True, False],
            ["guided fusion with s = 0.1 (fusion.guidance_scale)", "the reasoner's output did not parse"],
        ),
    ],
)
def test_fusion_uses_the_reasoner_only_when_guidance_is_on(has_reasoner, choice, uses, notes):
    """A scale of 0 gives y_phi exactly, so the forecast does not use the narrator's forecast then."""
    available = AVAILABLE if choice is not None else None
    use = fusion_use(has_reasoner, choice, available, 2)
    assert use.uses_reasoner.tolist() == uses
    for note, start in zip(use.notes, notes, strict=True):
        assert note.startswith(start), note
    assert all(note.endswith(BACKBONE) for note, used in zip(use.notes, uses, strict=True) if not used)


def test_narrators_name_the_reasoner_where_it_parsed():
    only_analyst = narrators(None, 2, 0.5, "tiny-local")
    assert only_analyst.ids.tolist() == ["analyst", "analyst"]
    assert only_analyst.labels.tolist() == ["rule-based analyst (damping phi = 0.5)"] * 2
    mixed = narrators(AVAILABLE, 2, 0.0, "tiny-local")
    assert mixed.ids.tolist() == ["reasoner_stage3", "analyst"]
    assert mixed.labels.tolist() == [
        "reasoner (stage 3), model tiny-local",
        "rule-based analyst (damping phi = 0); the reasoner's output did not parse",
    ]
