"""`vta` command line: run a preset, show the last results, predict on new data, inspect configuration."""

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
import yaml

from vta_core.config import ConfigError, available_presets, load_config
from vta_core.data.problems import DataValidationError
from vta_core.runs import NoRunError, latest_run

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Verbal Technical Analysis on Prefect 3.")

PresetOpt = Annotated[str, typer.Option("--preset", "-p", help="Named preset: " + ", ".join(available_presets()))]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML file with overrides.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override KEY=VALUE, e.g. data.window.lookback=20.")
]


def _quiet_defaults() -> None:
    # Offline machines: no telemetry, and room for a cold embedded server to start.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "vta_core")
    # Library lines logged outside a flow run (the cached fast path, `vta predict`) go to the console only.
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@app.command()
def run(preset: PresetOpt = "cpu", config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Run the whole pipeline and print the error table, then the portfolio backtest tables."""
    overrides = list(set_ or [])
    try:
        resolved = load_config(preset, config, overrides)  # fail before any work if the config is invalid
    except ConfigError as err:
        _fail(str(err))
    _quiet_defaults()
    from prefect.settings import get_current_settings

    from flows.pipeline import cached_pipeline, vta_pipeline  # imported late: Prefect start-up is slow

    try:
        # Embedded mode only: with a server, every run should be recorded there.
        embedded = get_current_settings().api.url is None
        result = cached_pipeline(resolved) if embedded and resolved.runtime.cached_fast_path else None
        if result is None:
            result = vta_pipeline(
                preset=preset, config_file=str(config) if config else None, overrides=overrides, config=resolved
            )
    except DataValidationError as err:
        _fail(str(err), code=3)
    typer.echo(result.error_table_markdown)
    if result.backtest_markdown:
        typer.echo(result.backtest_markdown)
    typer.echo(f"run folder: {result.run_folder}")


@app.command()
def study(
    kind: Annotated[str, typer.Argument(help="sensitivity or ablation")],
    preset: PresetOpt = "cpu",
    config: ConfigOpt = None,
    set_: SetOpt = None,
    only: Annotated[
        str | None, typer.Option(help="comma-separated sensitivity parameters, e.g. guidance_scale,gamma")
    ] = None,
    dispatch: Annotated[bool, typer.Option(help="run the variants on the vta-pipeline deployment")] = False,
) -> None:
    """Run a sensitivity or ablation study: the pipeline once per variant, re-using every cached stage."""
    from vta_core.studies.design import StudyDesignError, study_design

    overrides = list(set_ or [])
    parameters = [p.strip() for p in only.split(",") if p.strip()] if only else []
    try:
        resolved = load_config(preset, config, overrides)
        study_design(kind, resolved, tuple(parameters))  # an unknown kind or parameter fails before any work
    except (ConfigError, StudyDesignError) as err:
        _fail(str(err))
    _quiet_defaults()
    from flows.study_flow import study_flow

    try:
        result = study_flow(
            kind=kind,
            preset=preset,
            config_file=str(config) if config else None,
            overrides=overrides,
            only=parameters or None,
            dispatch=dispatch,
        )
    except DataValidationError as err:
        _fail(str(err), code=3)
    typer.echo(result.markdown)
    typer.echo(f"study folder: {result.folder}")
    if result.report:
        typer.echo(f"run report (base run + this study): {result.report}")


@app.command()
def report(
    run_folder: Annotated[Path | None, typer.Option("--run", help="a finished run folder; default: the latest")] = None,
    home: Annotated[Path, typer.Option(help="runtime.home of the runs")] = Path("runs"),
    study_folders: Annotated[
        list[Path] | None, typer.Option("--study", help="study folder(s) to include (repeatable)")
    ] = None,
    examples: Annotated[int, typer.Option(help="example test windows drawn with their narrative")] = 4,
    seed: Annotated[int, typer.Option(help="seed of the example windows' draw")] = 0,
) -> None:
    """Write report.md and report.html into a run folder: tables, equity curves, studies, example windows."""
    from vta_core.reports import ReportError, write_run_report

    try:
        folder = run_folder or latest_run(home)
        path = write_run_report(folder, studies=list(study_folders or []), examples=examples, seed=seed)
    except (NoRunError, ReportError) as err:
        _fail(str(err))
    typer.echo(f"run report: {path} (and {path.with_suffix('.html').name})")


@app.command()
def show(home: Annotated[Path, typer.Option(help="runtime.home of the runs")] = Path("runs")) -> None:
    """Print the error table and the portfolio backtest tables of the last finished run."""
    try:
        folder = latest_run(home)
    except NoRunError as err:
        _fail(str(err))
    typer.echo(f"run {folder.name} ({folder})\n")
    typer.echo((folder / "error_table.md").read_text())
    for table in sorted(folder.glob("backtest_*.md")):
        typer.echo(table.read_text())


@app.command()
def predict(
    input_file: Annotated[
        Path, typer.Argument(help="CSV or Parquet in long format (date, ticker, OHLC, Adj Close, Volume)")
    ],
    run_folder: Annotated[Path | None, typer.Option("--run", help="a finished run folder; default: the latest")] = None,
    home: Annotated[Path, typer.Option(help="runtime.home of the runs")] = Path("runs"),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the full table as Parquet")] = None,
) -> None:
    """Forecast the next T' prices and write a narrative for the latest window of each ticker."""
    from vta_core.inference.predict import RunArtifactsError, predict_latest

    try:
        folder = run_folder or latest_run(home)
        result = predict_latest(folder, input_file, output)
    except (NoRunError, RunArtifactsError) as err:
        _fail(str(err))
    except DataValidationError as err:
        _fail(str(err), code=3)
    typer.echo(f"run {folder}; {len(result.table)} ticker(s); {len(result.dropped)} input row(s) dropped by cleansing")
    for row in result.table.itertuples(index=False):
        path = ", ".join(f"{v:.2f}" for v in row.forecast)
        typer.echo(
            f"\n{row.ticker}  last {str(row.window_end_date)[:10]} at {row.last_price:.2f}; next "
            f"{len(row.forecast)} sessions {row.forecast_dates[0]}..{row.forecast_dates[-1]}: [{path}]"
        )
        how = f"guided fusion, s = {row.guidance_scale:g}" if row.fused else f"backbone y_phi ({row.fallback_reason})"
        if row.scaler != "run":
            how += "; not a ticker of the run: scaled on its own history"
        typer.echo(f"  forecast: {how}")
        typer.echo(f"  fusion: {row.fusion_note}")
        left = f"; {row.narrative_unmapped} number(s) of unknown role left standardised, marked (std)"
        typer.echo(f"  narrative by {row.narrator}, numbers in prices{left if row.narrative_unmapped else ''}:")
        typer.echo("  " + row.narrative.replace("\n", "\n  "))
    if output is not None:
        typer.echo(f"\ntable written to {output}")


@app.command()
def forecast(
    source: Annotated[str, typer.Argument(help="price file, folder of files, or fsspec URL (s3://..., memory://...)")],
    run_folder: Annotated[Path | None, typer.Option("--run", help="a finished run folder; default: the latest")] = None,
    home: Annotated[Path, typer.Option(help="runtime.home: runs to choose from, and where forecasts/ goes")] = Path(
        "runs"
    ),
    min_history: Annotated[int, typer.Option(help="rows a ticker the run never saw needs for its own scaler")] = 60,
) -> None:
    """The daily forecast (flow `vta-forecast`): every ticker with enough history, into runs/forecasts/<date>/."""
    _quiet_defaults()
    from flows.forecast_flow import forecast_flow
    from vta_core.inference.predict import RunArtifactsError

    try:
        folder = forecast_flow(
            source=source, run=str(run_folder) if run_folder else None, home=str(home), min_history=min_history
        )
    except (NoRunError, RunArtifactsError) as err:
        _fail(str(err))
    except DataValidationError as err:
        _fail(str(err), code=3)
    typer.echo((Path(folder) / "forecast.md").read_text())
    typer.echo(f"forecast folder: {folder}")


@app.command("config")
def show_config(preset: PresetOpt = "cpu", config: ConfigOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved configuration (preset + file + VTA_ environment + --set)."""
    try:
        resolved = load_config(preset, config, list(set_ or []))
    except ConfigError as err:
        _fail(str(err))
    typer.echo(yaml.safe_dump(resolved.model_dump(mode="json"), sort_keys=False))


@app.command()
def presets() -> None:
    """List the shipped presets."""
    typer.echo("\n".join(available_presets()))


def main() -> None:
    # Prefect attaches its console handler to vta_core (PREFECT_LOGGING_EXTRA_LOGGERS); keep HTTP chatter out.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()


if __name__ == "__main__":
    main()
