"""Portfolio backtest (SPEC section 7, issue 14): daily Markowitz on each model's forecasts.

Entry point: `run_backtest(prices, predictions, scalers, config, calendar) -> BacktestResult`, then
`write_backtest(result, folder)`. Pure functions over pandas / numpy; no Prefect.
"""

from vta_core.portfolio.backtest import BacktestResult, run_backtest, write_backtest
from vta_core.portfolio.significance import DMResult, diebold_mariano, dm_versus_baseline

__all__ = ["BacktestResult", "DMResult", "diebold_mariano", "dm_versus_baseline", "run_backtest", "write_backtest"]
