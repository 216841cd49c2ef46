"""Liquidity sweeps: price trades beyond a reference level and closes back inside.

`levels` is any detection frame: swings, session ranges, previous day/week levels, equal
highs/lows. Rows with ``direction`` +1 are highs (level = ``top``), -1 are lows (level =
``bottom``); rows with direction 0 (sessions) give their ``top`` as a high and ``bottom`` as a
low. A level can be swept from the bar after it became known. For a high: the first later bar
with ``high > level`` breaks it (the first break consumes the level, swept or not); it is a
sweep when a close back below the level happens within ``reclaim_bars`` bars counting the
breaking bar as 1. Lows mirror it.

Rows: ``kind`` "sweep"; ``direction`` -1 for a swept high (bearish idea), +1 for a swept low;
``top == bottom`` = the level; ``at`` = the breaking bar, ``known_at`` = the reclaiming close;
``extreme`` = highest high (lowest low) from the break to the reclaim — where a stop goes;
``level_kind``, ``level_at`` (when the level was formed), and the level's session if any.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import CLOSE, HIGH, LOW
from engine.detect._frame import detection_frame, prepare
from engine.detect._kernels import Searcher, first_reach


@njit(cache=True)
def _reclaim_nb(high, low, close, breaks, levels, sides, reclaim_bars):
    n = close.shape[0]
    m = breaks.shape[0]
    reclaim = np.full(m, -1, dtype=np.int64)
    extreme = np.empty(m)
    for j in range(m):
        b = breaks[j]
        if b < 0:
            continue
        ext = high[b] if sides[j] == 1 else low[b]
        for k in range(b, min(n, b + reclaim_bars)):
            if sides[j] == 1:
                ext = max(ext, high[k])
                if close[k] < levels[j]:
                    reclaim[j] = k
                    break
            else:
                ext = min(ext, low[k])
                if close[k] > levels[j]:
                    reclaim[j] = k
                    break
        extreme[j] = ext
    return reclaim, extreme


def _level_table(levels: pd.DataFrame) -> pd.DataFrame:
    """One row per (level, side): side +1 = a high to sweep upwards, -1 = a low."""
    highs = levels[levels["direction"] >= 0].assign(side=1, level=lambda f: f["top"])
    lows = levels[levels["direction"] <= 0].assign(side=-1, level=lambda f: f["bottom"])
    return pd.concat([highs, lows], ignore_index=True)


def detect_sweeps(candles: pd.DataFrame, levels: pd.DataFrame, *,
                  reclaim_bars: int = 1) -> pd.DataFrame:
    """Sweeps of the given reference levels; see the module docstring."""
    prepare(candles)
    if reclaim_bars < 1:
        raise ValueError("reclaim_bars must be at least 1")
    high, low, close = (candles[c].to_numpy(np.float64) for c in (HIGH, LOW, CLOSE))
    table = _level_table(levels)
    side = table["side"].to_numpy(np.int64)
    level = table["level"].to_numpy(np.float64)
    start = table["known_i"].to_numpy(np.int64) + 1
    breaks = np.full(len(table), -1, np.int64)
    up = side == 1
    if len(table):
        breaks[up] = first_reach(Searcher(high, above=True), start[up], level[up],
                                 inclusive=False)
        breaks[~up] = first_reach(Searcher(low, above=False), start[~up], level[~up],
                                  inclusive=False)
    reclaim, extreme = _reclaim_nb(high, low, close, breaks, level, side, int(reclaim_bars))
    hit = reclaim >= 0
    extra = {"extreme": extreme[hit], "level_kind": table["kind"].array[hit],
             "level_i": table["at_i"].to_numpy(np.int64)[hit]}
    if "session" in table:
        extra["session"] = table["session"].array[hit]
    return detection_frame(candles.index, at_i=breaks[hit], known_i=reclaim[hit], kind="sweep",
                           direction=(-side[hit]).astype(np.int8), top=level[hit],
                           bottom=level[hit], **extra)
