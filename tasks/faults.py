"""Fault injection for operations tests: make one stage's body fail exactly once, through the environment.

    VTAFAULT_ONCE=fusion_inference      # a stage name (`vta_core.identities.StageName`, e.g. backtest)
    VTAFAULT_FILE=/tmp/vta-fault-armed  # the fault is armed while this file exists
    touch /tmp/vta-fault-armed

The next execution of that stage's body (a cache hit never executes it) deletes the file and raises
`InjectedFault`; later executions run normally. Deleting the file is atomic, so exactly one execution fails
even when several processes (workers on different pools) run the stage at once. Deliberately not
`VTA_`-prefixed: every `VTA_*` variable is read as a configuration override. Nothing here touches
`vta_core`, so stage keys and code fingerprints are unaffected; with the variables unset it costs one
environment lookup per executed stage body.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
STAGE_VARIABLE = "VTAFAULT_ONCE"
FILE_VARIABLE = "VTAFAULT_FILE"


class InjectedFault(RuntimeError):
    """The fault `VTAFAULT_ONCE` asked for (not transient: task retries never retry it)."""


def maybe_fail(stage_name: str, environ: dict[str, str] | os._Environ[str] | None = None) -> None:
    """Raise InjectedFault if the environment arms a fault for this stage; disarm it while doing so."""
    env = os.environ if environ is None else environ
    if env.get(STAGE_VARIABLE) != stage_name:
        return
    armed = env.get(FILE_VARIABLE)
    if not armed:
        LOG.warning("%s=%s is set without %s: no fault injected", STAGE_VARIABLE, stage_name, FILE_VARIABLE)
        return
    try:
        Path(armed).unlink()  # only one process can delete it: exactly one failure
    except FileNotFoundError:
        return
    raise InjectedFault(f"injected fault in stage {stage_name} ({STAGE_VARIABLE}, armed by {armed})")


def with_fault(fn: Callable[..., Any], stage_name: str) -> Callable[..., Any]:
    """`fn` with a fault check before its body; same name, signature and module for Prefect."""

    @functools.wraps(fn)
    def body(*args: Any, **kwargs: Any) -> Any:
        maybe_fail(stage_name)
        return fn(*args, **kwargs)

    return body
