"""A study's folder under `<runtime.home>/studies/`: the design (every variant's overrides), the long summary
table, the Markdown a person reads (tables, wall times, plot links) and one PNG per sensitivity parameter."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from vta_core.artifacts import write_json, write_parquet, write_text
from vta_core.config.sections import VTAConfig
from vta_core.studies.design import BASE, PARAMETER_LABELS, StudyDesign, current_value
from vta_core.studies.plots import sensitivity_plot
from vta_core.studies.summary import (
    VariantResult,
    ablation_markdown,
    sensitivity_markdown,
    summarise,
    wall_time_markdown,
)

LOG = logging.getLogger(__name__)
STUDIES = "studies"


def study_folder(cfg: VTAConfig, kind: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = cfg.runtime.home / STUDIES / f"{stamp}-{kind}-{cfg.preset}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _noise_line(summary: pd.DataFrame) -> str:
    changed = summary[(summary["variant"] != BASE) & summary["d_mse"].notna()]
    counts = {k: int((changed["mse_noise"] == k).sum()) for k in ("inside", "outside", "n/a")}
    return (
        f"Of {len(changed)} changes in test MSE against the base run, {counts['outside']} lie outside seed noise "
        f"(marked *), {counts['inside']} inside it (marked 'noise'), and {counts['n/a']} belong to models trained "
        "once (no seed spread: read them against the Diebold-Mariano p-values of each run's error table). "
        "Net Sharpe changes are marked the same way against the seed spread of the Sharpe; every Sharpe also "
        "carries a bootstrap interval in the variant's own backtest table, typically about +-1.5 wide.\n"
    )


def write_study(
    folder: Path, cfg: VTAConfig, design: StudyDesign, results: dict[str, VariantResult], wall_s: float
) -> str:
    """Write every output of the study into `folder`; return its Markdown."""
    summary = summarise(design, results, cfg.study.models, cfg.study.noise_sigmas)
    base_values = {p: current_value(cfg, p) for p in PARAMETER_LABELS}
    title = f"## {design.kind.capitalize()} study, preset `{cfg.preset}`, seed {cfg.seed}\n\n"
    intro = (
        f"{len(design.variants)} pipeline runs (the base run and {len(design.variants) - 1} variants), each a "
        f"config override on the base; stages a variant does not reach load from the cache. Test split, "
        f"per-ticker mean MSE in standardised units; net Sharpe from the `{cfg.study.protocol}` backtest protocol. "
        f"Seeded models show the mean over their seeds; 'noise' marks a change within {cfg.study.noise_sigmas:g} "
        "standard deviations of the difference of seed means. Study wall time "
        f"{wall_s:.0f} s.\n\n"
    )
    if design.kind == "sensitivity":
        body = sensitivity_markdown(summary, design, base_values)
        plots = []
        for parameter in dict.fromkeys(v.parameter for v in design.variants if v.parameter):
            path = sensitivity_plot(summary, parameter, base_values[parameter], folder / f"sensitivity_{parameter}.png")
            plots.append(f"![{PARAMETER_LABELS[parameter]}]({path.name})")
        body += "\n" + "\n\n".join(plots) + "\n" if plots else ""
    else:
        body = ablation_markdown(summary, design)
    markdown = title + intro + body + "\n" + _noise_line(summary) + "\n### Variants\n\n" + wall_time_markdown(results)
    write_parquet(folder / "summary.parquet", summary)
    write_json(
        folder / "design.json",
        {
            "kind": design.kind,
            "variants": [dataclasses.asdict(v) for v in design.variants],
            "rows": [dataclasses.asdict(r) for r in design.rows],
        },
    )
    write_text(folder / "summary.md", markdown)
    LOG.info("%s study written to %s", design.kind, folder)
    return markdown
