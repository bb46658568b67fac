"""A deterministic technical analyst.

It reads the statistics and indicators of one window (the same numbers the prompt shows) and
writes a narrative in the reasoner's answer format, ending with a forecast from a damped-trend
model: y_h = last + slope * (phi + phi^2 + ... + phi^h), slope = the window's mean daily change.
phi = 0 is persistence and phi = 1 is drift; the damping is chosen on validation windows only, by
the evaluation's per-ticker MSE (`choose_damping`).
Its narratives are the warm-start corpus of a tiny reasoner and it is an evaluated model itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, TypeGuard

import numpy as np

from vta_core.evaluation.selection import lowest, per_ticker_mse
from vta_core.prompts.text import format_number, series_text

# Conventional thresholds; the reasoning-quality checks use the same ones.
RSI_HIGH, RSI_LOW = 70.0, 30.0
STOCH_HIGH, STOCH_LOW = 80.0, 20.0
WILLR_HIGH, WILLR_LOW = -20.0, -80.0
ADX_STRONG, ADX_WEAK = 25.0, 20.0

Direction = Literal["rise", "fall", "flat"]
NarrativeStyle = Literal["quoted", "qualitative"]


def forecast_direction(last: float, final: float, digits: int = 4) -> Direction:
    """Direction from the last price to a forecast's final value as a reader of the printed numbers sees it:
    'flat' when both print the same at `digits` significant digits (or either is not finite), else the sign
    of the change. The analyst's conclusion and the reasoning-quality check `conclusion_agrees` share it."""
    if not (math.isfinite(last) and math.isfinite(final)):
        return "flat"
    if format_number(final, digits) == format_number(last, digits):
        return "flat"
    return "rise" if final > last else "fall"


def damped_trend(history: np.ndarray, horizon: int, phi: float) -> np.ndarray:
    """(n, T) history -> (n, horizon) forecasts."""
    slope = (history[:, -1] - history[:, 0]) / max(history.shape[1] - 1, 1)
    weights = np.cumsum(phi ** np.arange(1, horizon + 1))
    return history[:, -1:] + slope[:, None] * weights[None, :]


def choose_damping(
    history: np.ndarray, targets: np.ndarray, tickers: np.ndarray, grid: Sequence[float]
) -> tuple[float, dict[str, float]]:
    """The damping with the lowest per-ticker MSE on the given (validation) windows.

    history (n, T), targets (n, H), tickers (n,). Ties go to the smaller, more conservative damping.
    Returns the damping and the score of each grid value keyed by its `:g` text (for a JSON report).
    """
    scores = {
        float(phi): per_ticker_mse(damped_trend(history, targets.shape[1], phi), targets, tickers) for phi in grid
    }
    return lowest(scores), {f"{phi:g}": score for phi, score in sorted(scores.items())}


def _ok(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


# One judgement per indicator, shared by the quoted and the qualitative narrative (same thresholds, same words).
def _zone(value: float | None, high: float, low: float, middle: str) -> str | None:
    if not _ok(value):
        return None
    return "overbought" if value > high else "oversold" if value < low else middle


def _sign_word(value: float, positive: str, negative: str, zero: str) -> str:
    return positive if value > 0 else negative if value < 0 else zero


def _adx_strength(adx: float) -> str:
    return "a strong trend" if adx > ADX_STRONG else "a weak trend" if adx < ADX_WEAK else "a moderate trend"


def _trend_kind(last: float, sma: float, ema: float) -> Literal["up", "down", "mixed"]:
    if last > sma and ema > sma:
        return "up"
    if last < sma and ema < sma:
        return "down"
    return "mixed"


def _band_position(last: float, upper: float, lower: float) -> Literal["above", "below", "inside"]:
    return "above" if last > upper else "below" if last < lower else "inside"


def _trend(last: float, ind: Mapping[str, float], f) -> str:
    sma, ema = ind.get("sma"), ind.get("ema")
    if not (_ok(sma) and _ok(ema)):
        return "There is not enough data for the moving averages, so the trend is undetermined."
    kind = _trend_kind(last, sma, ema)
    if kind == "up":
        return f"The last price {f(last)} is above the SMA {f(sma)} and the EMA {f(ema)} is above the SMA: an uptrend."
    if kind == "down":
        return f"The last price {f(last)} is below the SMA {f(sma)} and the EMA {f(ema)} is below the SMA: a downtrend."
    return f"The last price {f(last)}, the SMA {f(sma)} and the EMA {f(ema)} disagree: no clear trend."


def _oscillators(ind: Mapping[str, float], f) -> list[str]:
    out = []
    rsi, k, willr = ind.get("rsi"), ind.get("stoch_k"), ind.get("willr")
    if _ok(rsi):
        out.append(f"RSI is {f(rsi)}, which is {_zone(rsi, RSI_HIGH, RSI_LOW, 'neutral')}.")
    if _ok(k):
        out.append(f"Stochastic %K is {f(k)} ({_zone(k, STOCH_HIGH, STOCH_LOW, 'mid-range')}).")
    if _ok(willr):
        out.append(f"Williams %R is {f(willr)} ({_zone(willr, WILLR_HIGH, WILLR_LOW, 'mid-range')}).")
    return out


def _momentum_and_strength(ind: Mapping[str, float], f) -> list[str]:
    out = []
    mom, macd, adx = ind.get("momentum"), ind.get("macd"), ind.get("adx")
    if _ok(mom):
        out.append(f"Momentum is {f(mom)}, {_sign_word(mom, 'positive', 'negative', 'flat')}.")
    if _ok(macd):
        out.append(f"The MACD line is {f(macd)}, {_sign_word(macd, 'bullish', 'bearish', 'neutral')}.")
    if _ok(adx):
        out.append(f"ADX is {f(adx)}, indicating {_adx_strength(adx)}.")
    return out


def _bollinger(last: float, ind: Mapping[str, float], f) -> str | None:
    upper, lower = ind.get("bb_upper"), ind.get("bb_lower")
    if not (_ok(upper) and _ok(lower)):
        return None
    position = _band_position(last, upper, lower)
    if position == "above":
        return f"The price is above the upper Bollinger band {f(upper)}."
    if position == "below":
        return f"The price is below the lower Bollinger band {f(lower)}."
    return f"The price is inside the Bollinger bands ({f(lower)} to {f(upper)})."


_TREND_WORDS = {
    "up": "The price and the EMA are above the SMA: an uptrend.",
    "down": "The price and the EMA are below the SMA: a downtrend.",
    "mixed": "The price and the EMA disagree about the SMA: no clear trend.",
}
_BAND_WORDS = {
    "above": "The price is above the upper Bollinger band.",
    "below": "The price is below the lower Bollinger band.",
    "inside": "The price is inside the Bollinger bands.",
}


def _qualitative(last: float, ind: Mapping[str, float]) -> list[str]:
    """Trend, momentum, overbought / oversold and volatility in words, without quoting a number: the same
    judgements as the quoted narrative (same thresholds), short enough for a tiny reasoner to carry."""
    sma, ema = ind.get("sma"), ind.get("ema")
    if _ok(sma) and _ok(ema):
        out = [_TREND_WORDS[_trend_kind(last, sma, ema)]]
    else:
        out = ["There is not enough data for the moving averages."]
    macd, adx = ind.get("macd"), ind.get("adx")
    momentum = []
    if _ok(macd):
        momentum.append(f"MACD is {_sign_word(macd, 'bullish', 'bearish', 'neutral')}")
    if _ok(adx):
        momentum.append(f"ADX shows {_adx_strength(adx)}")
    if momentum:
        out.append(" and ".join(momentum) + ".")
    zones = [
        f"{name} is {zone}"
        for name, zone in (
            ("RSI", _zone(ind.get("rsi"), RSI_HIGH, RSI_LOW, "neutral")),
            ("Stochastic %K", _zone(ind.get("stoch_k"), STOCH_HIGH, STOCH_LOW, "mid-range")),
        )
        if zone is not None
    ]
    if zones:
        out.append(" and ".join(zones) + ".")
    upper, lower = ind.get("bb_upper"), ind.get("bb_lower")
    if _ok(upper) and _ok(lower):
        out.append(_BAND_WORDS[_band_position(last, upper, lower)])
    return out


def narrative(
    series: Sequence[float],
    stats: Mapping[str, float],
    ind: Mapping[str, float],
    forecast: Sequence[float],
    digits: int = 4,
    style: NarrativeStyle = "quoted",
) -> str:
    """The full completion: `<think> ... </think>` then `<answer> [...] </answer>`.

    style "quoted" states every statistic and indicator value it judges (the analyst's own narrative);
    "qualitative" states the same judgements in words and quotes only the last close and the forecast's end
    (the warm-start corpus of a tiny reasoner, which cannot carry many copied numbers: RESULTS.md)."""
    f = lambda v: format_number(v, digits)  # noqa: E731
    last = float(series[-1])
    if style == "qualitative":
        sentences = _qualitative(last, ind)
    else:
        sentences = [
            f"Over the window the price ranged from {f(stats['min'])} (day {int(stats['min_day'])}) "
            f"to {f(stats['max'])} (day {int(stats['max_day'])}), with mean {f(stats['mean'])}.",
            _trend(last, ind, f),
            *_momentum_and_strength(ind, f),
            *_oscillators(ind, f),
        ]
        band = _bollinger(last, ind, f)
        if band:
            sentences.append(band)
    direction = {"rise": "rise", "fall": "fall", "flat": "stay flat"}[
        forecast_direction(last, float(forecast[-1]), digits)
    ]
    # The conclusion restates the last close in the prompt's own words ("from the last close X"): a small
    # reasoner learns to copy X by that pattern, then its answer from the conclusion (RESULTS.md).
    reaching = "" if direction == "stay flat" else f", reaching {f(forecast[-1])}"
    sentences.append(
        f"Weighing these signals, I expect the price to {direction} from the last close {f(last)} "
        f"over the next {len(forecast)} days{reaching}."
    )
    return f"<think>{' '.join(sentences)}</think>\n<answer>{series_text(forecast, digits)}</answer>"
