"""Error evaluation stage: per-ticker and summary MSE/MAE tables, Markdown beside the paper's rows."""

from __future__ import annotations

import logging

import pandas as pd

from vta_core.artifacts import ArtifactRef, ArtifactStore, StageSpec, require, stage_key, write_parquet, write_text
from vta_core.config.sections import EvaluationConfig
from vta_core.evaluation import errors, reasoning_quality, report

LOG = logging.getLogger(__name__)
ERRORS = StageSpec("error_evaluation", "2", (errors, report, reasoning_quality))


def error_evaluation_stage(
    evaluation: EvaluationConfig, windows: ArtifactRef, predictions: list[ArtifactRef], store: ArtifactStore
) -> ArtifactRef:
    key = stage_key(ERRORS, {"evaluation": evaluation, "windows": windows, "predictions": predictions})
    frames = [pd.read_parquet(require(ref).file("predictions.parquet")) for ref in predictions]
    empty = [f"{ref.stage}/{ref.key}" for ref, frame in zip(predictions, frames, strict=False) if frame.empty]
    if empty:  # e.g. a reasoner none of whose outputs parsed; kept out so column dtypes stay intact
        LOG.warning("no predictions in %s", ", ".join(empty))
    table = pd.concat([frame for frame in frames if not frame.empty], ignore_index=True)
    scalers = pd.read_parquet(require(windows).file("scalers.parquet"))
    per_ticker = errors.per_ticker_errors(table, scalers)
    summary = errors.summary_errors(per_ticker, evaluation.splits)
    markdown = report.error_markdown(summary, evaluation.markdown_digits, evaluation.show_paper_numbers)
    quality_files = [ref.file("quality.parquet") for ref in predictions if ref.file("quality.parquet").is_file()]
    quality = None
    if quality_files:
        quality = reasoning_quality.quality_summary(
            pd.concat([pd.read_parquet(f) for f in quality_files], ignore_index=True)
        )
        quality = quality[quality["split"].isin(evaluation.splits)]
        markdown += "\n" + report.quality_markdown(quality)
    with store.writing(ERRORS, key) as out:
        if quality is not None:
            write_parquet(out / "reasoning_quality.parquet", quality)
        write_parquet(out / "errors_per_ticker.parquet", per_ticker)
        write_parquet(out / "error_table.parquet", summary)
        write_text(out / "error_table.md", markdown)
    return store.ref(ERRORS, key)


def read_error_table(ref: ArtifactRef) -> tuple[pd.DataFrame, str]:
    require(ref)
    return pd.read_parquet(ref.file("error_table.parquet")), ref.file("error_table.md").read_text()
