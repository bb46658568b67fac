"""Config of the studies (SPEC section 7, issue 11): the sensitivity grid and the ablation variants.

A study runs the pipeline once per variant (an override set on the base config). No stage reads this section,
so it is in no cache key: a variant costs exactly the stages its overrides reach, the rest load from the cache.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vta_core.config.backtest_sections import Protocol
from vta_core.config.base import PositiveInt, Section

SensitivityParameter = Literal[
    "guidance_scale", "p_uncond", "reward_lambda", "group_size", "n_prototypes", "gamma", "costs_bps"
]
ALL_PARAMETERS: tuple[SensitivityParameter, ...] = (
    "guidance_scale",
    "p_uncond",
    "reward_lambda",
    "group_size",
    "n_prototypes",
    "gamma",
    "costs_bps",
)
PromptBlock = Literal["indicators", "statistics"]
Attribute = Literal["min", "mean", "max", "first", "last"]
NonNegative = Annotated[float, Field(ge=0.0)]


def _distinct(name: str, values: tuple) -> None:
    if not values or len(set(values)) != len(values):
        raise ValueError(f"{name} must list at least one value, each once")


class SensitivityGrid(Section):
    """The values tried per parameter, beside the base run's own value. Sized for the cpu preset on 2 cores (about
    40 minutes cold): s re-runs about a minute of guided inference, gamma and costs seconds of backtest; p_uncond
    re-trains fusion (about 4 min); lambda and G re-train the reasoner from stage 1 and the own-reasoner fusion
    (about 7 min each); the number of prototypes re-trains the backbone and fusion (about 8 min). Add points with
    e.g. `--set study.sensitivity.reward_lambda=[1,100]`."""

    guidance_scale: tuple[NonNegative, ...] = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)
    p_uncond: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = (0.1, 0.5)
    reward_lambda: tuple[Annotated[float, Field(gt=0.0)], ...] = (1.0,)
    group_size: tuple[Annotated[int, Field(ge=2)], ...] = (8,)
    n_prototypes: tuple[PositiveInt, ...] = (32,)
    gamma: tuple[NonNegative, ...] = (0.5, 8.0)
    costs_bps: tuple[NonNegative, ...] = (0.0, 25.0)

    @model_validator(mode="after")
    def _values(self) -> SensitivityGrid:
        for name in ALL_PARAMETERS:
            _distinct(f"study.sensitivity.{name}", getattr(self, name))
        return self


class AblationConfig(Section):
    """Which ablation variants run beside the base run (whose own rows give the stage-by-stage ablation)."""

    base_model: bool = Field(default=True, description="also decode the untrained reasoner (the 'base model' row)")
    prompt_blocks: tuple[PromptBlock, ...] = Field(
        default=("indicators", "statistics"),
        description="one variant per block: the prompt without it, the reasoner re-trained on those prompts",
    )
    attributes: tuple[tuple[Attribute, ...], ...] = Field(
        default=(("last",), ("min", "mean", "max", "first", "last")),
        description="conditioning attributes of fusion tried against the base run's (min, mean, max)",
    )

    @model_validator(mode="after")
    def _distinct_variants(self) -> AblationConfig:
        if len(set(self.prompt_blocks)) != len(self.prompt_blocks):
            raise ValueError("study.ablation.prompt_blocks lists a block twice")
        for attributes in self.attributes:
            _distinct("each entry of study.ablation.attributes", attributes)
        return self


class StudyConfig(Section):
    """Sensitivity and ablation studies over the base configuration."""

    protocol: Protocol = Field(
        default="run",
        description="the backtest protocol of every variant; `run` by default because the `dates` pass of the cpu "
        "preset does not retrain the reasoner, so the VTA rows are backtested under `run` only",
    )
    parameters: tuple[SensitivityParameter, ...] = Field(
        default=ALL_PARAMETERS, description="the sensitivity parameters to vary (the others keep the base value)"
    )
    sensitivity: SensitivityGrid = SensitivityGrid()
    ablation: AblationConfig = AblationConfig()
    models: tuple[str, ...] = Field(
        default=("vta_reasoner", "vta_released", "calf", "persistence"),
        description="the model ids a sensitivity table shows for every variant",
    )
    noise_sigmas: Annotated[float, Field(gt=0.0)] = Field(
        default=2.0,
        description="a change against the base run counts as inside seed noise when it is within this many "
        "standard deviations of the difference of two seed means",
    )

    @model_validator(mode="after")
    def _lists(self) -> StudyConfig:
        _distinct("study.parameters", self.parameters)
        _distinct("study.models", self.models)
        return self
