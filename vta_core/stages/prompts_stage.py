"""Prompt stage (paper task 5): chat records of every window, with exact token counts where a tokenizer exists."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from vta_core.annotation.indicators import INDICATORS
from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.config.prompt_sections import PromptConfig
from vta_core.data.schema import VALUE_COLUMNS
from vta_core.identities import StageName
from vta_core.prompts import records
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)
_COL = {name: VALUE_COLUMNS.index(name) for name in VALUE_COLUMNS}


@stage(StageName.PROMPTS)
def prompts_stage(
    prompt: PromptConfig, annotations: ArtifactRef, windows: ArtifactRef, out: StageOutput
) -> ArtifactRef:
    ws = load_windows(windows)
    table = pd.read_parquet(require(annotations).file("annotations.parquet"))
    meta = json.loads(annotations.file("periods.json").read_text())
    parts = records.PromptParts(prompt.system_template, prompt.user_template, prompt.significant_digits, meta["labels"])
    price_column = meta["price_column"]
    shown = ws.inputs()[:, :, _COL[price_column]]
    counter = records.TokenCounter(prompt.tokenizer)
    lengths, over = [], []
    with out.writing() as folder:
        handles = {s: (folder / f"records_{s}.jsonl").open("w") for s in ("train", "val", "test")}
        try:
            for record in records.chat_records(shown, ws.targets(), table, parts, INDICATORS):
                n_tokens = counter.count_record(record)
                lengths.append(n_tokens)
                if n_tokens > prompt.max_prompt_tokens:
                    over.append(
                        {"ticker": record["ticker"], "window_end_date": record["window_end_date"], "tokens": n_tokens}
                    )
                handles[record["split"]].write(json.dumps(record) + "\n")
        finally:
            for handle in handles.values():
                handle.close()
        lengths_arr = np.asarray(lengths)
        report = {
            "records": len(lengths),
            "exact_token_counts": counter.exact,
            "significant_digits": prompt.significant_digits,
            "tokens_mean": float(lengths_arr.mean()) if len(lengths) else 0.0,
            "tokens_p95": float(np.percentile(lengths_arr, 95)) if len(lengths) else 0.0,
            "tokens_max": int(lengths_arr.max()) if len(lengths) else 0,
            "max_prompt_tokens": prompt.max_prompt_tokens,
            "over_long": len(over),
        }
        write_json(folder / "prompt_report.json", report)
        write_parquet(folder / "over_long.parquet", pd.DataFrame(over, columns=["ticker", "window_end_date", "tokens"]))
    if over:
        LOG.warning(
            "%d prompts exceed %d tokens (longest %d)", len(over), prompt.max_prompt_tokens, report["tokens_max"]
        )
    return out.ref
