"""Typed, frozen configuration: one section per pipeline stage.

Every section is immutable and rejects unknown keys, so a misspelled key fails before any
work starts. Stages receive only the sections they read; the cache key of a stage is the hash
of exactly those sections (see `vta_core.artifacts.stage_key`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from vta_core.config.base import Fraction, PositiveInt, Section
from vta_core.config.data_sections import (
    CalendarConfig,
    DataConfig,
    DateSplit,
    PaperSplit,
    SourceConfig,
    SplitConfig,
    WalkForwardSplit,
    WindowConfig,
)
from vta_core.config.model_sections import (
    BackboneConfig,
    DLinearConfig,
    FusionConfig,
    FusionTrainingConfig,
    PrototypeConfig,
    TrainingConfig,
    TSMixerConfig,
)
from vta_core.config.reasoner_sections import (
    LORA_TARGETS,
    GenerationConfig,
    GRPOStageConfig,
    LoRAConfig,
    ReasonerConfig,
    RejectionConfig,
    RewardConfig,
    SFTStageConfig,
    TinyModelConfig,
)
from vta_core.prompts.template import DEFAULT_SYSTEM, DEFAULT_USER, validate_templates

__all__ = [  # every section, importable from here as before the split
    "Section",
    "PositiveInt",
    "Fraction",
    "SourceConfig",
    "CalendarConfig",
    "WindowConfig",
    "PaperSplit",
    "DateSplit",
    "WalkForwardSplit",
    "SplitConfig",
    "DataConfig",
    "IndicatorName",
    "AnnotationConfig",
    "PromptConfig",
    "AnalystConfig",
    "LORA_TARGETS",
    "TinyModelConfig",
    "LoRAConfig",
    "RewardConfig",
    "SFTStageConfig",
    "GRPOStageConfig",
    "RejectionConfig",
    "GenerationConfig",
    "ReasonerConfig",
    "TrainingConfig",
    "DLinearConfig",
    "TSMixerConfig",
    "PrototypeConfig",
    "BackboneConfig",
    "BaselinesConfig",
    "RidgeConfig",
    "FusionTrainingConfig",
    "FusionConfig",
    "EvaluationConfig",
    "RuntimeConfig",
    "VTAConfig",
]


# ------------------------------------------------------------ annotation, prompts, analyst

IndicatorName = Literal[
    "sma",
    "ema",
    "momentum",
    "rsi",
    "willr",
    "cci",
    "adx",
    "bbands",
    "stoch_fastk",
    "stoch_slowk",
    "stoch_slowd",
    "macd_fast",
    "macd_slow",
    "macd_signal",
]


class AnnotationConfig(Section):
    """Statistics and technical indicators per window (SPEC section 4)."""

    mode: Literal["window", "history"] = Field(
        default="window",
        description="window: only the T rows of the window (paper); history: standard periods "
        "on the causal history that ends at the window's last day",
    )
    history_length: PositiveInt = Field(default=60, description="rows of causal history in history mode")
    price_column: Literal["Adj Close", "Close"] = Field(
        default="Adj Close",
        description="series for the single-series indicators and the statistics; "
        "high/low-based indicators use High, Low and Close",
    )
    period_overrides: dict[IndicatorName, PositiveInt] = Field(default_factory=dict)
    bb_nbdev: Annotated[float, Field(gt=0)] = 2.0


class PromptConfig(Section):
    """Prompt text and chat records (SPEC section 4)."""

    system_template: str = DEFAULT_SYSTEM
    user_template: str = DEFAULT_USER
    significant_digits: Annotated[int, Field(ge=1, le=10)] = 4
    tokenizer: str | None = Field(
        default=None,
        description="tokenizer.json file or Hugging Face folder used to "
        "measure prompt lengths; None = the reasoner's tokenizer when it exists, else an estimate",
    )
    max_prompt_tokens: PositiveInt = 1024

    @model_validator(mode="after")
    def _templates(self) -> PromptConfig:
        problems = validate_templates(self.system_template, self.user_template)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class AnalystConfig(Section):
    """Rule-based analyst: damped-trend forecast, damping chosen on validation windows."""

    damping_grid: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    narratives_for: tuple[Literal["train", "val", "test"], ...] = ("train", "val", "test")


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


class VTAConfig(Section):
    """The whole resolved configuration of one run."""

    preset: str = "cpu"
    seed: int = 0
    data: DataConfig = DataConfig()
    annotation: AnnotationConfig = AnnotationConfig()
    prompt: PromptConfig = PromptConfig()
    analyst: AnalystConfig = AnalystConfig()
    reasoner: ReasonerConfig = ReasonerConfig()
    backbone: BackboneConfig = BackboneConfig()
    dlinear: DLinearConfig = DLinearConfig()
    tsmixer: TSMixerConfig = TSMixerConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    ridge: RidgeConfig = RidgeConfig()
    fusion: FusionConfig = FusionConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    runtime: RuntimeConfig = RuntimeConfig()
