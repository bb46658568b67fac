"""Markdown error tables: our models beside the paper's numbers, persistence always shown."""

from __future__ import annotations

import pandas as pd

from vta_core.evaluation.paper_numbers import SOURCE, paper_rows
from vta_core.identities import label


def _p_value(p: float | None) -> str:
    if p is None or pd.isna(p):
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def error_markdown(summary: pd.DataFrame, digits: int = 4, show_paper: bool = True) -> str:
    sections = []
    for split in [s for s in ("test", "val", "train") if s in set(summary["split"])]:
        ours = summary[summary["split"] == split]
        lines = [
            f"### {split} split: MSE / MAE in the standardised space, averaged per ticker then across tickers",
            "",
            "MAPE % is in price space (each ticker's training scaler inverted). Paper rows are StockNet test. "
            "DM p: Diebold-Mariano test (Harvey-Leybourne-Newbold) of the model's daily squared errors against "
            "persistence's on the same windows (first seed); a p above 0.05 means the difference is inside the noise.",
            "",
            "| model | source | seeds | MSE | MAE | MAPE % | tickers | windows | DM p vs persistence |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ours.itertuples(index=False):
            spread = lambda v, s: f"{v:.{digits}f}" + (f" ± {s:.{digits}f}" if s > 0 else "")  # noqa: E731
            lines.append(
                f"| {label(r.model)} | ours | {r.seeds} | {spread(r.mse, r.mse_std)} | {spread(r.mae, r.mae_std)} | "
                f"{r.mape:.2f} | {r.tickers} | {r.windows} | {_p_value(getattr(r, 'dm_p_vs_persistence', None))} |"
            )
        if show_paper and split == "test":
            for r in paper_rows().itertuples(index=False):
                lines.append(f"| {r.model} | {SOURCE} | - | {r.mse:.{digits}f} | {r.mae:.{digits}f} | - | 88 | - | - |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def quality_markdown(quality: pd.DataFrame) -> str:
    """Reasoning quality of every model that writes narratives."""
    pct = lambda v: "-" if pd.isna(v) else f"{100 * v:.1f}%"  # noqa: E731
    lines = [
        "### Reasoning quality of narratives",
        "",
        "| model | split | narratives | format valid | numeric grounding | claim consistency | conclusion agrees |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in quality.itertuples(index=False):
        lines.append(
            f"| {label(r.model)} | {r.split} | {r.narratives} | {pct(r.format_valid)} | {pct(r.grounding)} | "
            f"{pct(r.consistency)} | {pct(r.conclusion_agreement)} |"
        )
    return "\n".join(lines) + "\n"
