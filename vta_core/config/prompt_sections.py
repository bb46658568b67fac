"""Config section of the prompts (SPEC section 4)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from vta_core.config.base import PositiveInt, Section
from vta_core.prompts.template import DEFAULT_SYSTEM, DEFAULT_USER, validate_templates


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
