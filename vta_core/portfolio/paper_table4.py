"""The paper's portfolio numbers (arXiv 2511.08616, Table 4, StockNet test period); nothing else."""

from __future__ import annotations

SOURCE = "paper (arXiv 2511.08616, Table 4)"
# strategy -> metrics the paper reports (None where it does not report one). The paper's Sharpe is
# not defined the way ours is (issue 14: the reference notebook divides CAGR by volatility).
TABLE4: dict[str, dict[str, float | None]] = {
    "VTA": {"annual_return": 0.2409, "annual_volatility": 0.1185, "max_drawdown": -0.0883, "sharpe": 1.719},
    "TimeLLM": {"annual_return": None, "annual_volatility": None, "max_drawdown": None, "sharpe": 1.523},
    "CALF": {"annual_return": None, "annual_volatility": None, "max_drawdown": None, "sharpe": 1.4566},
}
