"""Stage names, model ids and display labels: the one place each is spelled.

Code, artifact folders and the `model` column of every predictions table use ids; only tables a
person reads (Markdown, the UI) show labels. Renaming a label therefore changes no cache key and
no lookup; renaming an id is a deliberate, visible change here.
"""

from __future__ import annotations

from enum import StrEnum


class StageName(StrEnum):
    """Artifact folder names, `<artifacts>/<stage>/<key>/`, and Prefect task names."""

    CLEANSE = "cleanse"
    WINDOWS = "windows"
    ANNOTATION = "annotation"
    PROMPTS = "prompts"
    NAIVE_BASELINES = "naive_baselines"
    RIDGE = "ridge_baseline"
    ANALYST = "rule_based_analyst"
    RELEASED = "released_forecasts"
    PROTOTYPES = "prototypes"
    TIMESERIES = "timeseries_model"
    REASONER_BASE = "reasoner_base"
    REASONER_STAGE0 = "reasoner_stage0"
    REASONER_GRPO = "reasoner_grpo"
    REASONER_STAGE2 = "reasoner_stage2"
    REASONER_GENERATION = "reasoner_generation"
    FUSION_TRAINING = "fusion_training"
    FUSION_INFERENCE = "fusion_inference"
    ERRORS = "error_evaluation"
    BACKTEST = "backtest"


class ModelId(StrEnum):
    """What the `model` column of a predictions table holds."""

    PERSISTENCE = "persistence"
    DRIFT = "drift"
    RIDGE = "ridge"
    ANALYST = "analyst"
    DLINEAR = "dlinear"
    TSMIXER = "tsmixer"
    BACKBONE = "calf"
    LLM_RELEASED = "llm_released"
    REASONER_BASE = "reasoner_base"
    REASONER_STAGE0 = "reasoner_stage0"
    REASONER_STAGE1 = "reasoner_stage1"
    REASONER_STAGE2 = "reasoner_stage2"
    REASONER_STAGE3 = "reasoner_stage3"
    VTA_RELEASED = "vta_released"
    VTA_REASONER = "vta_reasoner"


LABELS: dict[str, str] = {
    ModelId.PERSISTENCE: "persistence",
    ModelId.DRIFT: "drift",
    ModelId.RIDGE: "ridge (linear baseline)",
    ModelId.ANALYST: "rule-based analyst",
    ModelId.DLINEAR: "DLinear",
    ModelId.TSMIXER: "TSMixer",
    ModelId.BACKBONE: "CALF-like backbone",
    ModelId.LLM_RELEASED: "LLM only (released Qwen2.5-7B forecasts)",
    ModelId.REASONER_BASE: "reasoner (base)",
    ModelId.REASONER_STAGE0: "reasoner (stage 0)",
    ModelId.REASONER_STAGE1: "reasoner (stage 1)",
    ModelId.REASONER_STAGE2: "reasoner (stage 2)",
    ModelId.REASONER_STAGE3: "reasoner (stage 3)",
    ModelId.VTA_RELEASED: "VTA (released Qwen2.5-7B forecasts)",
    ModelId.VTA_REASONER: "VTA (own reasoner)",
    # The backtest's benchmark strategies (vta_core.portfolio).
    "equal_weight": "equal-weight (daily rebalanced)",
    "buy_and_hold": "buy-and-hold",
    "min_variance": "minimum variance (mu = 0)",
    "perfect_foresight": "perfect foresight (upper bound)",
}

# The reasoner's training stages by the short name flows and configs use, and the model id of each.
REASONER_STAGE_MODELS: dict[str, ModelId] = {
    "base": ModelId.REASONER_BASE,
    "stage0": ModelId.REASONER_STAGE0,
    "stage1": ModelId.REASONER_STAGE1,
    "stage2": ModelId.REASONER_STAGE2,
    "stage3": ModelId.REASONER_STAGE3,
}
# Fusion's reasoning sources (config `fusion.sources`) and the model id of each fused forecast.
FUSION_MODELS: dict[str, ModelId] = {"released": ModelId.VTA_RELEASED, "reasoner": ModelId.VTA_REASONER}
TIMESERIES_MODELS: dict[str, ModelId] = {
    "dlinear": ModelId.DLINEAR,
    "tsmixer": ModelId.TSMIXER,
    "calf": ModelId.BACKBONE,
}


def label(model: str) -> str:
    """The display label of a model id; an unknown id (e.g. a study's variant) is shown as it is."""
    return LABELS.get(model, model)
