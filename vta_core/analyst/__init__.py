"""Deterministic rule-based technical analyst: grounded narratives plus a simple forecast."""
