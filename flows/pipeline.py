"""The parent flow: data -> baselines -> reasoning -> backbone -> fusion -> evaluation -> backtest, in-process or
dispatched to work pools. The backtest's `dates` protocol runs the model stages a second time on the global
date split (`backtest.date_split`); stages that do not read the split stay cached."""

from prefect import flow
from pydantic import BaseModel

from flows.backbone_flow import backbone_flow
from flows.backtest_flow import backtest_flow
from flows.baselines_flow import baselines_flow
from flows.common import flow_logger, publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from flows.dispatch import dispatched, dispatched_together
from flows.evaluation_flow import evaluation_flow
from flows.fusion_flow import fusion_flow
from flows.reasoning_flow import ReasonerRefs, reasoning_flow
from tasks.caching import CACHE_ONLY, NotCached
from tasks.evaluation_tasks import publish_run_folder
from tasks.remote import localized_for
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.config.protocols import date_protocol_config
from vta_core.identities import ModelId
from vta_core.reports import write_run_report
from vta_core.runs import RunOutputs, finish_run, start_run


class ModelRun(BaseModel):
    """Everything one pass over the model stages produced (one split protocol)."""

    data: DataRefs
    predictions: list[ArtifactRef]
    reasoner: ReasonerRefs | None
    errors: ArtifactRef


class PipelineResult(BaseModel):
    run_folder: str
    data: DataRefs
    predictions: list[ArtifactRef]
    errors: ArtifactRef
    error_table_markdown: str
    backtests: dict[str, ArtifactRef] = {}
    backtest_markdown: str = ""
    date_protocol_predictions: list[ArtifactRef] = []  # the `dates` protocol's own pass, when it ran


def _reasoner_inputs(reasoner: ReasonerRefs | None) -> dict:
    """What fusion needs from the reasoner: its final (stage 3) forecasts, including the train windows."""
    if reasoner is None:
        return {}
    return {"reasoner_forecasts": reasoner.final_generation, "reasoner_model": ModelId.REASONER_STAGE3}


def _in_process(cfg: VTAConfig) -> ModelRun:
    data = subflow(data_flow, preset=cfg.preset, config=cfg)
    predictions = subflow(baselines_flow, preset=cfg.preset, config=cfg, data=data)
    reasoner = subflow(reasoning_flow, preset=cfg.preset, config=cfg, data=data) if cfg.reasoner.enabled else None
    predictions += reasoner.predictions() if reasoner else []
    predictions += subflow(backbone_flow, preset=cfg.preset, config=cfg, data=data)
    predictions += subflow(fusion_flow, preset=cfg.preset, config=cfg, data=data, **_reasoner_inputs(reasoner))
    errors = subflow(evaluation_flow, preset=cfg.preset, config=cfg, data=data, predictions=predictions)
    return ModelRun(data=data, predictions=predictions, reasoner=reasoner, errors=errors)


def _dispatched(cfg: VTAConfig) -> ModelRun:
    """Each stage flow on its pool, with the resolved config (so a derived protocol config travels exactly).
    Baselines, reasoning and backbone need only the data, so they run concurrently on their pools."""
    params = {"preset": cfg.preset, "config": cfg.model_dump(mode="json")}
    data = DataRefs.model_validate(dispatched("vta-data/vta-data", params))
    independent = {
        "baselines": ("vta-baselines/vta-baselines", params),
        "backbone": ("vta-backbone/vta-backbone", params),
    }
    if cfg.reasoner.enabled:
        independent["reasoning"] = ("vta-reasoning/vta-reasoning", params)
    results = dispatched_together(independent)
    predictions = [ArtifactRef.model_validate(r) for r in results["baselines"]]
    reasoner = ReasonerRefs.model_validate(results["reasoning"]) if cfg.reasoner.enabled else None
    predictions += reasoner.predictions() if reasoner else []
    predictions += [ArtifactRef.model_validate(r) for r in results["backbone"]]
    fusion_params = {
        **params,
        **{
            k: v.model_dump(mode="json") if isinstance(v, ArtifactRef) else v
            for k, v in _reasoner_inputs(reasoner).items()
        },
    }
    predictions += [ArtifactRef.model_validate(r) for r in dispatched("vta-fusion/vta-fusion", fusion_params)]
    # Evaluation gets every prediction explicitly (on its own it would only rebuild the baselines).
    errors = ArtifactRef.model_validate(
        dispatched(
            "vta-evaluation/vta-evaluation",
            {
                **params,
                "data": data.model_dump(mode="json"),
                "predictions": [r.model_dump(mode="json") for r in predictions],
            },
        )
    )
    # The stage flows' refs name folders on the hosts that ran them: with runtime.storage, this host's copies.
    return localized_for(ModelRun(data=data, predictions=predictions, reasoner=reasoner, errors=errors), cfg.runtime)


def _backtest(cfg: VTAConfig, run: ModelRun, protocol: str, dispatch: bool) -> ArtifactRef:
    if not dispatch:
        return subflow(
            backtest_flow, preset=cfg.preset, config=cfg, data=run.data, predictions=run.predictions, protocol=protocol
        )
    params = {
        "preset": cfg.preset,
        "config": cfg.model_dump(mode="json"),
        "data": run.data.model_dump(mode="json"),
        "predictions": [r.model_dump(mode="json") for r in run.predictions],
        "protocol": protocol,
    }
    return localized_for(ArtifactRef.model_validate(dispatched("vta-backtest/vta-backtest", params)), cfg.runtime)


@flow(name="vta-pipeline", flow_run_name="vta-{preset}", persist_result=True)
def vta_pipeline(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    dispatch: bool = False,
    config: VTAConfig | None = None,
    mark_latest: bool = True,
    report: bool = True,
) -> PipelineResult:
    """Run every stage; completed stages load from the cache, only changed or failed ones execute.
    mark_latest=false leaves LATEST (what `vta show` prints) alone; report=false writes no run report (a study's
    variants use both: the study reports on its base run)."""
    cfg = resolve(preset, config_file, overrides, config)
    passes = _dispatched if dispatch else _in_process
    main = passes(cfg)
    backtests: dict[str, ArtifactRef] = {}
    date_errors, date_predictions = None, []
    if cfg.backtest.enabled:
        for protocol in cfg.backtest.protocols:
            if protocol == "dates":
                date_cfg = date_protocol_config(cfg)
                date_run = passes(date_cfg)
                date_errors, date_predictions = date_run.errors, date_run.predictions
                backtests[protocol] = _backtest(date_cfg, date_run, protocol, dispatch)
            else:
                backtests[protocol] = _backtest(cfg, main, protocol, dispatch)
    models = {str(ModelId.REASONER_STAGE3): main.reasoner.stage3} if main.reasoner else {}  # for `vta predict`
    folder = start_run(cfg)  # written once every stage is done, so a failed or cache-only attempt leaves none
    outputs = RunOutputs(errors=main.errors, date_protocol_errors=date_errors, backtests=backtests)
    refs = {**dict(main.data), **models, "errors": main.errors, "predictions": main.predictions}
    finish_run(folder, refs, outputs, mark_latest)
    report_path = write_run_report(folder) if report else None
    publish(publish_run_folder, folder, report_path)
    markdown = main.errors.file("error_table.md").read_text()
    backtest_markdown = "\n".join(ref.file("table4.md").read_text() for ref in backtests.values())
    flow_logger().info("run folder %s; error table at %s", folder, folder / "error_table.md")
    return PipelineResult(
        run_folder=str(folder),
        data=main.data,
        predictions=main.predictions,
        errors=main.errors,
        error_table_markdown=markdown,
        backtests=backtests,
        backtest_markdown=backtest_markdown,
        date_protocol_predictions=date_predictions,
    )


def cached_pipeline(cfg: VTAConfig, mark_latest: bool = True, report: bool = True) -> PipelineResult | None:
    """The pipeline with every stage served from the artifact store, without starting Prefect; None (and
    nothing written) as soon as one stage is not cached. `vta run` tries this first in embedded mode."""
    token = CACHE_ONLY.set(True)
    try:
        result = vta_pipeline.fn(preset=cfg.preset, config=cfg, mark_latest=mark_latest, report=report)
    except NotCached as miss:
        flow_logger().info("not every stage is cached (%s): running the pipeline under Prefect", miss)
        return None
    finally:
        CACHE_ONLY.reset(token)
    flow_logger().info("every stage was cached: served from the artifact store without starting Prefect")
    return result
