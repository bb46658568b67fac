"""Forecasts produced outside this project, mapped onto our windows."""
