"""Load any Hugging Face causal LM (id or local folder) with its tokenizer, and attach or reload LoRA.

A reasoner checkpoint is described by a small `model.json` in a stage's artifact folder:
`{"base": <HF id or folder>, "adapter": <folder or null>}`. Stage 0 writes a full model (adapter
null); stages 1-3 write only the LoRA adapter over the same base. Nothing is pickled: weights go
through save_pretrained (safetensors). A folder inside the artifact store is written relative to the
checkpoint's own folder (`./model`, `./../../reasoner_stage0/<key>/model`), so a copy of the store on
another machine (`runtime.storage`) reads its own files; absolute paths of older checkpoints still load.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # peft and transformers' model classes are imported where used: seconds a cached run saves
    from peft import LoraConfig, PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from vta_core.artifacts import write_json
from vta_core.config.reasoner_sections import LoRAConfig, ReasonerConfig

LOG = logging.getLogger(__name__)
MODEL_JSON = "model.json"


class ReasonerLoadError(RuntimeError):
    """A reasoner checkpoint or base model that cannot be loaded."""


@dataclass(frozen=True)
class Checkpoint:
    base: str  # HF id or absolute folder of the full model
    adapter: str | None  # absolute folder of a LoRA adapter, or None

    def write(self, folder: Path, final: Path) -> None:
        """Write model.json into `folder` (a scratch folder) that will become the artifact folder `final`."""
        adapter = None if self.adapter is None else _portable(self.adapter, final)
        write_json(folder / MODEL_JSON, {"base": _portable(self.base, final), "adapter": adapter})

    @classmethod
    def read(cls, folder: Path) -> Checkpoint:
        try:
            payload = json.loads((folder / MODEL_JSON).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ReasonerLoadError(f"no readable {MODEL_JSON} in {folder}") from exc
        adapter = payload.get("adapter")
        return cls(
            base=_resolved(payload["base"], folder), adapter=None if adapter is None else _resolved(adapter, folder)
        )


RELATIVE = "./"  # marks a path relative to the checkpoint's folder (a Hugging Face id never starts with it)


def _portable(value: str, final: Path) -> str:
    """A folder inside the artifact store (the parent of `final`'s stage folder) relative to `final`."""
    store = final.parent.parent
    path = Path(value)
    if not path.is_absolute() or not path.is_relative_to(store):
        return value  # a Hugging Face id, or a model folder outside the store
    return RELATIVE + os.path.relpath(path, final)


def _resolved(value: str, folder: Path) -> str:
    return str((folder / value).resolve()) if value.startswith(RELATIVE) else value


def torch_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _dtype(name: str) -> torch.dtype | str:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(name, "auto")


def load_tokenizer(base: str, cfg: ReasonerConfig) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=cfg.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ReasonerLoadError(
            f"cannot load the tokenizer of {base!r} (offline? set reasoner.model to a local folder)"
        ) from exc
    if tokenizer.pad_token is None:  # many instruct models ship without one; EOS is the usual stand-in
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only batched generation pads on the left
    return tokenizer


def load_base(base: str, cfg: ReasonerConfig) -> PreTrainedModel:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-shard progress bars flood the flow-run logs
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=_dtype(cfg.dtype), trust_remote_code=cfg.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ReasonerLoadError(
            f"cannot load the model {base!r} (offline? set reasoner.model to a local folder)"
        ) from exc
    return model


def lora_config(lora: LoRAConfig) -> LoraConfig:
    from peft import LoraConfig

    return LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.targets),
        task_type="CAUSAL_LM",
        bias="none",
    )


def load_checkpoint(
    checkpoint: Checkpoint, cfg: ReasonerConfig, trainable: bool, new_lora: LoRAConfig | None = None
) -> tuple[PreTrainedModel | PeftModel, PreTrainedTokenizerBase]:
    """The checkpoint's model; with `new_lora` and no adapter yet, a fresh LoRA adapter on top."""
    tokenizer = load_tokenizer(checkpoint.base, cfg)
    from peft import PeftModel, get_peft_model

    model: PreTrainedModel | PeftModel = load_base(checkpoint.base, cfg)
    if checkpoint.adapter is not None:
        model = PeftModel.from_pretrained(model, checkpoint.adapter, is_trainable=trainable)
    elif new_lora is not None:
        model = get_peft_model(model, lora_config(new_lora))
    return model, tokenizer


def merged_for_decoding(model: PreTrainedModel | PeftModel) -> PreTrainedModel:
    """The model with its LoRA adapter folded into the base weights, for decoding only: one matmul per
    projection instead of three (the tiny reasoner decodes about 1.3x faster); the outputs are those of
    the adapted model up to float round-off. A PeftModel is merged in place: do not train it afterwards."""
    from peft import PeftModel

    return model.merge_and_unload() if isinstance(model, PeftModel) else model


def load_for_decoding(checkpoint: Checkpoint, cfg: ReasonerConfig) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The checkpoint's model with any adapter merged, on the configured device, in eval mode."""
    model, tokenizer = load_checkpoint(checkpoint, cfg, trainable=False)
    merged = merged_for_decoding(model)
    merged.to(torch_device(cfg.device))  # type: ignore[arg-type]  # functools.wraps stub: self unbound
    merged.eval()
    return merged, tokenizer


def lora_state(model: PeftModel) -> dict[str, torch.Tensor]:
    """Copies of the adapter's weights (tests compare them before and after a step)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if "lora_" in name}
