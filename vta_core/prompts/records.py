"""Chat-format records ready for TRL: system + user messages, target vector, window identity."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vta_core.annotation.indicators import STAT_COLUMNS
from vta_core.prompts.template import render
from vta_core.prompts.text import format_number, indicator_block, series_text, statistics_block

LOG = logging.getLogger(__name__)
# Digits one per token, words whole, other symbols one each: close to Qwen2-style tokenisers on this text.
_ESTIMATE = re.compile(r"\d|[A-Za-z]+|[^\sA-Za-z\d]")


@dataclass(frozen=True)
class PromptParts:
    system_template: str
    user_template: str
    digits: int
    periods: Mapping[str, str]  # indicator name -> period label shown in the prompt, e.g. "5" or "2/5/2"


def chat_records(
    series: np.ndarray,
    targets: np.ndarray,
    annotations: pd.DataFrame,
    parts: PromptParts,
    indicator_names: tuple[str, ...],
) -> Iterator[dict]:
    """One record per window; `series` (n, T) is the shown price series, `targets` (n, H)."""
    lookback, horizon = series.shape[1], targets.shape[1]
    stats = annotations[list(STAT_COLUMNS)].to_numpy(dtype=float)
    indicators = annotations[list(indicator_names)].to_numpy(dtype=float)
    end_dates = annotations["window_end_date"].dt.strftime("%Y-%m-%d").to_numpy()
    tickers, splits, folds = (annotations[c].astype(str).to_numpy() for c in ("ticker", "split", "fold"))
    for i in range(len(annotations)):
        values = {
            "lookback": lookback,
            "horizon": horizon,
            "series": series_text(series[i], parts.digits),
            "last_close": format_number(float(series[i][-1]), parts.digits),
            "statistics": statistics_block(dict(zip(STAT_COLUMNS, stats[i], strict=False)), parts.digits),
            "indicators": indicator_block(
                dict(zip(indicator_names, indicators[i], strict=True)), parts.periods, parts.digits
            ),
            "ticker": tickers[i],
            "end_date": end_dates[i],
        }
        yield {
            "prompt": [
                {"role": "system", "content": render(parts.system_template, values)},
                {"role": "user", "content": render(parts.user_template, values)},
            ],
            "target": [float(v) for v in targets[i]],
            "ticker": tickers[i],
            "window_end_date": end_dates[i],
            "split": splits[i],
            "fold": int(folds[i]),
        }


class TokenCounter:
    """Counts prompt tokens with a real tokenizer (tokenizer.json) or, without one, an estimate."""

    def __init__(self, tokenizer: str | None):
        self.exact = False
        self._tokenizer = None
        if tokenizer is not None:
            from tokenizers import Tokenizer  # imported here: only needed when a tokenizer is configured

            path = Path(tokenizer)
            file = path / "tokenizer.json" if path.is_dir() else path
            if not file.is_file():
                raise FileNotFoundError(f"prompt.tokenizer: no tokenizer.json at {path}")
            self._tokenizer = Tokenizer.from_file(str(file))
            self.exact = True

    def count(self, text: str) -> int:
        if self._tokenizer is not None:
            return len(self._tokenizer.encode(text).ids)
        return len(_ESTIMATE.findall(text))

    def count_record(self, record: Mapping) -> int:
        return sum(self.count(message["content"]) for message in record["prompt"])
