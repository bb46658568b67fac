"""The first layers of a pretrained BERT-style encoder as the backbone's two branches (as CALF does with
GPT-2): a temporal copy with LoRA adapters (peft) and a textual copy frozen except its layer norms.
Loaded offline from a local folder (or the bundled MiniLM); transformers and peft are imported only here."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from torch import nn

LOG = logging.getLogger(__name__)


class PretrainedBranchError(ValueError):
    """The configured language model cannot serve as backbone branches."""


def _model_path(source: str) -> Path:
    from vta_core.models.prototypes import BUNDLED, source_files

    return source_files(source)[0].parent if source == BUNDLED else Path(source).expanduser()


def pretrained_branches(
    source: str, n_layers: int, lora_rank: int, lora_alpha: int, targets: tuple[str, ...]
) -> tuple[nn.ModuleList, nn.ModuleList, int]:
    """(temporal layers with LoRA, frozen textual layers, hidden size); each layer maps (B, N, h) -> (B, N, h)."""
    from peft import LoraConfig, inject_adapter_in_model
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(_model_path(source)), local_files_only=True)
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise PretrainedBranchError(
            f"backbone.pretrained_source {source!r} is not a BERT-style encoder "
            "(no encoder.layer); only such models can be used as branches"
        )
    if n_layers > len(layers):
        raise PretrainedBranchError(f"backbone.pretrained_layers={n_layers} but {source!r} has {len(layers)} layers")
    textual = nn.ModuleList(copy.deepcopy(layers[i]) for i in range(n_layers))
    temporal = nn.ModuleList(copy.deepcopy(layers[i]) for i in range(n_layers))
    for name, parameter in textual.named_parameters():
        parameter.requires_grad = "LayerNorm" in name
    inject_adapter_in_model(LoraConfig(r=lora_rank, lora_alpha=lora_alpha, target_modules=list(targets)), temporal)
    for name, parameter in temporal.named_parameters():
        parameter.requires_grad = "lora_" in name or "LayerNorm" in name
    LOG.info("pretrained branches: %d layers of %s, hidden %d", n_layers, source, model.config.hidden_size)
    return temporal, textual, int(model.config.hidden_size)
