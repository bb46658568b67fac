"""The example-window PNG: lookback history, the actual next prices and each drawn model's forecast, in prices."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: workers have no display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vta_core.artifacts import write_atomically  # noqa: E402
from vta_core.identities import ModelId  # noqa: E402
from vta_core.reports.examples import Example  # noqa: E402

# One colour, marker and line width per drawn model, the same in every example. The backbone is drawn wide
# and pale under VTA, which often sits on it (guidance moves little), so both stay visible.
STYLES: dict[str, tuple[str, str, float, float]] = {
    ModelId.PERSISTENCE: ("tab:gray", "s", 1.3, 1.0),
    ModelId.BACKBONE: ("tab:blue", "o", 3.2, 0.45),
    ModelId.VTA_REASONER: ("tab:green", "^", 1.2, 1.0),
    ModelId.REASONER_STAGE3: ("tab:orange", "D", 1.3, 1.0),
}


def value_limits(example: Example) -> tuple[float, float]:
    """Y limits that keep the observed prices readable: the range of history and actual prices, widened to the
    forecasts that lie within one such range of it; a wilder forecast point (a reasoner's sign slip) runs off
    the plot instead of squashing every other line."""
    observed = np.r_[example.history, example.actual]
    lo, hi = float(np.nanmin(observed)), float(np.nanmax(observed))
    span = max(hi - lo, 0.01 * max(abs(hi), 1.0))
    values = np.r_[observed, *[f.prices for f in example.forecasts]]
    kept = values[(values >= lo - span) & (values <= hi + span)]
    lo, hi = float(np.nanmin(kept)), float(np.nanmax(kept))
    pad = 0.08 * max(hi - lo, 0.01 * max(abs(hi), 1.0))
    return lo - pad, hi + pad


def plot_example(example: Example, path: Path) -> None:
    """PNG of one example window, written to a temporary name beside `path` and renamed."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        history_dates = pd.to_datetime(example.history_dates)
        target_dates = pd.to_datetime(example.target_dates)
        ax.plot(history_dates, example.history, "-o", color="black", markersize=3.5, linewidth=1.6, label="history")
        # The actual path continues from the last observed price, so the two read as one series.
        ax.plot(
            np.r_[history_dates[-1:], target_dates],
            np.r_[example.history[-1:], example.actual],
            "--o",
            color="black",
            markersize=3.5,
            linewidth=1.2,
            alpha=0.6,
            label="actual next prices",
        )
        lo, hi = value_limits(example)
        for forecast in example.forecasts:
            colour, marker, width, alpha = STYLES.get(forecast.model, ("tab:purple", "x", 1.3, 1.0))
            off = int(np.sum((forecast.prices < lo) | (forecast.prices > hi)))
            ax.plot(
                target_dates,
                forecast.prices,
                "-",
                marker=marker,
                color=colour,
                markersize=3.5,
                linewidth=width,
                alpha=alpha,
                label=forecast.description + (f" ({off} of {len(forecast.prices)} points off scale)" if off else ""),
            )
        ax.set_ylim(lo, hi)
        ax.axvline(history_dates[-1], color="grey", linewidth=0.7, linestyle=":")
        ax.set_title(
            f"{example.ticker}: {len(example.history)} sessions to {example.end_date.date()}, "
            f"next {len(example.actual)} sessions (fold {example.fold}, test)",
            fontsize=10,
        )
        ax.set_ylabel("Adj Close (price units)")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
        ax.grid(True, linewidth=0.4, alpha=0.5)
        ax.legend(loc="best", fontsize=7)
        fig.autofmt_xdate()
        fig.tight_layout()
        write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    finally:
        plt.close(fig)
