"""Progress of long stages as Prefect progress artifacts.

vta_core reports progress through a plain `progress(percent)` callable (`vta_core/progress.py`);
`progress_hook(key, description)` is such a callable that creates a progress artifact on its first
call and updates it when progress has moved by `every` percent or reached 100, so a long loop costs
a few dozen API calls, not one per step. A failing artifact call is logged and ends the updates,
never the stage: observability must not fail a run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from uuid import UUID

import httpx
from prefect.artifacts import create_progress_artifact, update_progress_artifact

LOG = logging.getLogger(__name__)
PREFIX = "vta-progress"
EVERY = 5.0
DONE = 100.0
# Prefect's rule for artifact keys (prefect.types.names): lowercase letters, digits and dashes.
KEY_PATTERN = re.compile(r"^[a-z0-9-]+$")
# What a progress-artifact call can raise when the API is unreachable or refuses the call.
ARTIFACT_ERRORS: tuple[type[BaseException], ...] = (httpx.HTTPError, OSError)


def artifact_key(*parts: object) -> str:
    """A valid artifact key from parts: lowercased, anything but letters, digits and dashes becomes a dash."""
    text = "-".join(str(part) for part in parts).lower()
    key = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text)).strip("-")
    if not KEY_PATTERN.match(key):
        raise ValueError(f"no artifact key can be made from {parts!r}")
    return key


def progress_key(*parts: object) -> str:
    """The progress artifact key of a stage run, e.g. progress_key("calf", "seed0") -> vta-progress-calf-seed0."""
    return artifact_key(PREFIX, *parts)


class ProgressArtifact:
    """One progress artifact, created on the first report and updated at most every `every` percent."""

    def __init__(self, key: str, description: str, every: float = EVERY):
        if not KEY_PATTERN.match(key):
            raise ValueError(f"invalid artifact key {key!r}: lowercase letters, digits and dashes only")
        self.key, self.description, self.every = key, description, every
        self.artifact_id: UUID | None = None
        self.last = -1.0
        self.failed = False

    def report(self, percent: float, final: bool = False) -> bool:
        """Publish `percent` if it is the first report, moved by `every` since the last one, or `final`
        (default: percent >= 100); True when the artifact was created or updated."""
        if self.failed:
            return False
        final = final or percent >= DONE
        try:
            if self.artifact_id is None:
                self.artifact_id = UUID(
                    str(create_progress_artifact(progress=percent, key=self.key, description=self.description))
                )
            elif percent - self.last >= self.every or final:
                update_progress_artifact(artifact_id=self.artifact_id, progress=percent)
            else:
                return False
        except ARTIFACT_ERRORS as error:
            LOG.warning("progress artifact %s: %s; no further updates", self.key, error)
            self.failed = True
            return False
        self.last = percent
        return True

    def __call__(self, percent: float) -> None:
        self.report(percent)


def progress_hook(key: str, description: str, every: float = EVERY) -> Callable[[float], None]:
    """A `progress(percent)` hook for a vta_core stage, publishing a Prefect progress artifact under `key`."""
    return ProgressArtifact(key, description, every)
