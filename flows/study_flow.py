"""Study flow: sensitivity or ablation. Runs the pipeline once per variant (the base config plus an override set),
then writes one summary with tables, plots and Prefect artifacts. Every stage a variant does not reach is a cache
hit, so a guidance-scale variant costs seconds and only the variants that re-train pay for training.

In-process (default) the variants run one after the other as sub-flows. With `dispatch=true` the base run goes
first (it fills the cache every variant shares), then every variant is started on the `vta-pipeline` deployment
at once, so they run concurrently on the available workers.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_client
from prefect.deployments import run_deployment
from pydantic import BaseModel

from flows.common import flow_logger, publish, resolve
from flows.dispatch import DispatchError
from flows.pipeline import PipelineResult, cached_pipeline, vta_pipeline
from tasks.study_tasks import publish_study
from vta_core.artifacts import require
from vta_core.config import ConfigError, VTAConfig, load_config
from vta_core.reports import write_run_report
from vta_core.studies.design import BASE, StudyDesign, Variant, study_design
from vta_core.studies.outputs import study_folder, write_study
from vta_core.studies.summary import VariantResult

PIPELINE_DEPLOYMENT = "vta-pipeline/vta-pipeline"
POLL_SECONDS = 5.0


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
    start = time.monotonic()
    result = (
        cached_pipeline(cfg, mark_latest=False, report=False) if cfg.runtime.cached_fast_path else None
    )  # a fully cached variant: no Prefect
    if result is None:
        state = vta_pipeline(preset=cfg.preset, config=cfg, mark_latest=False, report=False, return_state=True)
        if not state.is_completed():
            return VariantResult(name, None, None, wall_s=time.monotonic() - start, failure=state.name or "failed")
        result = state.result()
    return _from_pipeline(name, result, time.monotonic() - start, cfg.study.protocol)


def _dispatched(variants: list[Variant], configs: dict[str, VTAConfig]) -> dict[str, VariantResult]:
    """Start every variant on the pipeline deployment at once (its stage flows dispatch too), then wait for all."""
    started = {}
    for variant in variants:
        cfg = configs[variant.name]
        parameters = {
            "preset": cfg.preset,
            "config": cfg.model_dump(mode="json"),
            "dispatch": True,
            "mark_latest": False,
        }
        run = run_deployment(PIPELINE_DEPLOYMENT, parameters=parameters, timeout=0, flow_run_name=variant.name)
        started[variant.name] = (run.id, time.monotonic())
    results: dict[str, VariantResult] = {}
    with get_client(sync_client=True) as client:
        while len(results) < len(started):
            for name, (run_id, start) in started.items():
                if name in results:
                    continue
                run = client.read_flow_run(run_id)
                if run.state is None or not run.state.is_final():
                    continue
                wall_s = time.monotonic() - start
                if not run.state.is_completed():
                    results[name] = VariantResult(name, None, None, wall_s=wall_s, failure=run.state.name)
                    continue
                result = PipelineResult.model_validate(_plain(run.state.result()))
                results[name] = _from_pipeline(name, result, wall_s, configs[name].study.protocol)
            if len(results) < len(started):
                time.sleep(POLL_SECONDS)
    return results


def _plain(value: object) -> object:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


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
    log, start = flow_logger(), time.monotonic()
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
    markdown = write_study(folder, cfg, design, results, time.monotonic() - start)
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
