"""GPU slots: a flow that trains or decodes on a GPU holds one slot of the global concurrency limit `vta-gpu`
while it runs, so runs on the cuda pool queue for the GPUs instead of sharing one (create the limit once per
server with as many slots as GPUs: `prefect gcl create vta-gpu --limit 1`). Without the limit, or on a host
without CUDA, or in a cache-only pass (no Prefect), the flow runs as before."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from prefect.concurrency.sync import concurrency

from tasks.caching import cache_only

GPU_LIMIT = "vta-gpu"
P = ParamSpec("P")
R = TypeVar("R")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@contextlib.contextmanager
def gpu_slot() -> Iterator[bool]:
    """Hold one `vta-gpu` slot on a CUDA host; yields whether a slot was requested."""
    if cache_only() or not _cuda():
        yield False
        return
    # strict=False: a server without the limit lets the flow run (and Prefect logs that the limit is missing).
    with concurrency(GPU_LIMIT, occupy=1, strict=False):
        yield True


def holds_gpu_slot(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a flow function (under @flow): its whole body runs inside `gpu_slot()`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with gpu_slot():
            return fn(*args, **kwargs)

    return wrapper
