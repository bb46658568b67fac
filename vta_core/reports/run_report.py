"""The run report: one Markdown page (and its HTML rendering) over a finished run folder.

Sections, in order: title (run, preset, seed, protocol), the error table, the `dates` protocol's error
table, the portfolio backtests with their equity curves, reasoning quality (when the error table does not
already hold it), studies, and example test windows with the models' forecasts and the reasoner's narrative.
Every file is written to a temporary name and renamed; images go to `report_assets/` in the run folder.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from vta_core.artifacts import write_text
from vta_core.evaluation.report import quality_markdown
from vta_core.identities import label
from vta_core.prompts.parser import CONTRADICTS
from vta_core.reports.examples import DRAWN_MODELS, Example, ExampleSet, example_windows
from vta_core.reports.plots import plot_example
from vta_core.reports.render import html_page
from vta_core.reports.run_folder import DATES_ERROR_TABLE, ReportError, RunFolder, require_file

LOG = logging.getLogger(__name__)
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
ASSETS = "report_assets"
EXAMPLE_PREFIX = "example_"
STUDY_SUMMARY = "summary.md"
_QUALITY_HEADING = re.compile(r"^#+\s*reasoning quality", re.IGNORECASE | re.MULTILINE)


def _link(target: Path, start: Path) -> str:
    """A relative, URL-quoted link from folder `start` to `target` (valid in Markdown and HTML)."""
    return quote(Path(os.path.relpath(target, start)).as_posix(), safe="/")


def _split_protocol(table: str) -> tuple[str | None, str]:
    """(the protocol note that opens an error table, the rest); (None, table) when it opens with none."""
    first, _, rest = table.lstrip().partition("\n\n")
    if first.startswith("Protocol "):
        return first.strip(), rest
    return None, table


def _title(run: RunFolder, protocol_note: str | None) -> str:
    split = run.setting("data", "split", "kind", default="?")
    lines = [
        f"# Run report: {run.name}",
        "",
        f"- preset: `{run.setting('preset', default='?')}`",
        f"- seed: {run.setting('seed', default='?')}",
        f"- split (data.split.kind): `{split}`",
        "",
        protocol_note or "The error table states no protocol.",
        "",
    ]
    return "\n".join(lines)


def _error_tables(run: RunFolder, table_rest: str) -> list[str]:
    sections = ["## Error table\n\n" + table_rest.strip() + "\n"]
    dates = run.path / DATES_ERROR_TABLE
    if dates.is_file():
        sections.append(
            "## Error table, protocol `dates` (the backtest's global date split)\n\n" + dates.read_text().strip() + "\n"
        )
    return sections


def _backtests(run: RunFolder) -> str:
    parts = ["## Portfolio backtest", ""]
    protocols = run.backtest_protocols()
    if not protocols:
        parts.append("The run has no portfolio backtest (backtest.enabled was false).\n")
    for protocol in protocols:
        parts.append((run.path / f"backtest_{protocol}.md").read_text().strip())
        curve = run.path / f"equity_curve_{protocol}.png"
        if curve.is_file():
            parts += ["", f"![Equity curve, protocol {protocol}]({_link(curve, run.path)})"]
        else:
            parts += ["", f"No equity curve for protocol `{protocol}`."]
        parts.append("")
    return "\n".join(parts)


def _reasoning_quality(run: RunFolder) -> str | None:
    """The reasoning-quality section, or None when the error table already holds it or there is none."""
    if _QUALITY_HEADING.search(run.error_table):
        return None
    ref = run.error_artifact()
    if ref is None or not ref.file("reasoning_quality.parquet").is_file():
        return None
    quality = pd.read_parquet(ref.file("reasoning_quality.parquet"))
    return "## Reasoning quality\n\n" + quality_markdown(quality)


def _studies(run: RunFolder, studies: Sequence[Path]) -> str | None:
    if not studies:
        return None
    parts = ["## Studies", ""]
    for study in map(Path, studies):
        summary = require_file(study / STUDY_SUMMARY, f"the summary of study {study.name!r}")
        parts += [f"### Study `{study.name}`", "", summary.read_text().strip(), ""]
        for image in sorted(study.glob("*.png")):
            parts += [f"![{image.stem}]({_link(image, run.path)})", ""]
    return "\n".join(parts)


def _blockquote(text: str) -> str:
    """`text` as a Markdown blockquote that keeps its line breaks (two trailing spaces); tags such as <think>
    are escaped so HTML shows them instead of hiding them."""
    lines = [f"> {html.escape(line, quote=False)}".rstrip() for line in text.strip().splitlines()]
    return "  \n".join(lines)


def _dates_range(dates: object) -> str:
    values = pd.to_datetime(pd.Series(dates))
    return f"{values.iloc[0].date()} to {values.iloc[-1].date()}"


def _example_markdown(number: int, example: Example, image: str, has_narratives: bool) -> str:
    drawn = ", ".join(f.description for f in example.forecasts) or "none"
    absent = ", ".join(label(m) for m in example.missing)
    lines = [
        f"### Example {number}: {example.ticker}, window ending {example.end_date.date()}",
        "",
        f"![{example.ticker} {example.end_date.date()}]({image})",
        "",
        f"- ticker: {example.ticker} (fold {example.fold}, test split)",
        f"- history: {_dates_range(example.history_dates)}; forecast dates: {_dates_range(example.target_dates)}",
        f"- scaler: price = z x {example.scale_std:.4f} + {example.scale_mean:.4f} (z: standardised Adj Close)",
        f"- forecasts drawn: {drawn}" + (f"; not available: {absent}" if absent else ""),
        "",
    ]
    if example.narrative is None:
        lines.append(
            "The run has no stage-3 reasoner, so this window has no narrative."
            if not has_narratives
            else "The stage-3 reasoner wrote no narrative for this window."
        )
    else:
        if example.narrative_valid:
            state = "parsed"
        elif example.narrative_error == CONTRADICTS:
            state = "was withheld: it contradicts the concluding sentence"
        else:
            state = f"did not parse ({example.narrative_error or 'unknown'})"
        lines += [
            f"Stage-3 reasoner narrative (numbers are standardised; the answer {state}):",
            "",
            _blockquote(example.narrative),
        ]
    return "\n".join(lines) + "\n"


def _examples(chosen: ExampleSet, images: list[str], seed: int) -> str:
    pool = (
        "test windows with a stage-3 reasoner narrative"
        if chosen.has_narratives
        else "test windows (the run has no stage-3 reasoner, so there is no narrative)"
    )
    models = ", ".join(label(m) for m in DRAWN_MODELS)
    parts = [
        "## Example test windows",
        "",
        f"{len(chosen.examples)} windows drawn with seed {seed} among the {chosen.candidates} {pool}. Each plot "
        f"shows the lookback history and the actual next prices (Adj Close in price units: standardised values "
        f"mapped back with the window's training scaler) and, where the run has them, the forecasts of {models} "
        "(first seed of each).",
        "",
    ]
    for number, (example, image) in enumerate(zip(chosen.examples, images, strict=True), start=1):
        parts.append(_example_markdown(number, example, image, chosen.has_narratives))
    return "\n".join(parts)


def _write_example_images(run: RunFolder, chosen: ExampleSet) -> list[str]:
    """One PNG per example under report_assets/; stale example PNGs of an earlier report are removed."""
    assets = run.path / ASSETS
    links, written = [], set()
    for number, example in enumerate(chosen.examples, start=1):
        name = f"{EXAMPLE_PREFIX}{number}_{example.ticker}_{example.end_date.date()}.png"
        plot_example(example, assets / name)
        written.add(name)
        links.append(_link(assets / name, run.path))
    for old in assets.glob(f"{EXAMPLE_PREFIX}*.png") if assets.is_dir() else ():
        if old.name not in written:
            old.unlink()
    return links


def write_run_report(run_folder: Path, studies: Sequence[Path] = (), examples: int = 4, seed: int = 0) -> Path:
    """Write report.md, report.html and report_assets/ into a finished run folder; return report.md's path.

    `studies`: study folders whose summary.md and PNGs are included (linked relative to the run folder).
    `examples`: how many test windows to draw (seeded by `seed`). A ReportError names any missing file.
    """
    if examples < 0:
        raise ValueError(f"examples must be >= 0, got {examples}")
    run = RunFolder.open(Path(run_folder))
    for study in studies:  # fail before writing anything
        require_file(Path(study) / STUDY_SUMMARY, f"the summary of study {Path(study).name!r}")
    protocol_note, table_rest = _split_protocol(run.error_table)
    sections = [_title(run, protocol_note), *_error_tables(run, table_rest), _backtests(run)]
    sections += [s for s in (_reasoning_quality(run), _studies(run, studies)) if s is not None]
    if examples:
        chosen = example_windows(run, examples, seed)
        sections.append(_examples(chosen, _write_example_images(run, chosen), seed))
    text = "\n".join(s.rstrip() + "\n" for s in sections)
    report = run.path / REPORT_MD
    write_text(report, text)
    write_text(run.path / REPORT_HTML, html_page(text, f"Run report: {run.name}"))
    LOG.info("wrote %s and %s", report, run.path / REPORT_HTML)
    return report


__all__ = ["REPORT_HTML", "REPORT_MD", "ReportError", "write_run_report"]
