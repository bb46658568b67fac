"""Code fingerprints computed from the import graph, never from a hand-written module list.

A stage's output depends on its own module, on every `vta_core` module that module imports
(transitively, including imports inside functions), and on the numerical libraries those modules
import. The fingerprint hashes all of it, so editing any file a stage can reach, or upgrading a
library that shapes its numbers, gives the stage (and, through its key, every descendant) a new
key. Modules are found by parsing source with `ast`, not by importing it: a fingerprint can be
taken of a copy of the package that is not on `sys.path` (the tests edit such copies).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)
PACKAGE = "vta_core"
PACKAGE_ROOT = Path(__file__).resolve().parent
# Import name -> distribution name, for the libraries whose version can change a stage's numbers.
NUMERICAL_LIBRARIES = {
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "scipy": "scipy",
    "numba": "numba",
    "sklearn": "scikit-learn",
    "torch": "torch",
    "transformers": "transformers",
    "tokenizers": "tokenizers",
    "trl": "trl",
    "peft": "peft",
    "accelerate": "accelerate",
    "datasets": "datasets",
    "safetensors": "safetensors",
    "cvxpy": "cvxpy",
    "osqp": "osqp",
    "clarabel": "clarabel",
    "exchange_calendars": "exchange-calendars",
    "matplotlib": "matplotlib",
}


class FingerprintError(LookupError):
    """A stage's module cannot be found in the package it is fingerprinted from."""


@dataclass(frozen=True)
class CodeClosure:
    """What a module's behaviour can depend on: package modules (with their files) and libraries."""

    modules: tuple[tuple[str, Path], ...]
    libraries: tuple[str, ...]

    @property
    def module_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.modules)


def module_file(name: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """`vta_core.a.b` -> root/a/b.py or root/a/b/__init__.py; None if it is not a package module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=1024)  # every stage's closure shares most modules: parse each file once
def _imported_modules(path: Path, module: str, root: Path) -> frozenset[str]:
    """Every dotted name a module imports, at any depth of its code (lazy imports count too).
    `from pkg import name` imports the submodule pkg.name when there is one, else pkg itself."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: climb level - 1 packages above this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if module_file(submodule, root) is not None else base)
    return frozenset(names)


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.lru_cache(maxsize=256)
def code_closure(entry: str, root: Path = PACKAGE_ROOT) -> CodeClosure:
    """The package modules reachable from `entry` by imports, and the numerical libraries they use.

    A module imported by name is followed into its own imports. Its parent packages' `__init__`
    files run too, so their source is included, but their re-exports are followed only when the
    package itself is imported (`from vta_core.config import X`): a module that imports
    `vta_core.config.data_sections` does not depend on what `vta_core/config/__init__.py` re-exports.
    """
    if module_file(entry, root) is None:
        raise FingerprintError(f"module {entry!r} is not a file under {root}")
    followed: dict[str, Path] = {}
    included: dict[str, Path] = {}
    libraries: set[str] = set()
    pending = [entry]
    while pending:
        name = pending.pop()
        path = module_file(name, root)
        if path is None or name in followed:
            continue
        followed[name] = included[name] = path
        for parent in _parents(name):
            parent_path = module_file(parent, root)
            if parent_path is not None:
                included.setdefault(parent, parent_path)
        for imported in _imported_modules(path, name, root):
            top = imported.split(".")[0]
            if top == PACKAGE:
                pending.append(imported)
            elif top in NUMERICAL_LIBRARIES:
                libraries.add(top)
    return CodeClosure(tuple(sorted(included.items())), tuple(sorted(libraries)))


def library_version(import_name: str) -> str:
    try:
        return importlib.metadata.version(NUMERICAL_LIBRARIES[import_name])
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@functools.lru_cache(maxsize=256)
def fingerprint(
    entry: str, root: Path = PACKAGE_ROOT, extra: tuple[str, ...] = (), files: tuple[Path, ...] = ()
) -> str:
    """Cached per process: code does not change under a running process, and every cached task asks.

    sha256 of the closure's sources (by module name, so the checkout's location does not matter),
    the versions of its numerical libraries, `extra` strings and the bytes of extra data `files`."""
    closure = code_closure(entry, Path(root).resolve())
    digest = hashlib.sha256()
    for text in extra:
        digest.update(f"extra:{text}\n".encode())
    for name, path in closure.modules:
        digest.update(f"module:{name}\n".encode())
        digest.update(path.read_bytes())
    for library in closure.libraries:
        digest.update(f"library:{library}=={library_version(library)}\n".encode())
    for file in files:
        digest.update(f"file:{Path(file).name}\n".encode())
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]
