"""Break of structure (BOS) and change of character (CHoCH), marked at the breaking candle.

Only swings that are already confirmed count (`engine.detect.swings`, length k: a swing is
known k bars after its pivot). Walking the bars in order, ITA keeps the most recently confirmed
swing high and swing low that have not been broken yet. A bar whose **close** is above that
swing high is a bullish break; a close below that swing low a bearish break. A break is a
``choch`` when it goes against the direction of the previous break (the prevailing structure),
otherwise a ``bos``; the very first break is a ``bos``. Each swing is broken at most once.

``at == known_at`` = the breaking candle; ``top == bottom`` = the broken level; ``swing_at`` /
``swing_i`` = the pivot of the broken swing. smartmoneyconcepts' ``bos_choch`` marks the break at
the swing instead and needs later swings to confirm it (look-ahead); ITA marks the candle
where a trader would see the break happen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import CLOSE, HIGH, LOW
from engine.detect._frame import Detections, prepare
from engine.detect.swings import Pivots, swing_points

BOS, CHOCH = 1, 2


@njit(cache=True)
def _structure_nb(high, low, close, is_high, is_low, k):
    n = close.shape[0]
    out_i = np.empty(n, dtype=np.int64)
    out_dir = np.empty(n, dtype=np.int8)
    out_kind = np.empty(n, dtype=np.int8)
    out_level = np.empty(n)
    out_swing = np.empty(n, dtype=np.int64)
    count = 0
    sh = -1  # pivot of the active (confirmed, unbroken) swing high
    sl = -1
    trend = 0
    for t in range(n):
        p = t - k  # a pivot at t-k becomes known at the close of t
        if p >= 0:
            if is_high[p]:
                sh = p
            if is_low[p]:
                sl = p
        if sh >= 0 and close[t] > high[sh]:
            out_i[count] = t
            out_dir[count] = 1
            out_kind[count] = CHOCH if trend == -1 else BOS
            out_level[count] = high[sh]
            out_swing[count] = sh
            count += 1
            trend = 1
            sh = -1
        if sl >= 0 and close[t] < low[sl]:
            out_i[count] = t
            out_dir[count] = -1
            out_kind[count] = CHOCH if trend == 1 else BOS
            out_level[count] = low[sl]
            out_swing[count] = sl
            count += 1
            trend = -1
            sl = -1
    return (out_i[:count], out_dir[:count], out_kind[:count], out_level[:count],
            out_swing[:count])


Breaks = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def structure_breaks(candles: pd.DataFrame, length: int, pivots: Pivots | None = None
                     ) -> Breaks:
    """Raw arrays: breaking bar, direction, kind code (1 bos, 2 choch), level, swing pivot;
    `pivots` as in `engine.detect.swings.swing_points`. Structure and order blocks of one
    evaluation can share them (``breaks=``)."""
    is_high, is_low = swing_points(candles, length, pivots)
    return _structure_nb(candles[HIGH].to_numpy(np.float64), candles[LOW].to_numpy(np.float64),
                         candles[CLOSE].to_numpy(np.float64), is_high, is_low, int(length))


def given_breaks(candles: pd.DataFrame, length: int, pivots: Pivots | None,
                 breaks: Breaks | None) -> Breaks:
    """`breaks` after a check that they are for as many bars, else `structure_breaks`."""
    if breaks is None:
        return structure_breaks(candles, length, pivots)
    at_i = breaks[0]
    if len(at_i) and (at_i[0] < 0 or at_i[-1] >= len(candles)):
        raise ValueError(f"structure breaks reach bar {at_i[-1]}, the candles have "
                         f"{len(candles)}")
    return breaks


def detect_structure(candles: pd.DataFrame, *, length: int = 5,
                     pivots: Pivots | None = None) -> pd.DataFrame:
    """BOS / CHoCH rows; see the module docstring for the exact rule."""
    return structure_detections(candles, length=length, pivots=pivots).frame()


def structure_detections(candles: pd.DataFrame, *, length: int = 5,
                         pivots: Pivots | None = None, breaks: Breaks | None = None
                         ) -> Detections:
    """`detect_structure` as arrays (`Detections`); `pivots` as in `swing_points`, `breaks`
    (`structure_breaks` of these candles and length) when already computed."""
    prepare(candles)
    at_i, direction, kind_code, level, swing_i = given_breaks(candles, length, pivots, breaks)
    kind = np.where(kind_code == CHOCH, "choch", "bos").astype(object)
    return Detections(candles.index, at_i=at_i, known_i=at_i, kind=kind,
                      direction=direction, top=level, bottom=level, swing_i=swing_i)
