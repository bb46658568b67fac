"""Typed, frozen configuration: one section per pipeline stage.

Every section is immutable and rejects unknown keys, so a misspelled key fails before any
work starts. Stages receive only the sections they read; the cache key of a stage is the hash
of exactly those sections (see `vta_core.stage_keys`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from vta_core.config.annotation_sections import AnalystConfig, AnnotationConfig, IndicatorName
from vta_core.config.backtest_sections import BacktestConfig
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
from vta_core.config.evaluation_sections import BaselinesConfig, EvaluationConfig, RidgeConfig, RuntimeConfig
from vta_core.config.model_sections import (
    BackboneConfig,
    DLinearConfig,
    FusionConfig,
    FusionTrainingConfig,
    PrototypeConfig,
    TrainingConfig,
    TSMixerConfig,
)
from vta_core.config.prompt_sections import PromptConfig
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
from vta_core.config.study_sections import AblationConfig, SensitivityGrid, StudyConfig

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
    "BacktestConfig",
    "RuntimeConfig",
    "SensitivityGrid",
    "AblationConfig",
    "StudyConfig",
    "VTAConfig",
]


SEEDED_MODELS = ("backbone", "dlinear", "tsmixer")


class VTAConfig(Section):
    """The whole resolved configuration of one run."""

    preset: str = "cpu"
    seed: int = Field(
        default=0,
        description="default seed of every seeded stage that sets none itself: the reasoner's `seed` and the "
        "three training seeds (seed, seed + 1, seed + 2) of each learned time-series model",
    )
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
    backtest: BacktestConfig = BacktestConfig()
    study: StudyConfig = StudyConfig()
    runtime: RuntimeConfig = RuntimeConfig()

    @model_validator(mode="before")
    @classmethod
    def _seed_is_the_default_seed(cls, data: Any) -> Any:
        """Fill the seeds a section leaves unset from the run's `seed` (explicit section seeds win)."""
        if not isinstance(data, dict) or "seed" not in data:
            return data
        seed = int(data["seed"])
        data = dict(data)
        for name in SEEDED_MODELS:
            section = data.get(name, {})
            if isinstance(section, dict):
                train = section.get("train", {})
                if isinstance(train, dict) and "seeds" not in train:
                    data[name] = {**section, "train": {**train, "seeds": [seed, seed + 1, seed + 2]}}
        reasoner = data.get("reasoner", {})
        if isinstance(reasoner, dict) and "seed" not in reasoner:
            data["reasoner"] = {**reasoner, "seed": seed}
        return data
