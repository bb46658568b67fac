"""The run report (vta_core.reports) over a tiny synthetic run folder written with the stages' own helpers."""

from __future__ import annotations

import html
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from vta_core.artifacts import ArtifactRef, ArtifactStore, write_json, write_parquet, write_text  # noqa: E402
from vta_core.data.schema import DATE, PRICE_COLUMNS, TARGET, TICKER, VOLUME  # noqa: E402
from vta_core.data.splits import BLOCK_COLUMNS  # noqa: E402
from vta_core.data.windows import TARGET_COLUMN, build_windows  # noqa: E402
from vta_core.evaluation.predictions import prediction_frame  # noqa: E402
from vta_core.evaluation.reasoning_quality import QUALITY_COLUMNS, SUMMARY_COLUMNS  # noqa: E402
from vta_core.reports import ReportError, RunFolder, write_run_report  # noqa: E402
from vta_core.reports.examples import Example, Forecast, example_windows  # noqa: E402
from vta_core.reports.plots import value_limits  # noqa: E402

LOOKBACK, HORIZON, ROWS = 5, 3, 60
TICKERS = ("AAA", "BBB")
NARRATED = 6  # test windows (per ticker) that get a stage-3 narrative
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUALITY_TABLE = "### Reasoning quality of narratives\n\n| model | split |\n|---|---|\n| reasoner (stage 3) | test |\n"


def _prices() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    dates = pd.bdate_range("2020-01-01", periods=ROWS)
    frames = []
    for i, ticker in enumerate(TICKERS):
        close = (50.0 + 40 * i) * np.exp(np.cumsum(rng.normal(0, 0.02, ROWS)))
        frame = pd.DataFrame({DATE: dates, TICKER: ticker})
        for column in PRICE_COLUMNS:
            frame[column] = close * (0.95 if column == TARGET else 1.0)
        frame[VOLUME] = rng.integers(1_000, 5_000, ROWS).astype(float)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _blocks() -> pd.DataFrame:
    """The paper split by hand: 70 % train, 10 % val, 20 % test rows per ticker."""
    n_train, n_test = int(ROWS * 0.7), int(ROWS * 0.2)
    rows = [(0, t, ROWS, 0, n_train, n_train, ROWS - n_test, ROWS - n_test, ROWS) for t in TICKERS]
    return pd.DataFrame(rows, columns=BLOCK_COLUMNS)


def _narrative(ticker: str, end: pd.Timestamp, stage: str) -> str:
    return f"<think>{stage} sees {ticker} on {end.date()} trending flat</think>\n<answer>[0.1, 0.2, 0.3]</answer>"


def _png(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 2])
    fig.savefig(path, format="png")
    plt.close(fig)


def _predictions(store: ArtifactStore, stage: str, key: str, frame: pd.DataFrame) -> ArtifactRef:
    with store.writing(stage, key) as folder:
        write_parquet(folder / "predictions.parquet", frame)
    return store.ref(stage, key)


def _generation(store: ArtifactStore, key: str, ws, model: str, narrated: np.ndarray) -> ArtifactRef:
    """A reasoner generation artifact: narratives for `narrated` test windows (plus one val), forecasts for
    the ones that parse (all but the first)."""
    told = ws.select("test").index.iloc[narrated].reset_index(drop=True)
    ends = pd.to_datetime(told["end_date"])
    narratives = pd.DataFrame(
        {
            "ticker": told["ticker"].astype(str).to_numpy(),
            "split": "test",
            "window_end_date": ends.to_numpy().astype("datetime64[us]"),
            "narrative": [_narrative(t, e, model) for t, e in zip(told["ticker"].astype(str), ends, strict=True)],
            "valid": np.arange(len(told)) > 0,
            "error": [None if i else "wrong_count" for i in range(len(told))],
            "attempts": np.ones(len(told), dtype=np.int32),
        }
    )
    val = ws.select("val").index.iloc[0]
    extra = {"ticker": str(val["ticker"]), "split": "val", "window_end_date": pd.Timestamp(val["end_date"])}
    extra |= {"narrative": "<think>val</think>", "valid": True, "error": None, "attempts": np.int32(1)}
    narratives = pd.concat([narratives, pd.DataFrame([extra]).astype(narratives.dtypes)], ignore_index=True)
    test = ws.select("test")
    parsed = np.asarray(narrated)[1:]
    sub = type(test)(
        test.panel, test.dates, test.index.iloc[parsed].reset_index(drop=True), test.scalers, LOOKBACK, HORIZON
    )
    y_hat = sub.inputs()[:, -1:, TARGET_COLUMN] + 0.3  # a flat forecast above the last price
    with store.writing("reasoner_generation", key) as folder:
        write_parquet(folder / "predictions.parquet", prediction_frame(sub, np.repeat(y_hat, HORIZON, 1), model))
        write_parquet(folder / "narratives.parquet", narratives)
        quality = [(model, "test", True, 2, 1, 0, 0, True)]
        write_parquet(folder / "quality.parquet", pd.DataFrame(quality, columns=QUALITY_COLUMNS))
        write_json(folder / "generation_report.json", {"model": model, "splits": {}})
    return store.ref("reasoner_generation", key)


def make_run(root: Path, reasoner: bool = True, quality_in_table: bool = False) -> Path:
    """A finished run folder `root/runs/run-1` over the artifact store `root/artifacts`."""
    store = ArtifactStore(root / "artifacts")
    prices = _prices()
    with store.writing("cleanse", "clean") as folder:
        write_parquet(folder / "prices.parquet", prices)
    ws, _ = build_windows(prices, _blocks(), LOOKBACK, HORIZON)
    with store.writing("windows", "win") as folder:
        ws.save(folder)
    test = ws.select("test")
    last = test.inputs()[:, -1, TARGET_COLUMN][:, None]
    steps = np.arange(1, HORIZON + 1)[None, :]
    refs = [
        _predictions(
            store, "naive_baselines", "naive", prediction_frame(test, np.repeat(last, HORIZON, 1), "persistence")
        ),
        # Seed 1 written first: the report must still draw seed 0, the first seed.
        _predictions(store, "timeseries_model", "calf1", prediction_frame(test, last - 0.5 + 0 * steps, "calf", 1)),
        _predictions(store, "timeseries_model", "calf0", prediction_frame(test, last + 0.1 * steps, "calf", 0)),
        _predictions(store, "fusion_inference", "vta0", prediction_frame(test, last + 0.05 * steps, "vta_reasoner", 0)),
    ]
    if reasoner:
        per_ticker = len(test) // len(TICKERS)
        narrated = np.r_[np.arange(NARRATED), per_ticker + np.arange(NARRATED)]
        refs.append(_generation(store, "gen2", ws, "reasoner_stage2", np.arange(len(test))))  # every window
        refs.append(_generation(store, "gen3", ws, "reasoner_stage3", narrated))
    error_table = "Protocol `split`: synthetic protocol note.\n\n### test split: MSE\n\n| model | MSE |\n|---|---|\n"
    error_table += "| persistence | 0.1 |\n" + ("\n" + QUALITY_TABLE if quality_in_table else "")
    with store.writing("error_evaluation", "errs") as folder:
        write_text(folder / "error_table.md", error_table)
        quality = pd.DataFrame(
            [("reasoner_stage3", "test", 12, 0.833, 0.5, float("nan"), 0.75)],
            columns=SUMMARY_COLUMNS,
        )
        write_parquet(folder / "reasoning_quality.parquet", quality)
    run = root / "runs" / "run-1"
    run.mkdir(parents=True)
    config = {"preset": "tiny", "seed": 7, "data": {"split": {"kind": "paper"}}, "backtest": {"protocols": ["run"]}}
    write_text(run / "config.yaml", yaml.safe_dump(config))
    payload = {
        "cleaned": store.ref("cleanse", "clean").model_dump(mode="json"),
        "windows": store.ref("windows", "win").model_dump(mode="json"),
        "predictions": [r.model_dump(mode="json") for r in refs],
        "backtests": {"run": store.ref("backtest", "bt").model_dump(mode="json")},
    }
    write_json(run / "refs.json", payload)
    write_text(run / "error_table.md", error_table)
    write_text(run / "error_table_dates.md", "Protocol `split`: dates note.\n\n| model | MSE |\n|---|---|\n")
    write_text(run / "backtest_run.md", "### Portfolio backtest, protocol `run`\n\n| strategy | sharpe |\n|---|---|\n")
    _png(run / "equity_curve_run.png")
    return run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    folder = tmp_path / "studies" / "guidance"
    folder.mkdir(parents=True)
    write_text(folder / "summary.md", "Guidance scale study: w = 2 is best on validation.\n")
    _png(folder / "mse_by_scale.png")
    return folder


def _chosen(run: Path, seed: int, examples: int = 3) -> list[tuple[str, pd.Timestamp]]:
    return [(e.ticker, e.end_date) for e in example_windows(RunFolder.open(run), examples, seed).examples]


def test_sections_in_order_with_backtest_study_and_html(run: Path, study: Path) -> None:
    report = write_run_report(run, studies=[study], examples=3, seed=0)
    assert report == run / "report.md"
    text = report.read_text()
    headings = [
        "# Run report: run-1",
        "## Error table\n",
        "## Error table, protocol `dates`",
        "## Portfolio backtest",
        "## Reasoning quality",
        "## Studies",
        "## Example test windows",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "`tiny`" in text and "seed: 7" in text and "synthetic protocol note" in text.split("## Error table")[0]
    assert text.count("synthetic protocol note") == 1  # stated in the title, not again above the table
    assert "| persistence | 0.1 |" in text and "dates note" in text
    assert "### Portfolio backtest, protocol `run`" in text and "(equity_curve_run.png)" in text
    assert "Guidance scale study: w = 2 is best on validation." in text
    assert f"({os.path.relpath(study / 'mse_by_scale.png', run)})" in text
    page = (run / "report.html").read_text()
    assert "<table>" in page and 'src="equity_curve_run.png"' in page and 'src="report_assets/example_1_' in page
    assert "&lt;think&gt;" in page  # the narrative's tags are shown, not swallowed as HTML


def test_example_images_are_valid_pngs(run: Path) -> None:
    text = write_run_report(run, examples=3, seed=0).read_text()
    images = sorted((run / "report_assets").glob("example_*.png"))
    assert len(images) == 3
    for image in images:
        assert image.read_bytes()[:8] == PNG_SIGNATURE
        height, width, _ = plt.imread(image).shape
        assert width > 400 and height > 200
        assert f"(report_assets/{image.name})" in text
    write_run_report(run, examples=2, seed=0)  # a smaller report leaves no stale example image
    assert len(list((run / "report_assets").glob("example_*.png"))) == 2


def test_prices_are_the_cleaned_prices_and_forecasts_invert_the_scaler(run: Path) -> None:
    prices = pd.read_parquet(run.parent.parent / "artifacts" / "cleanse" / "clean" / "prices.parquet")
    by_day = prices.set_index([TICKER, DATE])[TARGET]
    scalers = pd.read_parquet(run.parent.parent / "artifacts" / "windows" / "win" / "scalers.parquet")
    calf = pd.read_parquet(run.parent.parent / "artifacts" / "timeseries_model" / "calf0" / "predictions.parquet")
    chosen = example_windows(RunFolder.open(run), 4, seed=3).examples
    assert len(chosen) == 4
    for example in chosen:
        history = by_day.loc[[(example.ticker, pd.Timestamp(d)) for d in example.history_dates]].to_numpy()
        actual = by_day.loc[[(example.ticker, pd.Timestamp(d)) for d in example.target_dates]].to_numpy()
        np.testing.assert_allclose(example.history, history, rtol=1e-12)
        np.testing.assert_allclose(example.actual, actual, rtol=1e-12)
        assert pd.Timestamp(example.history_dates[-1]) == example.end_date
        scaler = scalers[(scalers[TICKER] == example.ticker) & (scalers["fold"] == example.fold)].iloc[0]
        mean, std = float(scaler["price_mean"]), float(scaler["price_std"])
        rows = calf[(calf[TICKER] == example.ticker) & (calf["window_end_date"] == example.end_date)]
        z = rows[rows["split"] == "test"].sort_values("step")["y_hat"].to_numpy()
        drawn = {f.model: f for f in example.forecasts}
        assert drawn["calf"].seed == 0  # the first seed, though seed 1 was listed first
        np.testing.assert_allclose(drawn["calf"].prices, z * std + mean, rtol=1e-12)
        np.testing.assert_allclose(drawn["persistence"].prices, np.full(HORIZON, history[-1]), rtol=1e-12)
        assert set(drawn) >= {"persistence", "calf", "vta_reasoner"}


def test_examples_have_the_stage3_narrative_in_the_report(run: Path) -> None:
    text = write_run_report(run, examples=4, seed=1).read_text()
    narratives = pd.read_parquet(
        run.parent.parent / "artifacts" / "reasoner_generation" / "gen3" / "narratives.parquet"
    )
    told = {
        (t, pd.Timestamp(d)) for t, d, s in narratives[["ticker", "window_end_date", "split"]].to_numpy() if s == "test"
    }
    examples = example_windows(RunFolder.open(run), 4, seed=1).examples
    for example in examples:
        assert (example.ticker, example.end_date) in told  # drawn only among narrated test windows
        assert example.narrative == _narrative(example.ticker, example.end_date, "reasoner_stage3")
        assert html.escape(f"<think>reasoner_stage3 sees {example.ticker} on {example.end_date.date()}") in text
        drawn = {f.model for f in example.forecasts}
        assert ("reasoner_stage3" in drawn) == bool(example.narrative_valid)  # drawn exactly when it parsed
    assert "reasoner_stage2 sees" not in text
    assert "among the 12 test windows with a stage-3 reasoner narrative" in text
    assert text.count("> &lt;think&gt;") == 4 and "forecasts drawn: persistence, CALF-like backbone (seed 0)" in text


def test_same_seed_same_windows_and_seeds_differ(run: Path) -> None:
    assert _chosen(run, 5) == _chosen(run, 5)
    assert len({tuple(_chosen(run, s)) for s in range(8)}) > 1
    first = write_run_report(run, examples=3, seed=5).read_text()
    assert write_run_report(run, examples=3, seed=5).read_text() == first


def test_run_without_reasoner_draws_test_windows_and_says_so(tmp_path: Path) -> None:
    run = make_run(tmp_path, reasoner=False)
    text = write_run_report(run, examples=2, seed=0).read_text()
    assert "the run has no stage-3 reasoner, so there is no narrative" in text
    assert text.count("this window has no narrative") == 2
    assert f"among the {2 * 10} test windows" in text  # every test window of both tickers
    assert "not available: reasoner (stage 3)" in text


def test_reasoning_quality_is_not_duplicated(tmp_path: Path) -> None:
    run = make_run(tmp_path, quality_in_table=True)
    text = write_run_report(run, examples=1).read_text()
    assert text.count("Reasoning quality") == 1 and "\n## Reasoning quality" not in text


def test_missing_error_table_is_named(run: Path) -> None:
    (run / "error_table.md").unlink()
    with pytest.raises(ReportError, match="error_table.md"):
        write_run_report(run)
    assert not (run / "report.md").exists()


def test_missing_backtest_table_and_study_summary_are_named(run: Path, study: Path) -> None:
    (study / "summary.md").unlink()
    with pytest.raises(ReportError, match="summary.md"):
        write_run_report(run, studies=[study])
    (run / "backtest_run.md").unlink()
    with pytest.raises(FileNotFoundError, match="backtest_run.md"):
        write_run_report(run)


def test_wild_forecast_point_does_not_squash_the_plot() -> None:
    history, actual = np.linspace(10, 11, LOOKBACK), np.array([11.0, 11.2, 11.1])
    wild = Forecast("reasoner_stage3", -1, np.array([11.0, -40.0, 11.0]))
    example = Example(0, "AAA", pd.Timestamp("2020-01-07"), np.array([]), history, np.array([]), actual, 0.0, 1.0)
    lo, hi = value_limits(Example(**{**example.__dict__, "forecasts": [wild]}))
    assert 9.5 < lo < 10 and 11.2 < hi < 11.5
