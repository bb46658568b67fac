"""Rule-based analyst stage: damped-trend forecasts (damping chosen on validation) and narratives.

Writes the analyst's predictions (evaluated like any model), its narratives as prompt/completion
records (the warm-start corpus of a tiny reasoner) and the reasoning-quality scores of each
narrative on the evaluated splits.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from vta_core.analyst import rule_based
from vta_core.artifacts import ArtifactRef, require, write_json, write_parquet
from vta_core.config.annotation_sections import AnalystConfig
from vta_core.data.windows import TARGET_COLUMN
from vta_core.evaluation import predictions, reasoning_quality
from vta_core.identities import ModelId, StageName
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.records import STAT_COLUMNS
from vta_core.prompts.text import INDICATOR_LABELS
from vta_core.stage_keys import StageOutput, stage
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)
EVALUATED = ("val", "test")


@stage(StageName.ANALYST)
def analyst_stage(
    analyst: AnalystConfig, annotations: ArtifactRef, prompts: ArtifactRef, windows: ArtifactRef, out: StageOutput
) -> ArtifactRef:
    ws = load_windows(windows)
    table = pd.read_parquet(require(annotations).file("annotations.parquet"))
    digits = json.loads(require(prompts).file("prompt_report.json").read_text()).get("significant_digits", 4)
    indicator_names = [n for n in INDICATOR_LABELS if n in table.columns]
    history = ws.inputs()[:, :, TARGET_COLUMN]
    split = ws.index["split"].astype(str).to_numpy()
    val = split == "val"
    tickers = ws.index["ticker"].astype(str).to_numpy()
    phi, val_scores = rule_based.choose_damping(history[val], ws.targets()[val], tickers[val], analyst.damping_grid)
    forecasts = rule_based.damped_trend(history, ws.horizon, phi)
    stats = table[list(STAT_COLUMNS)].to_numpy(float)
    values = table[indicator_names].to_numpy(float)
    quality_rows, parsed_forecasts = [], np.full_like(forecasts, np.nan)
    with out.writing() as folder:
        for part in sorted(set(analyst.narratives_for) | set(EVALUATED)):
            rows = np.flatnonzero(split == part)
            prompt_lines = (prompts.file(f"records_{part}.jsonl")).open()
            with (folder / f"narratives_{part}.jsonl").open("w") as sink:
                for i in rows:
                    record = json.loads(next(prompt_lines))
                    ind = dict(zip(indicator_names, values[i], strict=False))
                    completion = rule_based.narrative(
                        history[i], dict(zip(STAT_COLUMNS, stats[i], strict=False)), ind, forecasts[i], digits
                    )
                    parsed = parse_answer(completion, ws.horizon)
                    parsed_forecasts[i] = parsed.forecast if parsed.valid else np.nan
                    if part in analyst.narratives_for:
                        # The same analysis in words (no quoted values): the warm start's choice for a tiny model.
                        qualitative = rule_based.narrative(
                            history[i], {}, ind, forecasts[i], digits, style="qualitative"
                        )
                        sink.write(json.dumps({**record, "completion": completion, "qualitative": qualitative}) + "\n")
                    if part in EVALUATED:
                        prompt_text = "\n".join(m["content"] for m in record["prompt"])
                        s = reasoning_quality.score_narrative(
                            completion, prompt_text, ind, history[i, -1], ws.horizon, digits
                        )
                        quality_rows.append(s.row(ModelId.ANALYST, part))
            prompt_lines.close()
        evaluated = ws.select(EVALUATED)
        mask = np.isin(split, EVALUATED)
        write_parquet(
            folder / "predictions.parquet",
            predictions.prediction_frame(evaluated, parsed_forecasts[mask], ModelId.ANALYST),
        )
        write_parquet(folder / "quality.parquet", pd.DataFrame(quality_rows, columns=reasoning_quality.QUALITY_COLUMNS))
        write_json(folder / "analyst_report.json", {"damping": phi, "validation_mse_by_damping": val_scores})
    LOG.info("rule-based analyst: damping %.2f chosen on validation (MSE by damping %s)", phi, val_scores)
    return out.ref
