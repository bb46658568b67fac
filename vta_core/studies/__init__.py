"""Sensitivity and ablation studies over the cached pipeline (issue 11)."""
