"""Numba kernels reproducing TA-Lib's algorithms (compatibility mode, unstable period 0).

Each `_last_*` function takes one series (already cut to its valid part) and returns the value
TA-Lib gives at the series' last index: the same recurrences, seeds and summation order, so the
results agree to rounding. Not enough data gives NaN ('n/a'). Where TA-Lib guards a division
(flat prices: zero range or zero variance) it returns a finite value, which is kept.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

NAN = np.nan


@njit(cache=True)
def _is_zero(v):
    return -0.00000001 < v < 0.00000001


@njit(cache=True)
def _last_sma(x, p):
    n = x.shape[0]
    if n < p:
        return NAN
    total = 0.0
    for i in range(p - 1):
        total += x[i]
    trailing = 0
    out = NAN
    for i in range(p - 1, n):
        total += x[i]
        out = total / p
        total -= x[trailing]
        trailing += 1
    return out


@njit(cache=True)
def _ema_series_last(x, p, start):
    """TA-Lib EMA whose first output is at index `start` (seed = SMA of x[start-p+1 : start+1])."""
    n = x.shape[0]
    if start - p + 1 < 0 or start >= n:
        return NAN
    k = 2.0 / (p + 1)
    total = 0.0
    for i in range(start - p + 1, start + 1):
        total += x[i]
    prev = total / p
    for i in range(start + 1, n):
        prev = ((x[i] - prev) * k) + prev
    return prev


@njit(cache=True)
def _last_ema(x, p):
    return _ema_series_last(x, p, p - 1)


@njit(cache=True)
def _last_mom(x, p):
    n = x.shape[0]
    if n < p + 1:
        return NAN
    return x[n - 1] - x[n - 1 - p]


@njit(cache=True)
def _last_rsi(x, p):
    n = x.shape[0]
    if n < p + 1:
        return NAN
    prev_value = x[0]
    gain = 0.0
    loss = 0.0
    for i in range(1, p + 1):
        diff = x[i] - prev_value
        prev_value = x[i]
        if diff < 0:
            loss -= diff
        else:
            gain += diff
    loss /= p
    gain /= p
    total = gain + loss
    out = 0.0 if _is_zero(total) else 100.0 * (gain / total)
    for i in range(p + 1, n):
        diff = x[i] - prev_value
        prev_value = x[i]
        loss *= p - 1
        gain *= p - 1
        if diff < 0:
            loss -= diff
        else:
            gain += diff
        loss /= p
        gain /= p
        total = gain + loss
        out = 0.0 if _is_zero(total) else 100.0 * (gain / total)
    return out


@njit(cache=True)
def _last_macd(x, fast, slow, signal):
    if slow < fast:
        fast, slow = slow, fast
    n = x.shape[0]
    if n < slow + signal - 1:
        return NAN  # TA-Lib reports the line only once the signal line exists
    start = slow - 1  # both EMAs give their first value here: the fast one is seeded later
    return _ema_series_last(x, fast, start) - _ema_series_last(x, slow, start)


@njit(cache=True)
def _last_willr(high, low, close, p):
    n = close.shape[0]
    if n < p:
        return NAN
    hh = -np.inf
    ll = np.inf
    for i in range(n - p, n):
        hh = max(hh, high[i])
        ll = min(low[i], ll)
    diff = (hh - ll) / (-100.0)
    return (hh - close[n - 1]) / diff if diff != 0.0 else 0.0


@njit(cache=True)
def _last_cci(high, low, close, p):
    n = close.shape[0]
    if n < p:
        return NAN
    buffer = np.empty(p)
    for j in range(p):
        i = n - p + j
        buffer[j] = (high[i] + low[i] + close[i]) / 3
    average = 0.0
    for j in range(p):
        average += buffer[j]
    average /= p
    deviation = 0.0
    for j in range(p):
        deviation += abs(buffer[j] - average)
    last = buffer[p - 1] - average
    if last != 0.0 and deviation != 0.0:
        return last / (0.015 * (deviation / p))
    return 0.0


@njit(cache=True)
def _true_range(high, low, prev_close):
    out = high - low
    a = abs(high - prev_close)
    if a > out:
        out = a
    b = abs(low - prev_close)
    if b > out:
        out = b
    return out


@njit(cache=True)
def _last_adx(high, low, close, p):
    n = close.shape[0]
    if n < 2 * p:
        return NAN
    minus_dm = plus_dm = tr = 0.0
    prev_high, prev_low, prev_close = high[0], low[0], close[0]
    today = 0
    for _ in range(p - 1):
        today += 1
        diff_p = high[today] - prev_high
        prev_high = high[today]
        diff_m = prev_low - low[today]
        prev_low = low[today]
        if diff_m > 0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            plus_dm += diff_p
        tr += _true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
    sum_dx = 0.0
    adx = 0.0
    for step in range(n - p):
        today += 1
        diff_p = high[today] - prev_high
        prev_high = high[today]
        diff_m = prev_low - low[today]
        prev_low = low[today]
        minus_dm -= minus_dm / p
        plus_dm -= plus_dm / p
        if diff_m > 0 and diff_p < diff_m:
            minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            plus_dm += diff_p
        tr = tr - (tr / p) + _true_range(prev_high, prev_low, prev_close)
        prev_close = close[today]
        dx = -1.0
        if not _is_zero(tr):
            minus_di = 100.0 * (minus_dm / tr)
            plus_di = 100.0 * (plus_dm / tr)
            total = minus_di + plus_di
            if not _is_zero(total):
                dx = 100.0 * (abs(minus_di - plus_di) / total)
        if step < p:  # the first p DX values are averaged into the seed ADX
            if dx >= 0.0:
                sum_dx += dx
            if step == p - 1:
                adx = sum_dx / p
        elif dx >= 0.0:
            adx = ((adx * (p - 1)) + dx) / p
    return adx


@njit(cache=True)
def _last_bbands(x, p, nbdev):
    """(upper, middle, lower) with TA-Lib's running sums and variance = E[x^2] - E[x]^2."""
    n = x.shape[0]
    if n < p:
        return NAN, NAN, NAN
    middle = _last_sma(x, p)
    total2 = 0.0
    for i in range(p - 1):
        total2 += x[i] * x[i]
    trailing = 0
    mean2 = 0.0
    for i in range(p - 1, n):
        total2 += x[i] * x[i]
        mean2 = total2 / p
        total2 -= x[trailing] * x[trailing]
        trailing += 1
    variance = mean2 - middle * middle
    std = math.sqrt(variance) if variance >= 0.00000001 else 0.0
    return middle + nbdev * std, middle, middle - nbdev * std


@njit(cache=True)
def _fast_k(high, low, close, fastk, i):
    hh = -np.inf
    ll = np.inf
    for j in range(i - fastk + 1, i + 1):
        hh = max(hh, high[j])
        ll = min(ll, low[j])
    diff = (hh - ll) / 100.0
    return (close[i] - ll) / diff if diff != 0.0 else 0.0


@njit(cache=True)
def _last_stoch(high, low, close, fastk, slowk, slowd):
    n = close.shape[0]
    first = fastk - 1
    if n < fastk + slowk + slowd - 2:
        return NAN, NAN
    count = n - first
    k = np.empty(count)
    for i in range(count):
        k[i] = _fast_k(high, low, close, fastk, first + i)
    slow_k = np.empty(count - slowk + 1)
    total = 0.0
    for i in range(slowk - 1):
        total += k[i]
    for i in range(slowk - 1, count):
        total += k[i]
        slow_k[i - slowk + 1] = total / slowk
        total -= k[i - slowk + 1]
    return slow_k[slow_k.shape[0] - 1], _last_sma(slow_k, slowd)


@njit(parallel=True, cache=True)
def indicator_kernel(close, high, low, first_valid, periods, nbdev):
    """(n, L) matrices -> (n, 13) values in the order of indicators.INDICATORS.

    periods: int64[14] = sma, ema, momentum, rsi, willr, cci, adx, bbands, stoch fastk/slowk/slowd,
    macd fast/slow/signal.
    """
    n = close.shape[0]
    out = np.empty((n, 13))
    for i in prange(n):
        f = first_valid[i]
        c, h, lo = close[i, f:], high[i, f:], low[i, f:]
        out[i, 0] = _last_sma(c, periods[0])
        out[i, 1] = _last_ema(c, periods[1])
        out[i, 2] = _last_mom(c, periods[2])
        out[i, 3] = _last_rsi(c, periods[3])
        out[i, 4] = _last_macd(c, periods[11], periods[12], periods[13])
        out[i, 5] = _last_willr(h, lo, c, periods[4])
        out[i, 6] = _last_cci(h, lo, c, periods[5])
        out[i, 7] = _last_adx(h, lo, c, periods[6])
        upper, middle, lower = _last_bbands(c, periods[7], nbdev)
        out[i, 8] = upper
        out[i, 9] = middle
        out[i, 10] = lower
        k, d = _last_stoch(h, lo, c, periods[8], periods[9], periods[10])
        out[i, 11] = k
        out[i, 12] = d
    return out


@njit(parallel=True, cache=True)
def statistics_kernel(x):
    """(n, T) -> (n, 7): min, min_day, max, max_day, mean, median, median_day (days 1-based)."""
    n, t = x.shape
    out = np.empty((n, 7))
    for i in prange(n):
        row = x[i]
        lo_day = 0
        hi_day = 0
        total = 0.0
        for j in range(t):
            if row[j] < row[lo_day]:
                lo_day = j
            if row[j] > row[hi_day]:
                hi_day = j
            total += row[j]
        order = np.argsort(row, kind="mergesort")  # stable: equal values keep their day order
        lower = order[(t - 1) // 2]
        median = row[lower] if t % 2 == 1 else 0.5 * (row[lower] + row[order[t // 2]])
        out[i, 0] = row[lo_day]
        out[i, 1] = lo_day + 1
        out[i, 2] = row[hi_day]
        out[i, 3] = hi_day + 1
        out[i, 4] = total / t
        out[i, 5] = median
        out[i, 6] = lower + 1
    return out
