"""Study results: one long table (variant x model: test MSE / MAE, net Sharpe, the change against the base run
and whether it is inside seed noise), the Markdown tables a person reads, and one plot per parameter."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vta_core.identities import label
from vta_core.studies.design import BASE, PARAMETER_LABELS, StudyDesign

SPLIT = "test"
COLUMNS = [
    "variant",
    "parameter",
    "value",
    "model",
    "mse",
    "mae",
    "mse_std",
    "seeds",
    "windows",
    "sharpe_net",
    "sharpe_net_std",
    "d_mse",
    "d_sharpe",
    "mse_noise",
    "sharpe_noise",
    "wall_s",
]


@dataclass(frozen=True)
class VariantResult:
    """What one variant's pipeline run produced (None tables when it failed)."""

    name: str
    errors: pd.DataFrame | None  # the evaluation's error_table.parquet
    backtest: pd.DataFrame | None  # the backtest's table4.parquet (strategy rows)
    run_folder: str = ""
    wall_s: float = math.nan
    failure: str = ""


def _seed_count(seeds: object) -> int:
    text = str(seeds)
    return 1 if text in ("", "-", "nan") else len(text.split(","))


def _noise(diff: float, std_variant: float, std_base: float, n_variant: int, n_base: int, sigmas: float) -> str:
    """'inside' / 'outside' seed noise, or 'n/a' for a model trained once (no seed spread to compare with).
    The standard deviation of the difference of two seed means is sqrt(s1^2 / n1 + s2^2 / n2)."""
    if min(n_variant, n_base) < 2 or not np.isfinite(diff):
        return "n/a"
    spread = math.sqrt(std_variant**2 / n_variant + std_base**2 / n_base)
    return "inside" if abs(diff) <= sigmas * spread else "outside"


def _metrics(result: VariantResult, model: str) -> dict[str, float | int | str]:
    out: dict[str, float | int | str] = {
        "mse": math.nan,
        "mae": math.nan,
        "mse_std": math.nan,
        "seeds": "",
        "windows": 0,
        "sharpe_net": math.nan,
        "sharpe_net_std": math.nan,
    }
    if result.errors is not None:
        rows = result.errors[(result.errors["model"] == model) & (result.errors["split"] == SPLIT)]
        if len(rows):
            row = rows.iloc[0]
            out.update(
                mse=float(row["mse"]),
                mae=float(row["mae"]),
                mse_std=float(row["mse_std"]),
                seeds=str(row["seeds"]),
                windows=int(row["windows"]),
            )
    if result.backtest is not None:
        rows = result.backtest[result.backtest["strategy"] == model]
        if len(rows):
            out.update(
                sharpe_net=float(rows.iloc[0]["sharpe_net"]), sharpe_net_std=float(rows.iloc[0]["sharpe_net_std"])
            )
    return out


def summarise(
    design: StudyDesign, results: dict[str, VariantResult], models: tuple[str, ...], sigmas: float
) -> pd.DataFrame:
    """The long table: every (variant, model) the study reports, with the change against the base run."""
    pairs = (
        [(row.variant, row.model) for row in design.rows]
        if design.rows
        else [(v.name, m) for v in design.variants for m in models]
    )
    base = results.get(BASE)
    records = []
    for name, model in pairs:
        variant, result = design.variant(name), results.get(name)
        values = _metrics(result, model) if result else _metrics(VariantResult(name, None, None), model)
        ref = _metrics(base, model) if base else values
        n, n_ref = _seed_count(values["seeds"]), _seed_count(ref["seeds"])
        d_mse = float(values["mse"]) - float(ref["mse"])
        d_sharpe = float(values["sharpe_net"]) - float(ref["sharpe_net"])
        records.append(
            {
                "variant": name,
                "parameter": variant.parameter or "",
                "value": variant.value,
                "model": model,
                **values,
                "d_mse": d_mse,
                "d_sharpe": d_sharpe,
                "mse_noise": _noise(d_mse, float(values["mse_std"]), float(ref["mse_std"]), n, n_ref, sigmas),
                "sharpe_noise": _noise(
                    d_sharpe, float(values["sharpe_net_std"]), float(ref["sharpe_net_std"]), n, n_ref, sigmas
                ),
                "wall_s": result.wall_s if result else math.nan,
            }
        )
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def _num(value: float, digits: int = 4) -> str:
    return "-" if not np.isfinite(value) else f"{value:.{digits}f}"


def _delta(value: float, noise: str, digits: int = 4) -> str:
    if not np.isfinite(value):
        return "-"
    mark = {"inside": " (noise)", "outside": " *", "n/a": ""}[noise]
    return f"{value:+.{digits}f}{mark}"


def sensitivity_markdown(summary: pd.DataFrame, design: StudyDesign, base_values: dict[str, str]) -> str:
    """One table per parameter: a row per value (the base run's value first) and model, with test MSE, MAE and
    net Sharpe and their change against the base run. Models no run produced (e.g. the own reasoner's VTA row
    when the reasoner is off) are left out."""
    present = summary.groupby("model", sort=False)[["mse", "sharpe_net"]].apply(lambda f: f.notna().any().any())
    models = [m for m in dict.fromkeys(summary["model"]) if present[m]]
    parts = []
    for parameter in dict.fromkeys(v.parameter for v in design.variants if v.parameter):
        rows = summary[((summary["parameter"] == parameter) | (summary["variant"] == BASE))]
        lines = [
            f"#### {PARAMETER_LABELS[parameter]}\n",
            "| value | model | test MSE | change | MAE | net Sharpe | change | seeds |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for name in dict.fromkeys(rows["variant"]):
            block = rows[rows["variant"] == name].set_index("model")
            value = f"{base_values[parameter]} (base run)" if name == BASE else str(block["value"].iloc[0])
            for m in models:
                r = block.loc[m]
                d_mse = "-" if name == BASE else _delta(r["d_mse"], r["mse_noise"])
                d_sharpe = "-" if name == BASE else _delta(r["d_sharpe"], r["sharpe_noise"], 2)
                lines.append(
                    f"| {value} | {label(m)} | {_num(r['mse'])} | {d_mse} | {_num(r['mae'])} | "
                    f"{_num(r['sharpe_net'], 2)} | {d_sharpe} | {r['seeds'] or '-'} |"
                )
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def ablation_markdown(summary: pd.DataFrame, design: StudyDesign) -> str:
    lines = [
        "| ablation row | variant | test MSE | change vs base run | MAE | net Sharpe | seeds | windows | paper MSE |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row, record in zip(design.rows, summary.itertuples(index=False), strict=True):
        paper = "-" if row.paper_mse is None else f"{row.paper_mse:.4f}"
        change = "-" if row.variant == BASE else _delta(record.d_mse, record.mse_noise)
        lines.append(
            f"| {row.label} | {row.variant} | {_num(record.mse)} | {change} | {_num(record.mae)} | "
            f"{_num(record.sharpe_net, 2)} | {record.seeds or '-'} | {record.windows} | {paper} |"
        )
    return "\n".join(lines) + "\n"


def wall_time_markdown(results: dict[str, VariantResult]) -> str:
    lines = ["| variant | wall time (s) | run folder | status |", "|---|---:|---|---|"]
    for name, result in results.items():
        status = f"failed: {result.failure}" if result.failure else "completed"
        lines.append(f"| {name} | {_num(result.wall_s, 1)} | {result.run_folder or '-'} | {status} |")
    return "\n".join(lines) + "\n"
