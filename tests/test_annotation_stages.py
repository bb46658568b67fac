"""Annotation, prompt and analyst stages on real StockNet windows: golden files and leakage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vta_core.artifacts import ArtifactStore
from vta_core.config import load_config
from vta_core.data.schema import DATE, TICKER, VALUE_COLUMNS
from vta_core.stages.analyst_stage import analyst_stage
from vta_core.stages.annotation_stage import annotation_stage
from vta_core.stages.cleanse_stage import cleanse_stage, source_fingerprint
from vta_core.stages.prompts_stage import prompts_stage
from vta_core.stages.windows_stage import windows_stage

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_WINDOWS = [("AAPL", "test", "2016-09-02"), ("GMRE", "val", "2017-04-26")]


def run_stages(tmp_path: Path, *overrides: str, source: Path | None = None):
    extra = ["data.source.kind=file", f"data.source.path={source}", "data.source.tickers=null"] if source else []
    cfg = load_config("smoke", overrides=[*extra, *overrides], environ={})
    store = ArtifactStore(tmp_path / "artifacts")
    cleaned = cleanse_stage(cfg.data.source, cfg.data.calendar, source_fingerprint(cfg.data.source), store=store)
    windows = windows_stage(cfg.data.window, cfg.data.split, cleaned, store=store)
    annotations = annotation_stage(cfg.annotation, windows, store=store)
    prompts = prompts_stage(cfg.prompt, annotations, windows, store=store)
    analyst = analyst_stage(cfg.analyst, annotations, prompts, windows, store=store)
    return annotations, prompts, analyst


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    return run_stages(tmp_path_factory.mktemp("stages"))


def _record(ref, split, ticker, end, name):
    with ref.file(f"{name}_{split}.jsonl").open() as lines:
        for line in lines:
            record = json.loads(line)
            if record["ticker"] == ticker and record["window_end_date"] == end:
                return record
    raise AssertionError(f"no {name} record for {ticker} {end}")


@pytest.mark.parametrize(("ticker", "split", "end"), GOLDEN_WINDOWS)
def test_prompts_and_narratives_match_golden_files(stages, ticker, split, end):
    _, _, analyst = stages
    record = _record(analyst, split, ticker, end, "narratives")
    text = (
        f"=== system ===\n{record['prompt'][0]['content']}\n=== user ===\n{record['prompt'][1]['content']}\n"
        f"=== rule-based analyst ===\n{record['completion']}\n"
    )
    golden = GOLDEN / f"{ticker}_{end}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"regenerate with UPDATE_GOLDEN=1 if the change is intended: {golden}"


def test_prompt_report_and_records(stages):
    _, prompts, _ = stages
    report = json.loads(prompts.file("prompt_report.json").read_text())
    assert report["records"] > 0 and report["over_long"] == 0 and 300 < report["tokens_max"] < 1024
    record = _record(prompts, "test", "AAPL", "2016-09-02", "records")
    assert [m["role"] for m in record["prompt"]] == ["system", "user"] and len(record["target"]) == 10


def test_over_long_prompts_are_reported(tmp_path):
    _, prompts, _ = run_stages(tmp_path, "prompt.max_prompt_tokens=100")
    report = json.loads(prompts.file("prompt_report.json").read_text())
    assert report["over_long"] == report["records"]
    assert len(pd.read_parquet(prompts.file("over_long.parquet"))) == report["records"]


@pytest.mark.parametrize("mode", ["window", "history"])
def test_future_prices_change_no_past_feature(tmp_path, stocknet_raw, mode):
    prices = stocknet_raw[stocknet_raw[TICKER].isin(["AAPL", "XOM"])].drop(columns=["_file", "_row"])
    original = tmp_path / "original.csv"
    prices.to_csv(original, index=False, date_format="%Y-%m-%d")
    cut = pd.Timestamp("2016-06-01")
    changed = prices.copy()
    later = changed[DATE] > cut
    changed.loc[later, list(VALUE_COLUMNS)] *= np.random.default_rng(0).uniform(0.5, 2.0, size=(int(later.sum()), 1))
    edited = tmp_path / "edited.csv"
    changed.to_csv(edited, index=False, date_format="%Y-%m-%d")
    before = pd.read_parquet(
        run_stages(tmp_path / "a", f"annotation.mode={mode}", source=original)[0].file("annotations.parquet")
    )
    after = pd.read_parquet(
        run_stages(tmp_path / "b", f"annotation.mode={mode}", source=edited)[0].file("annotations.parquet")
    )
    # Training rows of both tickers end before the cut, so scalers agree and every earlier window's
    # statistics and indicators must be identical.
    past = before["window_end_date"] <= cut
    assert past.sum() > 1000
    pd.testing.assert_frame_equal(before[past].reset_index(drop=True), after[past].reset_index(drop=True))
    assert not before[~past].drop(columns=["window"]).equals(after[~past].drop(columns=["window"]))


def test_token_counts_use_the_configured_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from vta_core.prompts.records import TokenCounter

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(["the price is up", "RSI 71"], trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    exact = TokenCounter(str(tmp_path))
    assert exact.exact and exact.count("the price is up today") == 5
    assert not TokenCounter(None).exact and TokenCounter(None).count("RSI 71.2") == 5  # RSI, 7, 1, ".", 2
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        TokenCounter(str(tmp_path / "missing"))
