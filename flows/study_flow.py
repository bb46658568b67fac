"""Study flow: sensitivity or ablation. Runs the pipeline once per variant (the base config plus an override set),
then writes one summary with tables, plots and Prefect artifacts. Every stage a variant does not reach is a cache
hit, so a guidance-scale variant costs seconds and only the variants that re-train pay for training.

In-process (default) the variants run one after the other as sub-flows. With `dispatch=true` the base run goes
first (it fills the cache every variant shares), then every variant is started on the `vta-pipeline` deployment
at once, so they run concurrently on the available workers.
"""

import math
import time
from pathlib import Path

from prefect import flow
from pydantic import BaseModel

from flows.common import flow_logger, publish, resolve
from flows.dispatch import DispatchError, result_of, start, wait_all
from flows.pipeline import PipelineResult, cached_pipeline, vta_pipeline
from tasks.remote import localized_for
from tasks.study_tasks import publish_study
from vta_core.artifacts import require
from vta_core.config import ConfigError, VTAConfig, load_config
from vta_core.reports import write_run_report
from vta_core.studies.design import BASE, StudyDesign, Variant, study_design
from vta_core.studies.outputs import study_folder, write_study
from vta_core.studies.summary import VariantResult

PIPELINE_DEPLOYMENT = "vta-pipeline/vta-pipeline"


class StudyResult(BaseModel):
    kind: str
    folder: str
    markdown: str
    report: str = ""  # the base run's report, which includes this study


class StudyFailed(RuntimeError):
    """Some variants failed; the summary of the others is written. A retry re-runs only what failed."""


def _configs(design: StudyDesign, preset: str, config_file: str | None, overrides: list[str]) -> dict[str, VTAConfig]:
    """Every variant's config, validated before any work; one error lists every problem of every variant."""
    configs, problems = {}, []
    for variant in design.variants:
        try:
            configs[variant.name] = load_config(preset, config_file, [*overrides, *variant.overrides])
        except ConfigError as err:
            problems += [f"variant {variant.name}: {p}" for p in err.problems]
    if problems:
        raise ConfigError(problems)
    return configs


def _from_pipeline(name: str, result: PipelineResult, wall_s: float, protocol: str) -> VariantResult:
    import pandas as pd

    backtest = result.backtests.get(protocol)
    return VariantResult(
        name=name,
        errors=pd.read_parquet(require(result.errors).file("error_table.parquet")),
        backtest=pd.read_parquet(require(backtest).file("table4.parquet")) if backtest else None,
        run_folder=result.run_folder,
        wall_s=wall_s,
    )


def _in_process(name: str, cfg: VTAConfig) -> VariantResult:
    began = time.monotonic()
    result = (
        cached_pipeline(cfg, mark_latest=False, report=False) if cfg.runtime.cached_fast_path else None
    )  # a fully cached variant: no Prefect
    if result is None:
        state = vta_pipeline(preset=cfg.preset, config=cfg, mark_latest=False, report=False, return_state=True)
        if not state.is_completed():
            return VariantResult(name, None, None, wall_s=time.monotonic() - began, failure=state.name or "failed")
        result = state.result()
    return _from_pipeline(name, result, time.monotonic() - began, cfg.study.protocol)


def _dispatched(variants: list[Variant], configs: dict[str, VTAConfig]) -> dict[str, VariantResult]:
    """Start every variant on the pipeline deployment at once (its stage flows dispatch too), then wait for all."""
    runs = {}
    for variant in variants:
        cfg = configs[variant.name]
        config = cfg.model_dump(mode="json")
        parameters = {"preset": cfg.preset, "config": config, "dispatch": True, "mark_latest": False, "report": False}
        runs[variant.name] = start(PIPELINE_DEPLOYMENT, parameters, name=variant.name)
    results: dict[str, VariantResult] = {}
    for name, run in wait_all(runs).items():
        wall_s = (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else math.nan
        try:
            result = localized_for(
                PipelineResult.model_validate(result_of(PIPELINE_DEPLOYMENT, run)), configs[name].runtime
            )
        except DispatchError:
            results[name] = VariantResult(name, None, None, wall_s=wall_s, failure=run.state.name if run.state else "")
            continue
        results[name] = _from_pipeline(name, result, wall_s, configs[name].study.protocol)
    return results


@flow(name="vta-study", flow_run_name="study-{kind}-{preset}", persist_result=True)
def study_flow(
    kind: str = "sensitivity",
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    only: list[str] | None = None,
    dispatch: bool = False,
    config: VTAConfig | None = None,
) -> StudyResult:
    """kind: sensitivity or ablation; only: the sensitivity parameters to vary (default: `study.parameters`)."""
    cfg = resolve(preset, config_file, overrides, config)
    design = study_design(kind, cfg, tuple(only or ()))
    configs = _configs(design, preset, config_file, list(overrides or []))
    log, began = flow_logger(), time.monotonic()
    log.info("%s study: %d pipeline runs (%s)", kind, len(design.variants), ", ".join(configs))
    base = design.variant(BASE)
    # The base run first: it fills the cache every variant shares.
    results = _dispatched([base], configs) if dispatch else {BASE: _in_process(BASE, configs[BASE])}
    others = [v for v in design.variants if not v.is_base]
    if dispatch:
        if results[BASE].failure:
            raise DispatchError(f"the study's base run failed ({results[BASE].failure}); no variant started")
        results.update(_dispatched(others, configs))
    else:
        for variant in others:
            log.info("variant %s: %s", variant.name, " ".join(variant.overrides[len(base.overrides) :]))
            results[variant.name] = _in_process(variant.name, configs[variant.name])
    folder = study_folder(cfg, kind)
    markdown = write_study(folder, cfg, design, results, time.monotonic() - began)
    report = None
    if not results[BASE].failure:  # the base run's report, with this study in it
        report = write_run_report(Path(results[BASE].run_folder), studies=[folder])
        log.info("run report with the study at %s", report)
    publish(publish_study, folder, kind)
    failed = [name for name, result in results.items() if result.failure]
    if failed:
        raise StudyFailed(f"variants {failed} failed; the others are summarised in {folder}")
    log.info("%s study written to %s", kind, folder)
    return StudyResult(kind=kind, folder=str(folder), markdown=markdown, report=str(report) if report else "")
