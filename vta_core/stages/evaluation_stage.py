"""Error evaluation stage: per-ticker and summary MSE/MAE tables, Markdown beside the paper's rows."""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet, write_text
from vta_core.config.evaluation_sections import EvaluationConfig
from vta_core.evaluation import errors, reasoning_quality, report
from vta_core.evaluation.protocol import protocol_markdown, protocol_summary
from vta_core.identities import ModelId, StageName
from vta_core.portfolio.significance import dm_versus_baseline
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


@stage(StageName.ERRORS)
def error_evaluation_stage(
    evaluation: EvaluationConfig, windows: ArtifactRef, predictions: list[ArtifactRef], out: StageOutput
) -> ArtifactRef:
    frames = [pd.read_parquet(require(ref).file("predictions.parquet")) for ref in predictions]
    empty = [f"{ref.stage}/{ref.key}" for ref, frame in zip(predictions, frames, strict=False) if frame.empty]
    if empty:  # e.g. a reasoner none of whose outputs parsed; kept out so column dtypes stay intact
        LOG.warning("no predictions in %s", ", ".join(empty))
    table = pd.concat([frame for frame in frames if not frame.empty], ignore_index=True)
    scalers = pd.read_parquet(require(windows).file("scalers.parquet"))
    per_ticker = errors.per_ticker_errors(table, scalers)
    summary = errors.summary_errors(per_ticker, evaluation.splits)
    summary["dm_p_vs_persistence"] = [
        dm_p_value(table, m, split) for m, split in zip(summary["model"], summary["split"], strict=True)
    ]
    protocol = protocol_summary(load_windows(windows))
    markdown = (
        protocol_markdown(protocol)
        + "\n"
        + report.error_markdown(summary, evaluation.markdown_digits, evaluation.show_paper_numbers)
    )
    quality_files = [ref.file("quality.parquet") for ref in predictions if ref.file("quality.parquet").is_file()]
    quality = None
    if quality_files:
        quality = reasoning_quality.quality_summary(
            pd.concat([pd.read_parquet(f) for f in quality_files], ignore_index=True)
        )
        quality = quality[quality["split"].isin(evaluation.splits)]
        markdown += "\n" + report.quality_markdown(quality)
    with out.writing() as folder:
        if quality is not None:
            write_parquet(folder / "reasoning_quality.parquet", quality)
        write_parquet(folder / "errors_per_ticker.parquet", per_ticker)
        write_parquet(folder / "error_table.parquet", summary)
        write_text(folder / "error_table.md", markdown)
        write_json(folder / "protocol.json", protocol)
    return out.ref


def dm_p_value(table: pd.DataFrame, model: str, split: str) -> float:
    """Diebold-Mariano p-value of a model's errors against persistence's on their common windows (first seed);
    NaN for persistence itself or where the two share no window."""
    if model == ModelId.PERSISTENCE:
        return float("nan")
    try:
        return dm_versus_baseline(table, model, baseline=ModelId.PERSISTENCE, split=split).p_value
    except ValueError:  # no common windows (e.g. persistence not configured)
        return float("nan")


def read_error_table(ref: ArtifactRef) -> tuple[pd.DataFrame, str]:
    require(ref)
    return pd.read_parquet(ref.file("error_table.parquet")), ref.file("error_table.md").read_text()
