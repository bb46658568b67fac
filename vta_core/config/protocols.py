"""The configuration of the backtest's `dates` protocol, derived from a run's configuration."""

from __future__ import annotations

from vta_core.config.sections import VTAConfig


def date_protocol_config(cfg: VTAConfig) -> VTAConfig:
    """The same run on the backtest's global date split: every stage that reads the split (windows and all
    that follows) gets a new key; what does not (cleansing, language prototypes) stays cached."""
    data = cfg.model_dump(mode="json")
    data["data"]["split"] = cfg.backtest.date_split.model_dump(mode="json")
    if not cfg.backtest.date_pass_reasoner or not cfg.reasoner.enabled:
        data["reasoner"]["enabled"] = False
        # No reasoner trains on this pass: the analyst writes the narratives its own forecasts and quality
        # need (val and test), not the train-split warm-start corpus (70 % of its time).
        data["analyst"]["narratives_for"] = [s for s in cfg.analyst.narratives_for if s != "train"]
    return VTAConfig.model_validate(data)
