"""Classifier-free guidance: y = y_phi + s * (y_psi(c) - y_phi), with a fallback to y_phi."""

from __future__ import annotations

import numpy as np


def guided(y_phi: np.ndarray, y_psi: np.ndarray, scale: float, available: np.ndarray | None = None) -> np.ndarray:
    """Guided forecast (n, H). Where `available` is False (no usable reasoning forecast) it is y_phi exactly.

    s = 0 gives y_phi, s = 1 gives the conditional forecast, s > 1 extrapolates past it.
    """
    if y_phi.shape != y_psi.shape:
        raise ValueError(f"y_phi {y_phi.shape} and y_psi {y_psi.shape} differ in shape")
    out = y_phi + scale * (y_psi - y_phi)
    if available is not None:
        out = np.where(available[:, None], out, y_phi)
    return out
