"""Who narrates a `vta predict` forecast, and whether the final forecast is conditioned on that narrator.

The narrator is the run's stage-3 reasoner where its output parsed, else the rule-based analyst with the damping
the run chose on validation. The final forecast uses the reasoner only when the run fused it and guidance is on:
y = y_phi + s (y_psi(c) - y_phi) with c from the reasoner's forecast is y_phi itself when s = 0, and a window
without c (the reasoner's output did not parse) falls back to y_phi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta_core.identities import LABELS, ModelId

BACKBONE = "the forecast is the backbone's y_phi"


@dataclass(frozen=True)
class Narrators:
    ids: np.ndarray  # (n,) model id of each window's narrator
    labels: np.ndarray  # (n,) what a person reads


@dataclass(frozen=True)
class GuidanceChoice:
    """The guidance scale a run's reasoner fusion uses on new data, and the setting it came from."""

    scale: float
    setting: float | str  # `fusion.guidance_scale`: a number, or "validation"


@dataclass(frozen=True)
class FusionUse:
    uses_reasoner: np.ndarray  # (n,) bool: the final forecast is conditioned on the reasoner's forecast
    notes: np.ndarray  # (n,) one sentence: why it is or is not


def analyst_label(damping: float) -> str:
    return f"{LABELS[ModelId.ANALYST]} (damping phi = {damping:g})"


def reasoner_label(model: str) -> str:
    return f"{LABELS[ModelId.REASONER_STAGE3]}, model {model}"


def narrators(parsed: np.ndarray | None, n: int, damping: float, reasoner_model: str) -> Narrators:
    """`parsed`: per window, whether the reasoner's output parsed (None: the run has no reasoner)."""
    analyst = analyst_label(damping)
    if parsed is None:
        return Narrators(np.full(n, str(ModelId.ANALYST), dtype=object), np.full(n, analyst, dtype=object))
    ids = np.where(parsed, str(ModelId.REASONER_STAGE3), str(ModelId.ANALYST)).astype(object)
    labels = np.where(parsed, reasoner_label(reasoner_model), f"{analyst}; the reasoner's output did not parse")
    return Narrators(ids, labels.astype(object))


def _guided_note(choice: GuidanceChoice) -> str:
    validation = choice.setting == "validation"
    if choice.scale == 0 and validation:
        return f"validation chose guidance scale 0: {BACKBONE}"
    if choice.scale == 0:
        return f"the run's guidance scale is 0 (fusion.guidance_scale): {BACKBONE}"
    source = "chosen on validation" if validation else "fusion.guidance_scale"
    return (
        f"guided fusion with s = {choice.scale:g} ({source}): y_phi + s (y_psi(c) - y_phi), "
        "c from the reasoner's forecast"
    )


def fusion_use(has_reasoner: bool, choice: GuidanceChoice | None, available: np.ndarray | None, n: int) -> FusionUse:
    """`choice`: the guidance of the run's reasoner fusion (None: the run did not fuse its reasoner);
    `available`: per window, whether fusion had a condition c (the reasoner's output parsed)."""
    if not has_reasoner:
        note = "the run has no reasoner that can read new data (the released forecasts cover past windows only): "
        note += BACKBONE
        return FusionUse(np.zeros(n, dtype=bool), np.full(n, note, dtype=object))
    if choice is None or available is None:
        note = f"the run fused no model on its own reasoner's forecasts (fusion.sources): {BACKBONE}"
        return FusionUse(np.zeros(n, dtype=bool), np.full(n, note, dtype=object))
    missing = f"the reasoner's output did not parse, so fusion had no condition c: {BACKBONE}"
    notes = np.where(available, _guided_note(choice), missing).astype(object)
    return FusionUse(np.asarray(available, dtype=bool) & (choice.scale != 0), notes)
