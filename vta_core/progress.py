"""Progress of long loops as a plain callable: `progress(percent)` with percent in [0, 100].

The library never imports Prefect; a task wrapper passes a hook that turns these calls into a
progress artifact (`tasks/progress.py`). A stage passes its hook down as an unkeyed parameter, so
the hook never enters a cache key. Everything here is standard library only (a stage's code
fingerprint follows its imports).

    steps = Steps(progress, total=len(rows))
    for row in rows:
        ...
        steps.advance()
    steps.finish()  # 100, also after an early stop

`monotone` makes one hook out of several reporters (folds, strategies) that must never go back,
and `span` maps one part of a job (fold 2 of 3) onto its share of the whole.
"""

from __future__ import annotations

from collections.abc import Callable

PercentHook = Callable[[float], None]
DONE = 100.0


def monotone(progress: PercentHook | None) -> PercentHook | None:
    """A hook that forwards only values above the last one it forwarded, clipped to [0, 100]."""
    if progress is None:
        return None
    last = [-1.0]

    def hook(percent: float) -> None:
        value = min(max(float(percent), 0.0), DONE)
        if value > last[0]:
            last[0] = value
            progress(value)

    return hook


def span(progress: PercentHook | None, start: float, stop: float) -> PercentHook | None:
    """A hook for one part of a job: its 0..100 becomes start..stop of `progress`."""
    if progress is None:
        return None
    outer = progress

    def hook(percent: float) -> None:
        outer(start + (stop - start) * min(max(float(percent), 0.0), DONE) / DONE)

    return hook


def parts(progress: PercentHook | None, count: int) -> list[PercentHook | None]:
    """`count` consecutive equal shares of one monotone hook (one per fold, say)."""
    whole = monotone(progress)
    share = DONE / max(count, 1)
    return [span(whole, i * share, (i + 1) * share) for i in range(count)]


class Steps:
    """Counts done steps out of a known total and reports the percentage to an optional hook, never
    going back and never above 100; `finish` reports 100 (an early stop, retries not counted)."""

    def __init__(self, progress: PercentHook | None, total: int):
        self.total, self.done = max(int(total), 0), 0
        self._hook = monotone(progress)

    def start(self) -> None:
        self._report(0.0)

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        self._report(DONE * min(self.done, self.total) / self.total if self.total else 0.0)

    def finish(self) -> None:
        self._report(DONE)

    def _report(self, percent: float) -> None:
        if self._hook is not None:
            self._hook(percent)
