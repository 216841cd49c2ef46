"""Order blocks: the last opposite candle before the displacement that broke structure.

For each structure break (`engine.detect.structure`) at bar t of the swing with pivot p:

- bullish break: m = the bar of the lowest low in [p, t] (where the displacement up started);
  the order block is the last bearish candle (close < open) in [p, m], searching back from m;
  if there is none, candle m itself;
- bearish break: mirror (highest high, last bullish candle).

``at`` = the order-block candle, ``known_at`` = the breaking candle; ``top``/``bottom`` = that
candle's high/low. ``mitigated_at``/``_i``: first bar after the break trading into the block
(bullish: ``low <= top``); ``invalidated_at``/``_i``: first bar after the break closing beyond
the far edge (bullish: ``close < bottom``). NaT/-1 until they happen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import CLOSE, HIGH, LOW, OPEN
from engine.detect._frame import Detections, prepare
from engine.detect._kernels import Searcher, first_reach
from engine.detect.structure import Breaks, given_breaks
from engine.detect.swings import Pivots


@njit(cache=True)
def _blocks_nb(open_, high, low, close, break_i, direction, swing_i):
    m_count = break_i.shape[0]
    block = np.empty(m_count, dtype=np.int64)
    for j in range(m_count):
        t = break_i[j]
        p = swing_i[j]
        m = p
        for i in range(p, t + 1):
            if direction[j] == 1 and low[i] < low[m]:
                m = i
            if direction[j] == -1 and high[i] > high[m]:
                m = i
        found = m
        for i in range(m, p - 1, -1):
            opposite = close[i] < open_[i] if direction[j] == 1 else close[i] > open_[i]
            if opposite:
                found = i
                break
        block[j] = found
    return block


def detect_order_blocks(candles: pd.DataFrame, *, length: int = 5,
                        pivots: Pivots | None = None) -> pd.DataFrame:
    """Order blocks with mitigation and invalidation; see the module docstring."""
    return order_block_detections(candles, length=length, pivots=pivots).frame()


def order_block_detections(candles: pd.DataFrame, *, length: int = 5,
                           pivots: Pivots | None = None, breaks: Breaks | None = None
                           ) -> Detections:
    """`detect_order_blocks` as arrays (`Detections`); `pivots` as in
    `engine.detect.swings.swing_points`, `breaks` as in
    `engine.detect.structure.structure_detections`."""
    prepare(candles)
    o, h, lw, c = (candles[x].to_numpy(np.float64) for x in (OPEN, HIGH, LOW, CLOSE))
    break_i, direction, _, _, swing_i = given_breaks(candles, length, pivots, breaks)
    block_i = _blocks_nb(o, h, lw, c, break_i, direction, swing_i)
    top, bottom = h[block_i], lw[block_i]
    bull = direction == 1
    start = break_i + 1
    mitigated = np.full(len(block_i), -1, np.int64)
    invalidated = np.full(len(block_i), -1, np.int64)
    if len(block_i):
        mitigated[bull] = first_reach(Searcher(lw, above=False), start[bull], top[bull],
                                      inclusive=True)
        mitigated[~bull] = first_reach(Searcher(h, above=True), start[~bull], bottom[~bull],
                                       inclusive=True)
        invalidated[bull] = first_reach(Searcher(c, above=False), start[bull], bottom[bull],
                                        inclusive=False)
        invalidated[~bull] = first_reach(Searcher(c, above=True), start[~bull], top[~bull],
                                         inclusive=False)
    return Detections(candles.index, at_i=block_i, known_i=break_i, kind="order_block",
                      direction=direction, top=top, bottom=bottom, mitigated_i=mitigated,
                      invalidated_i=invalidated)
