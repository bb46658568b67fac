"""Backtest stage: daily Markowitz on every model's test forecasts, with the benchmarks (issue 14).

Keyed on `backtest.portfolio`, the exchange calendar, the protocol name, the prompts' significant digits and the
cleaned-prices, window and prediction artifacts it reads: changing gamma or costs re-runs this stage only.
"""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_json
from vta_core.config.backtest_sections import Protocol
from vta_core.config.data_sections import CalendarConfig
from vta_core.config.portfolio_sections import PortfolioConfig
from vta_core.evaluation.protocol import protocol_markdown, protocol_summary
from vta_core.identities import REASONER_STAGE_MODELS, ModelId, StageName, label
from vta_core.portfolio import run_backtest, write_backtest
from vta_core.portfolio.market import PrintedCloses
from vta_core.progress import PercentHook
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_predictions, load_prices, load_windows

LOG = logging.getLogger(__name__)
PROTOCOL_TITLES = {
    "dates": "global date split (no look-ahead across tickers)",
    "run": "the run's own split (the paper's per-ticker split in every preset)",
}
# Models that answer a prompt whose prices are printed at prompt.significant_digits (the analyst writes the answers
# the reasoner learns): their mu is measured from the printed last close (PortfolioConfig.prompted_base). Not the
# released forecasts: the paper's prompts, and so their precision, are not released.
PROMPTED_MODELS: frozenset[str] = frozenset({ModelId.ANALYST, *REASONER_STAGE_MODELS.values()})


@stage(StageName.BACKTEST, unkeyed=("progress",))
def backtest_stage(
    portfolio: PortfolioConfig,
    calendar: CalendarConfig,
    protocol: Protocol,
    cleaned: ArtifactRef,
    windows: ArtifactRef,
    predictions: list[ArtifactRef],
    prompt_digits: int,
    out: StageOutput,
    progress: PercentHook | None = None,
) -> ArtifactRef:
    """Backtest every strategy; `progress(percent)`: decision days planned over all strategy runs.
    prompt_digits: the significant digits the prompts printed prices with (`prompt.significant_digits`)."""
    ws = load_windows(windows)
    frames = [load_predictions(ref) for ref in predictions]
    chosen = [f[f["split"].astype(str) == portfolio.split] for f in frames if not f.empty]
    table = pd.concat([f for f in chosen if not f.empty], ignore_index=True)
    scalers = pd.read_parquet(require(windows).file("scalers.parquet"))
    printed = PrintedCloses(PROMPTED_MODELS, prompt_digits) if portfolio.prompted_base == "as_printed" else None
    result = run_backtest(load_prices(cleaned), table, scalers, portfolio, calendar, progress, printed)
    summary = protocol_summary(ws)
    heading = f"### Portfolio backtest, protocol `{protocol}`: {PROTOCOL_TITLES[protocol]}\n\n"
    prompted = sorted(label(m) for m in PROMPTED_MODELS & set(result.metrics["strategy"]))
    base = (
        f"For {', '.join(prompted)}, mu is measured from the last close as the prompt printed it "
        f"({prompt_digits} significant digits), so that a flat answer is mu = 0 (`prompted_base: as_printed`).\n\n"
        if printed and prompted
        else ""
    )
    with out.writing() as folder:
        write_backtest(result, folder, preamble=heading + protocol_markdown(summary, protocol) + "\n" + base)
        write_json(folder / "protocol.json", {"protocol": protocol, **summary})
    decisions = len(result.decision_dates)
    LOG.info("backtest (%s): %d strategies over %d decisions", protocol, len(result.metrics), decisions)
    return out.ref
