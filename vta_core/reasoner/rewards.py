"""Reward functions for TRL's GRPOTrainer: `(completions, **kwargs) -> list[float]`, pure and tiny.

TRL passes the dataset's extra columns as keyword arguments, so the target vector arrives as
`target` (one list per completion). Completions are strings for plain prompts and message lists
for conversational prompts; both are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vta_core.config.reasoner_sections import RewardConfig
from vta_core.prompts.parser import TAGS, parse_answer

RewardFn = Callable[..., list[float]]


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or the content of a conversational message list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise TypeError(f"unexpected completion type {type(completion).__name__}")


def forecast_mse(text: str, target: Sequence[float]) -> float | None:
    """MSE of the parsed forecast against the target, or None when the completion does not parse."""
    parsed = parse_answer(text, len(target))
    if not parsed.valid:
        return None
    return float(np.mean((np.asarray(parsed.forecast) - np.asarray(target, dtype=float)) ** 2))


def inverse_mse_reward(scale: float, lam: float, eps: float) -> RewardFn:
    """r = scale / (lam * MSE + eps) on a parsed forecast, 0 when unparsable (the paper's Time-GRPO reward)."""

    def reward(completions: list[Any], target: list[Sequence[float]], **_: Any) -> list[float]:
        out = []
        for completion, tgt in zip(completions, target, strict=True):
            mse = forecast_mse(completion_text(completion), tgt)
            out.append(0.0 if mse is None else scale / (lam * mse + eps))
        return out

    reward.__name__ = "inverse_mse"  # TRL logs each reward under its function's name
    return reward


def format_reward(weight: float) -> RewardFn:
    """`weight` for a completion the strict parser accepts; otherwise a quarter of `weight` per tag that
    occurs exactly once, halved, so a well-formed answer always beats a merely tagged one."""

    def reward(completions: list[Any], target: list[Sequence[float]], **_: Any) -> list[float]:
        out = []
        for completion, tgt in zip(completions, target, strict=True):
            text = completion_text(completion)
            if parse_answer(text, len(tgt)).valid:
                out.append(weight)
            else:
                out.append(weight * 0.5 * sum(text.count(tag) == 1 for tag in TAGS) / len(TAGS))
        return out

    reward.__name__ = "format"
    return reward


def reward_functions(cfg: RewardConfig) -> list[RewardFn]:
    functions = [inverse_mse_reward(cfg.mse_scale, cfg.mse_lambda, cfg.mse_eps)]
    if cfg.format_weight > 0:
        functions.append(format_reward(cfg.format_weight))
    return functions
