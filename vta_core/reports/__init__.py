"""Reports over a finished run folder: Markdown with PNGs and a plain HTML rendering (no Prefect here)."""

from __future__ import annotations

from vta_core.reports.run_folder import ReportError, RunFolder
from vta_core.reports.run_report import write_run_report

__all__ = ["ReportError", "RunFolder", "write_run_report"]
