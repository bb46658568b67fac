"""`vta predict`: forecast + narrative for the latest window of each ticker in a new price file.

Uses a finished run's resolved config, scalers, backbone checkpoint and (when the run fused its own
reasoner) its fusion model. The narrative comes from the run's own reasoner when it has one, else
from the rule-based analyst with the damping the run chose on validation. The final forecast is the
guided fusion forecast when the run has a fusion model whose reasoning source can speak about new
data (the own reasoner); otherwise it is the backbone's unconditional forecast y_phi, and the
output says so in `fallback_reason`. (The released Qwen2.5-7B forecasts exist only for StockNet's
historical windows, so a model fused with them cannot be conditioned on new days.) `fusion_uses_reasoner`
and `fusion_note` say whether the final forecast is really conditioned on the narrator's forecast (not when
the chosen guidance scale is 0). The narrative is given in price units (`narrative`, see
`narrative_units`) beside the original in the run's standardised space (`narrative_std`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from vta_core.analyst import rule_based
from vta_core.annotation.indicators import INDICATORS
from vta_core.artifacts import ArtifactRef, require, write_parquet
from vta_core.config.sections import VTAConfig
from vta_core.data.calendars import market_of, sessions
from vta_core.data.cleansing import cleanse
from vta_core.data.schema import VALUE_COLUMNS
from vta_core.data.sources import read_source
from vta_core.data.windows import TARGET_COLUMN, WindowSet
from vta_core.fusion import conditioning, guidance, training
from vta_core.identities import ModelId, StageName
from vta_core.inference import narration
from vta_core.inference.latest import latest_windows
from vta_core.inference.narrative_units import to_price_units
from vta_core.models import trainer
from vta_core.prompts.parser import parse_answer
from vta_core.prompts.records import STAT_COLUMNS, PromptParts, chat_records
from vta_core.prompts.text import INDICATOR_LABELS
from vta_core.stages.annotation_stage import annotate_windows
from vta_core.stages.fusion_common import SOURCES, load_fusion
from vta_core.stages.loaders import load_windows

LOG = logging.getLogger(__name__)


class RunArtifactsError(FileNotFoundError):
    """The run folder lacks what prediction needs (config, references, a trained backbone)."""


@dataclass(frozen=True)
class Prediction:
    table: pd.DataFrame  # one row per ticker
    dropped: pd.DataFrame  # cleansing audit of the new file: every dropped row and its rule
    skipped: pd.DataFrame  # tickers not forecast (too little history), with the rule and why (non-strict only)


def _run_refs(run_folder: Path) -> tuple[VTAConfig, dict]:
    config_file, refs_file = run_folder / "config.yaml", run_folder / "refs.json"
    if not config_file.is_file() or not refs_file.is_file():
        raise RunArtifactsError(f"{run_folder} is not a finished run (needs config.yaml and refs.json)")
    return VTAConfig.model_validate(yaml.safe_load(config_file.read_text())), json.loads(refs_file.read_text())


def _predictions_refs(refs: dict, stage: str) -> list[ArtifactRef]:
    return [ArtifactRef.model_validate(r) for r in refs.get("predictions", []) if r["stage"] == stage]


def _backbone(refs: dict) -> tuple[ArtifactRef, int]:
    """The CALF-like backbone with the lowest seed."""
    found = []
    for ref in _predictions_refs(refs, StageName.TIMESERIES):
        log = json.loads(require(ref).file("training_log.json").read_text())
        if log["model"] == ModelId.BACKBONE:
            found.append((int(log["seed"]), ref))
    if not found:
        raise RunArtifactsError("the run trained no CALF-like backbone (backbone.enabled was false)")
    seed, ref = min(found, key=lambda item: item[0])
    return ref, seed


def _fusion_for(refs: dict, source: str, seed: int) -> dict | None:
    """The fusion inference's `sources.json` (with `guidance_setting`, the configured scale or 'validation',
    from its `inference_report.json`) for a reasoning source and backbone seed, or None."""
    for ref in _predictions_refs(refs, StageName.FUSION_INFERENCE):
        meta = json.loads(require(ref).file(SOURCES).read_text())
        if meta["source"] == source and int(meta["seed"]) == seed:
            report = json.loads(ref.file("inference_report.json").read_text())
            return {**meta, "guidance_setting": report["guidance_scale"]}
    return None


def _analyst(refs: dict, ws: WindowSet, annotations: pd.DataFrame, digits: int) -> tuple[list[str], np.ndarray, float]:
    """The rule-based analyst's narratives, parsed forecasts and damping (the run's choice on validation)."""
    ref = next(iter(_predictions_refs(refs, StageName.ANALYST)), None)
    damping = json.loads(require(ref).file("analyst_report.json").read_text())["damping"] if ref else 0.0
    history = ws.inputs()[:, :, TARGET_COLUMN]
    forecasts = rule_based.damped_trend(history, ws.horizon, damping)
    names = [n for n in INDICATOR_LABELS if n in annotations.columns]
    texts, parsed = [], np.full_like(forecasts, np.nan)
    for i in range(len(ws)):
        stats = dict(zip(STAT_COLUMNS, annotations[list(STAT_COLUMNS)].to_numpy(float)[i], strict=False))
        values = dict(zip(names, annotations[names].to_numpy(float)[i], strict=True))
        text = rule_based.narrative(history[i], stats, values, forecasts[i], digits)
        answer = parse_answer(text, ws.horizon)
        parsed[i] = answer.forecast if answer.valid else np.nan
        texts.append(text)
    return texts, parsed, float(damping)


def _reasoner(
    cfg: VTAConfig, refs: dict, ws: WindowSet, annotations: pd.DataFrame, labels: dict[str, str]
) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """The run's stage-3 reasoner on the new windows: (texts, forecasts with NaN rows, valid), or None."""
    if ModelId.REASONER_STAGE3 not in refs:
        return None
    from vta_core.reasoner import generation, loading  # heavy (transformers): only when the run has a reasoner

    prompt = cfg.prompt
    parts = PromptParts(prompt.system_template, prompt.user_template, prompt.significant_digits, labels)
    shown = ws.inputs()[:, :, VALUE_COLUMNS.index(cfg.annotation.price_column)]
    records = list(chat_records(shown, np.zeros((len(ws), ws.horizon)), annotations, parts, INDICATORS))
    checkpoint = loading.Checkpoint.read(require(ArtifactRef.model_validate(refs[ModelId.REASONER_STAGE3])).path)
    net, tokenizer = loading.load_for_decoding(checkpoint, cfg.reasoner)
    g = cfg.reasoner.generation
    decoded = generation.generate(
        net,
        tokenizer,
        records,
        ws.horizon,
        g.batch_size,
        g.max_new_tokens,
        g.temperature,
        g.retry_temperature,
        g.retries,
        cfg.reasoner.seed,
        engine=g.engine,
        constrained=g.answer_grammar,
        last_prices=shown[:, -1] if g.retry_contradicting else None,
        digits=prompt.significant_digits,
    )
    valid = np.array([d.parsed.valid for d in decoded], dtype=bool)
    forecasts = np.array([d.parsed.forecast if d.parsed.valid else [np.nan] * ws.horizon for d in decoded], dtype=float)
    return [d.text for d in decoded], forecasts, valid


def _forecast_dates(cfg: VTAConfig, ticker: str, end: np.datetime64, horizon: int) -> list[str]:
    """The next `horizon` sessions of the ticker's exchange (never date + 1 day)."""
    start = pd.Timestamp(end) + pd.Timedelta(days=1)
    market = market_of(ticker, cfg.data.calendar.default_market, cfg.data.calendar.ticker_markets)
    days = sessions(market, start, start + pd.Timedelta(days=3 * horizon + 14))[:horizon]
    return [str(np.datetime64(d, "D")) for d in days]


def predict_latest(
    run_folder: Path, input_path: Path | str, output: Path | None = None, min_history: int = 60, strict: bool = True
) -> Prediction:
    """Forecast the latest window of every ticker in a file, a folder of files or an fsspec URL."""
    return predict_prices(run_folder, read_source(str(input_path)), str(input_path), output, min_history, strict)


def predict_prices(
    run_folder: Path,
    raw: pd.DataFrame,
    source: str,
    output: Path | None = None,
    min_history: int = 60,
    strict: bool = True,
) -> Prediction:
    """`raw`: prices as `read_prices` returns them. strict: any ticker that cannot be forecast is an error;
    otherwise it is reported in `Prediction.skipped` and every other ticker is forecast."""
    cfg, refs = _run_refs(run_folder)
    cleaned = cleanse(raw, cfg.data.calendar)
    if len(cleaned.audit):
        LOG.warning(
            "%s: cleansing dropped %d rows: %s",
            source,
            len(cleaned.audit),
            cleaned.audit["rule"].value_counts().to_dict(),
        )
    trained = load_windows(ArtifactRef.model_validate(refs["windows"]))
    ws, problems = latest_windows(cleaned.prices, trained, source, min_history, strict)
    records = [{"ticker": p.ticker, "rule": p.rule, "detail": p.detail} for p in problems]
    skipped = pd.DataFrame(records, columns=["ticker", "rule", "detail"])
    for problem in problems:
        LOG.warning("not forecast: %s", problem)
    annotations, periods = annotate_windows(ws, cfg.annotation)
    narratives, reasoning, damping = _analyst(refs, ws, annotations, cfg.prompt.significant_digits)
    own = _reasoner(cfg, refs, ws, annotations, periods.labels())
    parsed = None
    if own is not None:  # the reasoner speaks where its output parsed; the analyst covers the rest
        texts, forecasts, parsed = own
        narratives = [t if ok else n for t, n, ok in zip(texts, narratives, parsed, strict=False)]
        reasoning = np.where(parsed[:, None], forecasts, np.nan)
    narrator = narration.narrators(parsed, len(ws), damping, cfg.reasoner.model)
    backbone_ref, seed = _backbone(refs)
    x = ws.inputs().astype(np.float32)
    phi = trainer.load_checkpoint(backbone_ref.file(f"checkpoint_fold{int(ws.index['fold'].iloc[0])}"))
    y_phi = trainer.predict(phi, x)
    y, y_psi, scale = y_phi.copy(), np.full_like(y_phi, np.nan), float("nan")
    reason = np.array(["the run fused no reasoner that can read new data"] * len(ws), dtype=object)
    fusion = _fusion_for(refs, "reasoner", seed) if own is not None else None
    choice, available = None, None
    if fusion is not None:
        fold = int(ws.index["fold"].iloc[0])
        net, psi, attributes = load_fusion(ArtifactRef.model_validate(fusion["fusion"]), backbone_ref, fold)
        table = pd.DataFrame(
            {
                "ticker": np.repeat(ws.index["ticker"].to_numpy(), ws.horizon),
                "split": "predict",
                "window_end_date": np.repeat(ws.index["end_date"].to_numpy(), ws.horizon),
                "step": np.tile(np.arange(1, ws.horizon + 1), len(ws)),
                "y_hat": reasoning.reshape(-1),
            }
        )
        c, available = conditioning.attributes_for(ws.index, table.dropna(), attributes, ws.horizon)
        arrays = training.FusionArrays(x, np.zeros_like(y_phi), c, available, y_phi)
        y_psi = training.predict_conditional(psi, arrays)
        scale = float(fusion["guidance_scale"])
        y = guidance.guided(y_phi, y_psi, scale, available)
        no_reason = np.array(None, dtype=object)  # numpy's stubs do not accept a bare None here
        reason = np.where(available, no_reason, "the reasoner's output did not parse: backbone y_phi")
        choice = narration.GuidanceChoice(scale, fusion["guidance_setting"])
    use = narration.fusion_use(own is not None, choice, available, len(ws))
    mean, std = ws.price_scale()
    priced = [to_price_units(t, float(m), float(s)) for t, m, s in zip(narratives, mean, std, strict=True)]
    to_price = lambda z: z * std[:, None] + mean[:, None]  # noqa: E731
    tickers = ws.index["ticker"].astype(str).to_numpy()
    ends = ws.index["end_date"].to_numpy()
    result = pd.DataFrame(
        {
            "ticker": tickers,
            "window_end_date": ends,
            "last_price": to_price(x[:, -1:, TARGET_COLUMN].astype(float))[:, 0],
            "forecast_dates": [_forecast_dates(cfg, t, e, ws.horizon) for t, e in zip(tickers, ends, strict=False)],
            "forecast": list(to_price(y)),
            "y_phi": list(to_price(y_phi)),
            "y_psi": list(to_price(y_psi)),
            "reasoner_forecast": list(to_price(reasoning)),
            "forecast_scaled": list(y),
            "narrative": [p.text for p in priced],  # numbers in price units
            "narrative_std": narratives,  # as written: numbers in the run's standardised space
            "narrative_unmapped": np.array([p.unmapped for p in priced], dtype=np.int64),
            "narrator": narrator.labels,
            "narrator_id": narrator.ids,
            "fusion_uses_reasoner": use.uses_reasoner,
            "fusion_note": use.notes,
            "fused": pd.isna(reason),
            "fallback_reason": reason,
            "scaler": ws.scalers["scaler"].to_numpy()[ws.index["scaler_id"].to_numpy()],
            "backbone_seed": seed,
            "guidance_scale": scale,
            "scale_mean": mean,
            "scale_std": std,  # `narrative_std` numbers are z-scores: price = z * std + mean
        }
    )
    if output is not None:
        write_parquet(output, result)
    return Prediction(result, cleaned.audit, skipped)
