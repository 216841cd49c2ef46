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

from engine.candles import CLOSE, HIGH, LOW, OPEN
from engine.detect._frame import detection_frame, prepare
from engine.detect._kernels import Searcher, first_reach
from engine.detect.indicators import atr


def detect_fvg(candles: pd.DataFrame, *, min_size: float = 0.0, min_size_pct: float = 0.0,
               min_size_atr: float = 0.0, atr_period: int = 14) -> pd.DataFrame:
    """Fair value gaps, one row each; see the module docstring for the exact definition.

    >>> detect_fvg(demo_candles).head()  # doctest: +SKIP
    """
    prepare(candles)
    high = candles[HIGH].to_numpy(np.float64)
    low = candles[LOW].to_numpy(np.float64)
    close = candles[CLOSE].to_numpy(np.float64)
    n = len(candles)
    if n < 3:
        return _frame(candles, *(np.empty(0, np.int64),) * 2, *(np.empty(0),) * 2, high, low)
    middle = np.arange(1, n - 1)
    bull = low[2:] > high[:-2]
    bear = high[2:] < low[:-2]
    top = np.where(bull, low[2:], low[:-2])
    bottom = np.where(bull, high[:-2], high[2:])
    size = top - bottom
    keep = (bull | bear) & (size >= min_size) & (size / close[1:-1] * 100.0 >= min_size_pct)
    if min_size_atr > 0:
        atr_known = atr(candles, atr_period)[2:]
        keep &= size >= min_size_atr * np.nan_to_num(atr_known, nan=np.inf)
    at_i = middle[keep]
    direction = np.where(bull[keep], 1, -1).astype(np.int8)
    return _frame(candles, at_i, direction, top[keep], bottom[keep], high, low)


def _frame(candles, at_i, direction, top, bottom, high, low) -> pd.DataFrame:
    known_i = at_i + 1
    start = known_i + 1
    mid = (top + bottom) / 2.0
    is_bull = direction == 1
    touched, half, filled = (np.full(len(at_i), -1, np.int64) for _ in range(3))
    if len(at_i):
        down = Searcher(low, above=False)
        up = Searcher(high, above=True)
        for out, bull_level, bear_level in ((touched, top, bottom), (half, mid, mid),
                                            (filled, bottom, top)):
            out[is_bull] = first_reach(down, start[is_bull], bull_level[is_bull], inclusive=True)
            out[~is_bull] = first_reach(up, start[~is_bull], bear_level[~is_bull],
                                        inclusive=True)
    middle_dir = np.sign(candles[CLOSE].to_numpy()[at_i] - candles[OPEN].to_numpy()[at_i])
    return detection_frame(
        candles.index, at_i=at_i, known_i=known_i, kind="fvg", direction=direction,
        top=top, bottom=bottom, size=top - bottom, middle_direction=middle_dir.astype(np.int8),
        touched_i=touched, half_filled_i=half, filled_i=filled,
    )
