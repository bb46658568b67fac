"""The parent flow: data -> baselines -> reasoning -> backbone -> fusion -> evaluation, in-process or dispatched
to work pools."""

from prefect import flow, get_run_logger
from pydantic import BaseModel

from flows.backbone_flow import backbone_flow
from flows.baselines_flow import baselines_flow
from flows.common import resolve
from flows.data_flow import DataRefs, data_flow
from flows.dispatch import dispatched
from flows.evaluation_flow import evaluation_flow
from flows.fusion_flow import fusion_flow
from flows.reasoning_flow import ReasonerRefs, reasoning_flow
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig
from vta_core.identities import ModelId
from vta_core.runs import finish_run, start_run


class PipelineResult(BaseModel):
    run_folder: str
    data: DataRefs
    predictions: list[ArtifactRef]
    errors: ArtifactRef
    error_table_markdown: str


def _reasoner_inputs(reasoner: ReasonerRefs | None) -> dict:
    """What fusion needs from the reasoner: its final (stage 3) forecasts, including the train windows."""
    if reasoner is None:
        return {}
    return {"reasoner_forecasts": reasoner.final_generation, "reasoner_model": ModelId.REASONER_STAGE3}


@flow(name="vta-pipeline", flow_run_name="vta-{preset}", persist_result=True)
def vta_pipeline(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    dispatch: bool = False,
    config: VTAConfig | None = None,
) -> PipelineResult:
    """Run every stage; completed stages load from the cache, only changed or failed ones execute."""
    cfg = resolve(preset, config_file, overrides, config)
    folder = start_run(cfg)
    if dispatch:
        params = {"preset": preset, "config_file": config_file, "overrides": overrides}
        data = DataRefs.model_validate(dispatched("vta-data/vta-data", params))
        predictions = [ArtifactRef.model_validate(r) for r in dispatched("vta-baselines/vta-baselines", params)]
        reasoner = (
            ReasonerRefs.model_validate(dispatched("vta-reasoning/vta-reasoning", params))
            if cfg.reasoner.enabled
            else None
        )
        predictions += reasoner.predictions() if reasoner else []
        predictions += [ArtifactRef.model_validate(r) for r in dispatched("vta-backbone/vta-backbone", params)]
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
    else:
        data = data_flow(preset=cfg.preset, config=cfg)
        predictions = baselines_flow(preset=cfg.preset, config=cfg, data=data)
        reasoner = reasoning_flow(preset=cfg.preset, config=cfg, data=data) if cfg.reasoner.enabled else None
        predictions += reasoner.predictions() if reasoner else []
        predictions += backbone_flow(preset=cfg.preset, config=cfg, data=data)
        predictions += fusion_flow(preset=cfg.preset, config=cfg, data=data, **_reasoner_inputs(reasoner))
        errors = evaluation_flow(preset=cfg.preset, config=cfg, data=data, predictions=predictions)
    models = {str(ModelId.REASONER_STAGE3): reasoner.stage3} if reasoner else {}  # what `vta predict` loads
    finish_run(folder, {**dict(data), **models, "predictions": predictions}, errors)
    markdown = errors.file("error_table.md").read_text()
    get_run_logger().info("run folder %s; error table at %s", folder, folder / "error_table.md")
    return PipelineResult(
        run_folder=str(folder), data=data, predictions=predictions, errors=errors, error_table_markdown=markdown
    )
