"""Config resolution: presets, YAML, environment, --set, and errors that list every problem."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from vta_core.config import ConfigError, VTAConfig, available_presets, load_config
from vta_core.config.sections import DateSplit, PaperSplit


def test_shipped_presets_validate():
    assert {"smoke", "cpu", "paper"} <= set(available_presets())
    for name in available_presets():
        assert isinstance(load_config(name, environ={}), VTAConfig)


def test_cpu_is_every_stocknet_ticker_and_smoke_is_small():
    assert load_config("cpu", environ={}).data.source.tickers is None
    smoke = load_config("smoke", environ={}).data.source.tickers
    assert smoke is not None and 3 <= len(smoke) <= 5


def test_precedence_preset_file_env_set(tmp_path):
    file = tmp_path / "over.yaml"
    file.write_text("data:\n  window:\n    lookback: 12\n    horizon: 7\n")
    env = {"VTA_DATA__WINDOW__LOOKBACK": "15", "HOME": "/x"}
    cfg = load_config("cpu", file, ["data.window.lookback=20"], environ=env)
    assert cfg.data.window.lookback == 20  # --set beats environment beats file
    assert cfg.data.window.horizon == 7  # file beats preset
    assert load_config("cpu", file, [], environ=env).data.window.lookback == 15


def test_switching_split_kind_drops_old_fields():
    cfg = load_config(
        "cpu",
        overrides=["data.split.kind=dates", "data.split.train_end=2015-01-02", "data.split.val_end=2016-01-04"],
        environ={},
    )
    assert isinstance(cfg.data.split, DateSplit)
    assert cfg.data.split.train_end == dt.date(2015, 1, 2)
    assert isinstance(load_config("cpu", environ={}).data.split, PaperSplit)


def test_configs_are_frozen():
    cfg = load_config("smoke", environ={})
    with pytest.raises(ValidationError):
        cfg.data.window.lookback = 3  # type: ignore[misc]


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        load_config(
            "cpu",
            overrides=["data.windw.lookback=3", "data.window.horizon=0", "baselines.models=[oracle]", "nokey"],
            environ={"VTA_EVALUATON__SPLITS": "[test]"},
        )
    problems = info.value.problems
    assert len(problems) == 5, problems
    text = str(info.value)
    assert "data.windw: unknown key; did you mean 'window'?" in text
    assert "evaluaton: unknown key; did you mean 'evaluation'?" in text
    assert "data.window.horizon" in text and "greater than 0" in text
    assert "baselines.models" in text
    assert "expected KEY=VALUE" in text


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown preset 'smok'.*did you mean 'smoke'"):
        load_config("smok", environ={})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.source.kind=file"], "data.source.path is required"),
        (["data.split.train_fraction=0.8", "data.split.test_fraction=0.3"], "must be < 1"),
        (
            ["data.split.kind=dates", "data.split.train_end=2016-01-04", "data.split.val_end=2015-01-02"],
            "train_end must be before",
        ),
        (["baselines.models=[drift, drift]"], "twice"),
        (["data.source.tickers=[]"], "at least one ticker"),
        # The backtest's config fails with the rest, before any stage runs.
        (["backtest.portfolio.gamma=-1"], r"backtest\.portfolio\.gamma"),
        (["backtest.portfolio.costs_bps=-5"], r"backtest\.portfolio\.costs_bps"),
        (["backtest.protocols=[dates, dates]"], "protocol twice"),
    ],
)
def test_semantic_rules(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cpu", overrides=overrides, environ={})


def test_bad_config_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("cpu", missing, environ={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("cpu", broken, environ={})


def test_seed_is_the_default_seed_of_every_seeded_stage():
    cfg = load_config("cpu", overrides=["seed=3"], environ={})
    assert cfg.reasoner.seed == 3
    assert cfg.backbone.train.seeds == cfg.dlinear.train.seeds == cfg.tsmixer.train.seeds == (3, 4, 5)
    own = load_config("cpu", overrides=["seed=3", "reasoner.seed=7", "backbone.train.seeds=[9]"], environ={})
    assert own.reasoner.seed == 7 and own.backbone.train.seeds == (9,) and own.dlinear.train.seeds == (3, 4, 5)


@pytest.mark.parametrize("date_pass_reasoner", [False, True])
def test_date_protocol_config_trains_no_reasoner_unless_asked(date_pass_reasoner):
    from vta_core.config.protocols import date_protocol_config

    cfg = load_config("cpu", overrides=[f"backtest.date_pass_reasoner={str(date_pass_reasoner).lower()}"], environ={})
    dates = date_protocol_config(cfg)
    assert dates.data.split == cfg.backtest.date_split
    assert dates.reasoner.enabled is date_pass_reasoner
    # Without a reasoner the analyst's train-split narratives (the warm-start corpus) are not written.
    expected = ("train", "val", "test") if date_pass_reasoner else ("val", "test")
    assert dates.analyst.narratives_for == expected
    assert dates.model_copy(update={"data": cfg.data, "reasoner": cfg.reasoner, "analyst": cfg.analyst}) == cfg
