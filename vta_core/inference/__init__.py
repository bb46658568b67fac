"""Forecast + narrative for the latest window of each ticker in new data, with a trained run (`vta predict`)."""
