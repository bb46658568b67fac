"""Count calls of stage functions: a cache hit never calls its stage function, a re-run does."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import pytest


def count_calls(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    names: tuple[str, ...] | list[str],
    calls: Counter[str],
    prefix: str = "",
) -> Counter[str]:
    """Wrap each `module.<name>` so that calling it adds 1 to `calls[prefix + name]`."""
    for name in names:
        original = getattr(module, name)

        def spy(*args, __original=original, __key=prefix + name, **kwargs):
            calls[__key] += 1
            return __original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return calls


def count_stage_bodies(monkeypatch: pytest.MonkeyPatch, stages, calls: Counter[str], prefix: str = "") -> Counter[str]:
    """Wrap the body of each `Stage` so that running it adds 1 to `calls[prefix + function name]`; every
    caller (task wrappers, flows) goes through the same Stage object, so no import site can escape."""
    for stage in stages:
        original = stage.fn

        def spy(*args, __original=original, __key=prefix + stage.__name__, **kwargs):
            calls[__key] += 1
            return __original(*args, **kwargs)

        monkeypatch.setattr(stage, "fn", spy)
    return calls
