"""Config sections of the naive and ridge baselines, the error evaluation and the run itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vta_core.config.base import PositiveInt, Section


class BaselinesConfig(Section):
    """Naive forecasters every model is compared with."""

    models: tuple[Literal["persistence", "drift"], ...] = ("persistence", "drift")
    splits: tuple[Literal["train", "val", "test"], ...] = ("val", "test")

    @model_validator(mode="after")
    def _unique(self) -> BaselinesConfig:
        if len(set(self.models)) != len(self.models):
            raise ValueError("baselines.models lists a model twice")
        return self


class RidgeConfig(Section):
    """Linear baseline: pooled ridge regression on level-free window features, alpha chosen on validation."""

    enabled: bool = True
    alphas: tuple[Annotated[float, Field(ge=0.0)], ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)

    @model_validator(mode="after")
    def _some_alpha(self) -> RidgeConfig:
        if not self.alphas:
            raise ValueError("ridge.alphas must list at least one value")
        return self


class EvaluationConfig(Section):
    splits: tuple[Literal["train", "val", "test"], ...] = ("val", "test")
    show_paper_numbers: bool = True
    markdown_digits: Annotated[int, Field(ge=1, le=10)] = 4


class RuntimeConfig(Section):
    """Where and how a run executes. Never part of a cache key."""

    home: Path = Path("runs")
    run_name: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    torch_threads: PositiveInt | None = None
    cached_fast_path: bool = Field(
        default=True,
        description="`vta run` in embedded mode first tries the pipeline with every stage served from the artifact "
        "store, without starting Prefect; any stage not cached falls back to the full Prefect run",
    )
    storage: str | None = Field(
        default=None,
        description="fsspec URL (s3://bucket/vta, gs://bucket/vta, file:///shared/vta, memory://vta) that mirrors the "
        "artifact store and Prefect's results, so workers on other machines share the cache without a shared "
        "filesystem; unset: everything stays under `home`",
    )

    @field_validator("storage")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        return None if value is None else storage_url(value)


_URL = re.compile(r"^(?P<protocol>[a-z][a-z0-9+.-]*)://(?P<path>.*)$")


def storage_url(value: str) -> str:
    """An fsspec URL whose protocol is known and whose backend is installed, without a trailing slash."""
    import fsspec  # only when a storage URL is configured

    match = _URL.match(value.strip())
    if match is None:
        raise ValueError(
            "expected an fsspec URL protocol://path, e.g. s3://bucket/vta or file:///shared/vta "
            "(a local or shared folder is runtime.home)"
        )
    protocol, path = match["protocol"], match["path"]
    if protocol == "file" and not path.startswith("/"):
        raise ValueError("a file URL names an absolute folder: file:///shared/vta")
    if not path.strip("/") or (protocol != "file" and path.startswith("/")):
        raise ValueError(f"{value!r} names no bucket or host right after {protocol}://")
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError as exc:
        raise ValueError(f"unknown fsspec protocol {protocol!r}") from exc
    except ImportError as exc:
        raise ValueError(f"protocol {protocol!r} needs a package that is not installed ({exc})") from exc
    return f"{protocol}://{match['path'].rstrip('/')}"
