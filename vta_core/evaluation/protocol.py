"""What a split protocol lets pooled models see: the latest date any of them trained or selected on
against the first test decision. Under the paper's per-ticker split, late listings put training and
validation targets inside the other tickers' test period; a global date split does not."""

from __future__ import annotations

from typing import Any

import pandas as pd

from vta_core.data.windows import WindowSet


def protocol_summary(ws: WindowSet) -> dict[str, Any]:
    """latest_fit_target: the last target date of any train or validation window (pooled models fit and
    select on those); first_test_decision: the first test window's last input day; looks_ahead: whether
    the first is after the second, with the tickers whose fitting data reach past it."""
    split = ws.index["split"].astype(str).to_numpy()
    fit, test = split != "test", split == "test"
    if not fit.any() or not test.any():
        return {"latest_fit_target": None, "first_test_decision": None, "looks_ahead": False, "tickers": []}
    last_target = pd.Series(ws.target_dates()[:, -1]).dt.normalize()
    latest_fit = last_target[fit].max()
    first_decision = pd.Series(ws.index["end_date"].to_numpy()[test]).dt.normalize().min()
    tickers = ws.index["ticker"].astype(str).to_numpy()
    late = sorted(set(tickers[fit & (last_target > first_decision).to_numpy()]))
    return {
        "latest_fit_target": str(latest_fit.date()),
        "first_test_decision": str(first_decision.date()),
        "looks_ahead": bool(latest_fit > first_decision),
        "tickers": late,
    }


def protocol_markdown(summary: dict[str, Any], name: str = "split") -> str:
    if summary["latest_fit_target"] is None:
        return f"Protocol `{name}`: no train/validation or no test windows.\n"
    verdict = (
        f"**looks ahead across tickers** (fitting data of {', '.join(map(str, summary['tickers']))} "
        "reach past the first decision)"
        if summary["looks_ahead"]
        else "no look-ahead: every pooled model fit and selected on data before the first decision"
    )
    return (
        f"Protocol `{name}`: latest date any pooled model trained or selected on {summary['latest_fit_target']}; "
        f"first test decision {summary['first_test_decision']}: {verdict}.\n"
    )
