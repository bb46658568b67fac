"""Backtest flow (cheap, the `vta-cpu` pool): daily Markowitz on every model's test forecasts."""

from prefect import flow

from flows.baselines_flow import baselines_flow
from flows.common import publish, resolve, subflow
from flows.data_flow import DataRefs, data_flow
from tasks.backtest_tasks import publish_backtest, run_backtest
from tasks.caching import bound
from tasks.runtime import artifact_root
from vta_core.artifacts import ArtifactRef
from vta_core.config import VTAConfig


@flow(name="vta-backtest", flow_run_name="backtest-{preset}-{protocol}", persist_result=True)
def backtest_flow(
    preset: str = "cpu",
    config_file: str | None = None,
    overrides: list[str] | None = None,
    config: VTAConfig | None = None,
    data: DataRefs | None = None,
    predictions: list[ArtifactRef] | None = None,
    protocol: str = "run",
) -> ArtifactRef:
    """On its own (no predictions given) it backtests the baselines of the configured run."""
    cfg = resolve(preset, config_file, overrides, config)
    data = data or subflow(data_flow, preset=cfg.preset, config=cfg)
    predictions = predictions or subflow(baselines_flow, preset=cfg.preset, config=cfg, data=data)
    portfolio, calendar = cfg.backtest.portfolio, cfg.data.calendar
    ref = bound(run_backtest, cfg.runtime)(
        portfolio,
        calendar,
        protocol,
        data.cleaned,
        data.windows,
        predictions,
        cfg.prompt.significant_digits,
        artifact_root(cfg.runtime),
    )
    publish(publish_backtest, ref, protocol)
    return ref
