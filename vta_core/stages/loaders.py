"""Readers of upstream artifacts that many stages share; nothing here computes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vta_core.artifacts import ArtifactRef, require
from vta_core.data import windows


def load_windows(ref: ArtifactRef) -> windows.WindowSet:
    return windows.WindowSet.load(require(ref).path)


def load_audit(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("audit.parquet"))


def load_prices(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("prices.parquet"))


def load_predictions(ref: ArtifactRef) -> pd.DataFrame:
    return pd.read_parquet(require(ref).file("predictions.parquet"))


def window_counts(window_set: windows.WindowSet) -> dict[str, int]:
    return {s: int(np.sum(window_set.index["split"] == s)) for s in windows.SPLITS}
