"""Report helpers: the portfolio table in the paper's Table 4 layout, as a DataFrame and Markdown, and the
equity-curve PNG of net cumulative returns."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workers have no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vta_core.artifacts import write_atomically  # noqa: E402
from vta_core.identities import label  # noqa: E402
from vta_core.portfolio.paper_table4 import SOURCE, TABLE4  # noqa: E402

TABLE_COLUMNS = ["annual_return", "annual_volatility", "max_drawdown", "sharpe"]
BENCHMARK_ORDER = ("equal_weight", "buy_and_hold", "min_variance", "perfect_foresight")


def table4(metrics: pd.DataFrame, show_paper: bool = True) -> pd.DataFrame:
    """One row per strategy (ours, then the paper's), gross and net columns of Table 4, plus costs and CIs."""
    rows = []
    for r in metrics.to_dict("records"):
        row = {"strategy": r["strategy"], "source": "ours", "seeds": r["seeds"]}
        for basis in ("gross", "net"):
            for col in TABLE_COLUMNS:
                row[f"{col}_{basis}"] = r[f"{col}_{basis}"]
        row["sharpe_net_std"] = r.get("sharpe_net_std", float("nan"))
        for col in ("sortino_net", "calmar_net", "avg_turnover", "total_costs"):
            row[col] = r[col]
        for col in ("sharpe_low", "sharpe_high", "sharpe_diff_ew", "diff_low", "diff_high"):
            row[col] = r.get(col, float("nan"))
        rows.append(row)
    if show_paper:
        for name, values in TABLE4.items():
            # The paper reports one set of numbers (after costs, by its text): shown in the net columns.
            rows.append(
                {"strategy": name, "source": SOURCE, "seeds": "-"}
                | {f"{c}_net": (math.nan if values[c] is None else values[c]) for c in TABLE_COLUMNS}
            )
    return pd.DataFrame(rows)


def _fmt(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def table4_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    """Markdown of `table4(...)`: gross | net return, volatility, max drawdown, Sharpe, then the Sharpe CI."""
    head = ["strategy", "source", "seeds"]
    head += [f"{c} {b}".replace("_", " ") for b in ("gross", "net") for c in TABLE_COLUMNS]
    head += ["Sharpe net CI", "Sharpe - EW (CI)", "turnover/day", "costs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.to_dict("records"):
        cells = [label(str(r["strategy"])), str(r["source"]), str(r["seeds"])]
        for basis in ("gross", "net"):
            for col in TABLE_COLUMNS:
                cell = _fmt(r.get(f"{col}_{basis}", math.nan), digits)
                spread = r.get("sharpe_net_std", math.nan) if (col, basis) == ("sharpe", "net") else math.nan
                cells.append(cell + (f" ± {spread:.{digits}f}" if isinstance(spread, float) and spread > 0 else ""))
        low, high = r.get("sharpe_low", math.nan), r.get("sharpe_high", math.nan)
        cells.append("-" if pd.isna(low) else f"[{low:.2f}, {high:.2f}]")
        diff = r.get("sharpe_diff_ew", math.nan)
        cells.append("-" if pd.isna(diff) else f"{diff:+.2f} [{r['diff_low']:.2f}, {r['diff_high']:.2f}]")
        cells.append(_fmt(r.get("avg_turnover", math.nan)))
        cells.append(_fmt(r.get("total_costs", math.nan)))
        lines.append("| " + " | ".join(cells) + " |")
    notes = (
        "Returns are CAGR over 252 sessions; Sharpe = mean / std (ddof 1) x sqrt(252) of daily returns; "
        "CIs are block-bootstrap percentile intervals of the net Sharpe (paired with equal-weight for the "
        "difference). Paper rows are shown in the net columns."
    )
    return "\n".join(lines) + "\n\n" + notes + "\n"


def excluded_markdown(excluded: pd.DataFrame) -> str:
    """A paragraph naming the (model, seed) runs left out for their forecast coverage; empty when none is."""
    if excluded.empty:
        return ""
    runs = "; ".join(
        f"{label(str(r.model))}{'' if r.seed < 0 else f' seed {r.seed}'}: {r.forecasts:,} of {r.slots:,} "
        f"({100 * r.coverage:.1f} %)"
        for r in excluded.itertuples(index=False)
    )
    return (
        "\nNot backtested, for forecasting too few of the (decision date, ticker) slots any model forecasts "
        f"(`min_forecast_coverage`): {runs}. Their portfolios could hold only the tickers they forecast each day.\n"
    )


def equity_curve(daily: pd.DataFrame, path: Path, title: str = "Growth of 1 (net of costs)") -> None:
    """PNG of net wealth (growth of 1) on a log scale: every model (seed-averaged daily net return) and the
    benchmarks (dashed). Log scale, because perfect foresight ends tens of times above everything else.

    Written to a temporary name beside `path` and renamed, like every artifact.
    """
    mean = daily.groupby(["strategy", "date"], observed=True)["net"].mean().unstack("strategy").sort_index()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    colours = plt.get_cmap("tab20")  # 20 distinct colours; an integer picks the i-th
    try:
        for i, name in enumerate(mean.columns):
            wealth = (1.0 + mean[name].fillna(0.0)).cumprod()
            style = "--" if name in BENCHMARK_ORDER else "-"
            final = f" ({wealth.iloc[-1] - 1.0:+.0%})" if len(wealth) else ""
            ax.plot(
                wealth.index,
                wealth.to_numpy(),
                style,
                color=colours(i % 20),
                linewidth=1.3,
                label=label(str(name)) + final,
            )
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel("net wealth (log scale)")
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.legend(loc="upper left", fontsize=7, ncol=2)
        fig.autofmt_xdate()
        fig.tight_layout()
        write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)
