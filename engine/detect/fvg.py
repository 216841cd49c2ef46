"""Fair value gaps (imbalances), with fill tracking.

Definition (three candles i-1, i, i+1):

- bullish gap when ``low[i+1] > high[i-1]``: the zone is ``bottom = high[i-1]``,
  ``top = low[i+1]``;
- bearish gap when ``high[i+1] < low[i-1]``: ``top = low[i-1]``, ``bottom = high[i+1]``.

``at`` is the middle candle i; ``known_at`` is candle i+1, whose close completes the pattern.
The colour of the middle candle is not required (smartmoneyconcepts requires it; the column
``middle_direction`` lets a setup ask for it). A gap is kept when its size passes every
minimum given: ``min_size`` (price), ``min_size_pct`` (% of the middle close), ``min_size_atr``
(multiple of ATR(``atr_period``) at the known bar).

Fill tracking, from the bar after ``known_at``: ``touched`` is the first bar trading into the
zone (bullish: ``low <= top``), ``half_filled`` the first reaching the midpoint, ``filled`` the
first trading through the far edge (bullish: ``low <= bottom``). Each has ``*_at``/``*_i``
columns, NaT/-1 until it happens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import CLOSE, HIGH, LOW, OPEN
from engine.detect._frame import Detections, prepare
from engine.detect._kernels import Searcher, first_reach_nb
from engine.detect.indicators import atr


def detect_fvg(candles: pd.DataFrame, *, min_size: float = 0.0, min_size_pct: float = 0.0,
               min_size_atr: float = 0.0, atr_period: int = 14) -> pd.DataFrame:
    """Fair value gaps, one row each; see the module docstring for the exact definition.

    >>> detect_fvg(demo_candles).head()  # doctest: +SKIP
    """
    return fvg_detections(candles, min_size=min_size, min_size_pct=min_size_pct,
                          min_size_atr=min_size_atr, atr_period=atr_period).frame()


def fvg_detections(candles: pd.DataFrame, *, min_size: float = 0.0, min_size_pct: float = 0.0,
                   min_size_atr: float = 0.0, atr_period: int = 14) -> Detections:
    """`detect_fvg` as arrays (`Detections`)."""
    prepare(candles)
    high = np.ascontiguousarray(candles[HIGH].to_numpy(np.float64))
    low = np.ascontiguousarray(candles[LOW].to_numpy(np.float64))
    close = candles[CLOSE].to_numpy(np.float64)
    min_atr = np.zeros(0)
    if min_size_atr > 0:
        min_atr = min_size_atr * np.nan_to_num(atr(candles, atr_period), nan=np.inf)
    at_i, bull, top, bottom = _gaps_nb(high, low, close, float(min_size), float(min_size_pct),
                                       min_atr)
    down, up = Searcher(low, above=False), Searcher(high, above=True)
    touched, half, filled = _fills_nb(down.values, down.small, down.big, up.values, up.small,
                                      up.big, at_i + 2, top, bottom, bull)
    middle_dir = np.sign(close[at_i] - candles[OPEN].to_numpy(np.float64)[at_i])
    return Detections(
        candles.index, at_i=at_i, known_i=at_i + 1, kind="fvg",
        direction=np.where(bull, 1, -1).astype(np.int8), top=top, bottom=bottom,
        size=top - bottom, middle_direction=middle_dir.astype(np.int8),
        touched_i=touched, half_filled_i=half, filled_i=filled,
    )


@njit(cache=True)
def _gaps_nb(high, low, close, min_size, min_pct, min_atr):
    """Middle bar, side and zone of every gap that passes the minimum sizes. `min_atr` is
    empty, or the minimum size per bar (checked at the bar that completes the gap)."""
    n = high.shape[0]
    count = max(n - 2, 0)
    at_i = np.empty(count, dtype=np.int64)
    bull = np.empty(count, dtype=np.bool_)
    top = np.empty(count)
    bottom = np.empty(count)
    found = 0
    for i in range(1, n - 1):
        if low[i + 1] > high[i - 1]:
            up, hi, lo = True, low[i + 1], high[i - 1]
        elif high[i + 1] < low[i - 1]:
            up, hi, lo = False, low[i - 1], high[i + 1]
        else:
            continue
        size = hi - lo
        if size < min_size or size / close[i] * 100.0 < min_pct:
            continue
        if min_atr.shape[0] and size < min_atr[i + 1]:
            continue
        at_i[found] = i
        bull[found] = up
        top[found] = hi
        bottom[found] = lo
        found += 1
    return at_i[:found], bull[:found], top[:found], bottom[:found]


@njit(cache=True)
def _fills_nb(low, low_small, low_big, high, high_small, high_big, start, top, bottom, bull):
    """First touch, half fill and full fill of each gap from bar `start` on (-1 = not yet),
    searching lows (bullish gaps) or highs (bearish) with their block extrema (`Searcher`).
    Each search goes on from the previous one: a zone is touched before it is half filled."""
    count = start.shape[0]
    touched = np.full(count, -1, dtype=np.int64)
    half = np.full(count, -1, dtype=np.int64)
    filled = np.full(count, -1, dtype=np.int64)
    for j in range(count):
        mid = (top[j] + bottom[j]) / 2.0
        if bull[j]:
            values, small, big, near, far = low, low_small, low_big, top[j], bottom[j]
        else:
            values, small, big, near, far = high, high_small, high_big, bottom[j], top[j]
        above = not bull[j]
        k = first_reach_nb(values, small, big, start[j], near, above, True)
        touched[j] = k
        if k < 0:
            continue
        k = first_reach_nb(values, small, big, k, mid, above, True)
        half[j] = k
        if k < 0:
            continue
        filled[j] = first_reach_nb(values, small, big, k, far, above, True)
    return touched, half, filled
