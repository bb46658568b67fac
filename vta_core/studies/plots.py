"""One plot per sensitivity parameter: test MSE and net Sharpe against the parameter's value, per model, with
the seed spread as error bars. A base value that is not a number (s chosen on validation) is drawn as a dashed
horizontal line instead of a point."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on workers
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vta_core.artifacts import write_atomically  # noqa: E402
from vta_core.identities import label  # noqa: E402
from vta_core.studies.design import BASE, PARAMETER_LABELS  # noqa: E402


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def sensitivity_plot(summary: pd.DataFrame, parameter: str, base_value: str, path: Path) -> Path:
    rows = summary[(summary["parameter"] == parameter) | (summary["variant"] == BASE)].copy()
    rows["x"] = [
        _number(base_value if v == BASE else str(x)) for v, x in zip(rows["variant"], rows["value"], strict=True)
    ]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for model in dict.fromkeys(rows["model"]):
        points = rows[rows["model"] == model]
        numeric = points[points["x"].notna()].sort_values("x")
        for ax, column, spread in ((axes[0], "mse", "mse_std"), (axes[1], "sharpe_net", "sharpe_net_std")):
            if numeric[column].notna().any():
                line = ax.errorbar(
                    numeric["x"],
                    numeric[column],
                    yerr=numeric[spread].fillna(0.0),
                    marker="o",
                    capsize=3,
                    label=label(model),
                )
                base = points[(points["variant"] == BASE) & points["x"].isna()]
                if len(base) and pd.notna(base[column].iloc[0]):
                    ax.axhline(float(base[column].iloc[0]), linestyle="--", color=line[0].get_color(), alpha=0.6)
    title = PARAMETER_LABELS.get(parameter, parameter)
    note = "" if _number(base_value) is not None else f"dashed: the base run ({parameter} = {base_value})"
    axes[0].set(title=f"test MSE against {title}", xlabel=title, ylabel="MSE (standardised)")
    axes[1].set(title=f"net Sharpe against {title}", xlabel=title, ylabel="net Sharpe")
    if note:
        fig.suptitle(note, fontsize=9)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path
