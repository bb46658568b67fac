"""Stage functions whose cache key is derived from their own arguments, in one place.

    @stage("annotation", version="1")
    def annotation_stage(annotation: AnnotationConfig, windows: ArtifactRef, out: StageOutput) -> ArtifactRef:
        with out.writing() as folder:
            ...
        return out.ref

Callers pass `store=ArtifactStore(root)` instead of `out`. The decorator binds the call to the
function's signature, hashes every argument except the unkeyed ones (the store, progress hooks)
together with the code fingerprint of the function's module and everything it imports, and hands
the body a `StageOutput` for that key. The Prefect task's cache key calls the same `Stage.key` on
the task's parameters, so the key a task looks up and the folder its stage writes cannot drift.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from vta_core.artifacts import ArtifactRef, ArtifactStore
from vta_core.code_fingerprint import PACKAGE_ROOT, fingerprint

OUT = "out"
STORE = "store"
R = TypeVar("R")


class StageCallError(TypeError):
    """A stage was called with arguments its signature does not accept (or without a store)."""


@dataclass(frozen=True)
class StageSpec:
    """A stage's name, a version to bump by hand when behaviour changes without a code change (e.g. a
    bug in a library call), the module its code lives in and the data files it reads."""

    name: str
    version: str
    module: str
    resources: tuple[Path, ...] = ()

    def code_fingerprint(self, root: Path = PACKAGE_ROOT) -> str:
        return fingerprint(self.module, Path(root).resolve(), (f"{self.name}:{self.version}",), tuple(self.resources))


def canonical(value: Any) -> Any:
    """JSON-ready form of a key input; upstream artifacts contribute only their key."""
    if isinstance(value, ArtifactRef):
        return {"artifact": value.stage, "key": value.key}
    if isinstance(value, BaseModel):
        return {"model": type(value).__name__, "fields": value.model_dump(mode="json")}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot use {type(value).__name__} in a stage key")


def stage_key(spec: StageSpec, inputs: Mapping[str, Any], code: str | None = None) -> str:
    payload = {"stage": spec.name, "code": code or spec.code_fingerprint(), "inputs": canonical(inputs)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StageOutput:
    """Where one keyed stage run writes: its final artifact folder and a resumable work folder."""

    spec: StageSpec
    key: str
    store: ArtifactStore

    @property
    def ref(self) -> ArtifactRef:
        return self.store.ref(self.spec.name, self.key)

    @property
    def final_path(self) -> Path:
        """The folder's path once committed (model.json files point there, not at the scratch folder)."""
        return self.ref.path

    @contextlib.contextmanager
    def writing(self) -> Iterator[Path]:
        with self.store.writing(self.spec.name, self.key) as folder:
            yield folder

    def work_dir(self) -> Path:
        """Trainer checkpoints live outside the atomic artifact folder so a killed stage can resume."""
        return self.store.root / "_work" / self.spec.name / self.key


class Stage(Generic[R]):
    """A stage function with its spec; call it with `store=...`, ask it for `key(**arguments)`."""

    def __init__(self, spec: StageSpec, fn: Callable[..., R], unkeyed: tuple[str, ...] = ()):
        signature = inspect.signature(fn)
        if OUT not in signature.parameters or STORE in signature.parameters:
            raise StageCallError(f"stage function {fn.__qualname__} must take {OUT!r} and not {STORE!r}")
        self.spec, self.fn, self.unkeyed = spec, fn, frozenset(unkeyed)
        params = [p for p in signature.parameters.values() if p.name != OUT]
        self._keyed_signature = signature.replace(parameters=params)
        store = inspect.Parameter(STORE, inspect.Parameter.KEYWORD_ONLY, annotation=ArtifactStore)
        self.__signature__ = signature.replace(parameters=[*params, store])
        self.__name__, self.__qualname__ = fn.__name__, fn.__qualname__
        self.__doc__, self.__module__ = fn.__doc__, fn.__module__

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def parameters(self) -> tuple[str, ...]:
        """What a caller passes besides `store` (a Prefect task wrapper takes exactly these + a location)."""
        return tuple(self._keyed_signature.parameters)

    def _arguments(self, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._keyed_signature.bind(*args, **kwargs)
        except TypeError as error:
            raise StageCallError(f"stage {self.spec.name}: {error}") from error
        bound.apply_defaults()
        return dict(bound.arguments)

    def _key(self, arguments: Mapping[str, Any]) -> str:
        return stage_key(self.spec, {k: v for k, v in arguments.items() if k not in self.unkeyed})

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The key of a call with these arguments (`store`, if given, is ignored: it is never keyed)."""
        kwargs.pop(STORE, None)
        return self._key(self._arguments(args, kwargs))

    def output(self, *args: Any, store: ArtifactStore, **kwargs: Any) -> StageOutput:
        """Where a call with these arguments writes, without running it."""
        return StageOutput(self.spec, self.key(*args, **kwargs), store)

    def __call__(self, *args: Any, store: ArtifactStore, **kwargs: Any) -> R:
        if not isinstance(store, ArtifactStore):
            raise StageCallError(f"stage {self.spec.name} needs store=ArtifactStore(...), got {store!r}")
        arguments = self._arguments(args, kwargs)
        return self.fn(**arguments, out=StageOutput(self.spec, self._key(arguments), store))


def stage(
    name: str, version: str = "1", unkeyed: tuple[str, ...] = (), resources: tuple[Path, ...] = ()
) -> Callable[[Callable[..., R]], Stage[R]]:
    """Decorator: the function's module fingerprint and its arguments make its key (see module doc).
    `unkeyed` names parameters that cannot change the output (progress hooks)."""

    def decorate(fn: Callable[..., R]) -> Stage[R]:
        return Stage(StageSpec(str(name), version, fn.__module__, tuple(resources)), fn, unkeyed)

    return decorate
