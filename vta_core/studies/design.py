"""Study designs: the variants (override sets on the base config) of a sensitivity or ablation study, and the
rows of the ablation table (which model of which variant answers which question).

A variant is nothing but overrides, so it resolves through the same `load_config` as `vta run --set`, and the
stage keys decide what it re-runs: a new guidance scale re-runs fusion inference and what follows it, a new
p_uncond fusion training onwards, a new reward lambda the reasoner from stage 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from vta_core.config.sections import VTAConfig
from vta_core.config.study_sections import StudyConfig
from vta_core.identities import ModelId
from vta_core.prompts.template import DEFAULT_USER

StudyKind = Literal["sensitivity", "ablation"]
STUDY_KINDS: tuple[StudyKind, ...] = ("sensitivity", "ablation")
BASE = "base"

# Where each sensitivity parameter lives in the config (G is the group size of both GRPO stages).
PARAMETER_KEYS: dict[str, tuple[str, ...]] = {
    "guidance_scale": ("fusion.guidance_scale",),
    "p_uncond": ("fusion.training.p_uncond",),
    "reward_lambda": ("reasoner.reward.mse_lambda",),
    "group_size": ("reasoner.stage1.num_generations", "reasoner.stage3.num_generations"),
    "n_prototypes": ("backbone.prototypes.n_prototypes",),
    "gamma": ("backtest.portfolio.gamma",),
    "costs_bps": ("backtest.portfolio.costs_bps",),
}
PARAMETER_LABELS: dict[str, str] = {
    "guidance_scale": "guidance scale s",
    "p_uncond": "p_uncond",
    "reward_lambda": "reward lambda",
    "group_size": "GRPO group size G",
    "n_prototypes": "number of prototypes",
    "gamma": "risk aversion gamma",
    "costs_bps": "transaction cost (bps)",
}
# Parameters whose variants re-train the reasoner: they skip decoding stages 0-2 (the ablation rows, which a
# sensitivity table does not show; the flag is in no key, so the base run's decodes stay cached).
RETRAINS_REASONER = frozenset({"reward_lambda", "group_size"})


@dataclass(frozen=True)
class Variant:
    """One pipeline run of a study: the base config plus `overrides`."""

    name: str
    overrides: tuple[str, ...] = ()
    parameter: str | None = None
    value: str = ""

    @property
    def is_base(self) -> bool:
        return self.name == BASE


@dataclass(frozen=True)
class AblationRow:
    """One row of the ablation table: model `model` of variant `variant`; the paper's MSE where it has one."""

    label: str
    variant: str
    model: str
    paper_mse: float | None = None


@dataclass(frozen=True)
class StudyDesign:
    kind: StudyKind
    variants: tuple[Variant, ...]
    rows: tuple[AblationRow, ...] = field(default=())  # ablation only

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


class StudyDesignError(ValueError):
    """A study that cannot be built from the configuration (unknown kind or parameter)."""


def base_overrides(kind: StudyKind, study: StudyConfig) -> tuple[str, ...]:
    """Overrides every run of the study shares: one backtest protocol, and the base model's decode."""
    shared: tuple[str, ...] = (f"backtest.protocols=[{study.protocol}]",)
    if kind == "ablation" and study.ablation.base_model:
        shared += ("reasoner.generation.evaluate_base=true",)  # a decoding flag: in no cache key
    return shared


def current_value(cfg: VTAConfig, parameter: str) -> str:
    value: object = cfg
    for part in PARAMETER_KEYS[parameter][0].split("."):
        value = getattr(value, part)
    return _text(value)


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sensitivity_design(cfg: VTAConfig, only: tuple[str, ...] = ()) -> StudyDesign:
    """The base run, then one variant per grid value that differs from the base value of its parameter."""
    study = cfg.study
    unknown = sorted(set(only) - set(PARAMETER_KEYS))
    if unknown:
        raise StudyDesignError(f"unknown sensitivity parameter(s) {unknown}; known: {sorted(PARAMETER_KEYS)}")
    shared = base_overrides("sensitivity", study)
    variants = [Variant(BASE, shared)]
    for parameter in only or study.parameters:
        base_value = current_value(cfg, parameter)
        for raw in getattr(study.sensitivity, parameter):
            value = _text(raw)
            if value == base_value:
                continue  # the base run is this point of the curve
            extra = tuple(f"{key}={value}" for key in PARAMETER_KEYS[parameter])
            if parameter in RETRAINS_REASONER:
                extra += ("reasoner.generation.ablation=false",)
            variants.append(Variant(f"{parameter}={value}", shared + extra, parameter, value))
    return StudyDesign("sensitivity", tuple(variants))


def _without_block(block: str) -> str:
    """The default user prompt with one block (e.g. the indicators) removed."""
    title = {"indicators": "Technical indicators:\n{indicators}\n\n", "statistics": "Statistics:\n{statistics}\n\n"}
    return DEFAULT_USER.replace(title[block], "")


def ablation_design(cfg: VTAConfig) -> StudyDesign:
    """The base run's own rows (each reasoner stage, LLM only, backbone only, VTA) plus the variants that remove
    a prompt block (the reasoner re-trained on those prompts) or change the conditioning attributes."""
    study = cfg.study
    shared = base_overrides("ablation", study)
    variants = [Variant(BASE, shared)]
    rows = [
        AblationRow("persistence (naive baseline)", BASE, ModelId.PERSISTENCE),
        AblationRow("backbone only (conditioning off)", BASE, ModelId.BACKBONE, 0.0674),
        AblationRow("LLM only: reasoner, base model", BASE, ModelId.REASONER_BASE, 0.0949),
        AblationRow("LLM only: reasoner, stage 0 (warm start, tiny model only)", BASE, ModelId.REASONER_STAGE0),
        AblationRow("LLM only: reasoner, stage 1 (cold-start RL)", BASE, ModelId.REASONER_STAGE1, 0.0941),
        AblationRow("LLM only: reasoner, stages 1-2 (+ rejection SFT)", BASE, ModelId.REASONER_STAGE2, 0.0893),
        AblationRow("LLM only: reasoner, stages 1-3 (+ RL for reasoning)", BASE, ModelId.REASONER_STAGE3, 0.0686),
        AblationRow("conditioning on: VTA (own reasoner)", BASE, ModelId.VTA_REASONER, 0.0659),
        AblationRow("LLM only: released Qwen2.5-7B forecasts", BASE, ModelId.LLM_RELEASED),
        AblationRow("conditioning on: VTA (released forecasts)", BASE, ModelId.VTA_RELEASED, 0.0659),
    ]
    for block in study.ablation.prompt_blocks:
        name = f"no_{block}"
        template = json.dumps(_without_block(block))  # a JSON string is valid YAML: newlines survive --set
        overrides = (f"prompt.user_template={template}", "reasoner.generation.ablation=false")
        variants.append(Variant(name, shared + overrides))
        rows += [
            AblationRow(f"{block} off in the prompt: reasoner, stages 1-3", name, ModelId.REASONER_STAGE3),
            AblationRow(f"{block} off in the prompt: VTA (own reasoner)", name, ModelId.VTA_REASONER),
        ]
    for attributes in study.ablation.attributes:
        joined = ",".join(attributes)
        name = f"attributes={joined}"
        variants.append(Variant(name, (*shared, f"fusion.training.attributes=[{joined}]")))
        rows += [
            AblationRow(f"conditioning on ({joined}): VTA (own reasoner)", name, ModelId.VTA_REASONER),
            AblationRow(f"conditioning on ({joined}): VTA (released forecasts)", name, ModelId.VTA_RELEASED),
        ]
    return StudyDesign("ablation", tuple(variants), tuple(rows))


def study_design(kind: str, cfg: VTAConfig, only: tuple[str, ...] = ()) -> StudyDesign:
    if kind == "sensitivity":
        return sensitivity_design(cfg, only)
    if kind == "ablation":
        if only:
            raise StudyDesignError("--only selects sensitivity parameters; the ablation has none")
        return ablation_design(cfg)
    raise StudyDesignError(f"unknown study kind {kind!r}; known: {', '.join(STUDY_KINDS)}")
