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
from engine.detect._frame import Detections, prepare
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


def _level_table(levels: pd.DataFrame | Detections) -> dict[str, object]:
    """One row per (level, side): the highs (side +1, swept upwards, level = top) in order,
    then the lows (side -1, level = bottom); ``kind`` and ``session`` as the levels hold them
    (a frame's own column arrays, or a `Detections`' kinds as pandas strings)."""
    frame = isinstance(levels, pd.DataFrame)

    def column(name: str, dtype) -> np.ndarray:
        return levels[name].to_numpy(dtype) if frame else np.asarray(levels[name], dtype)

    direction = column("direction", np.int64)
    highs, lows = np.flatnonzero(direction >= 0), np.flatnonzero(direction <= 0)
    rows = np.concatenate([highs, lows])
    table = {
        "side": np.concatenate([np.ones(len(highs), np.int64), -np.ones(len(lows), np.int64)]),
        "level": np.concatenate([column("top", np.float64)[highs],
                                 column("bottom", np.float64)[lows]]),
        "known_i": column("known_i", np.int64)[rows], "at_i": column("at_i", np.int64)[rows],
        "kind": levels["kind"].array[rows] if frame else levels.kind_strings(rows),
    }
    if "session" in levels:
        table["session"] = (levels["session"].array if frame else levels["session"])[rows]
    return table


def detect_sweeps(candles: pd.DataFrame, levels: pd.DataFrame, *,
                  reclaim_bars: int = 1) -> pd.DataFrame:
    """Sweeps of the given reference levels; see the module docstring."""
    return sweep_detections(candles, levels, reclaim_bars=reclaim_bars).frame()


def sweep_detections(candles: pd.DataFrame, levels: pd.DataFrame | Detections, *,
                     reclaim_bars: int = 1) -> Detections:
    """`detect_sweeps` as arrays (`Detections`); `levels` a detection frame or `Detections`."""
    prepare(candles)
    if reclaim_bars < 1:
        raise ValueError("reclaim_bars must be at least 1")
    high, low, close = (candles[c].to_numpy(np.float64) for c in (HIGH, LOW, CLOSE))
    table = _level_table(levels)
    side, level = table["side"], table["level"]
    start = table["known_i"] + 1
    breaks = np.full(len(side), -1, np.int64)
    up = side == 1
    if len(side):
        breaks[up] = first_reach(Searcher(high, above=True), start[up], level[up],
                                 inclusive=False)
        breaks[~up] = first_reach(Searcher(low, above=False), start[~up], level[~up],
                                  inclusive=False)
    reclaim, extreme = _reclaim_nb(high, low, close, breaks, level, side, int(reclaim_bars))
    hit = reclaim >= 0
    kinds = table["kind"][hit]
    extra = {"extreme": extreme[hit], "level_kind": kinds, "level_i": table["at_i"][hit]}
    if "session" in table:
        extra["session"] = table["session"][hit]
    return Detections(candles.index, at_i=breaks[hit], known_i=reclaim[hit], kind="sweep",
                      direction=(-side[hit]).astype(np.int8), top=level[hit],
                      bottom=level[hit], **extra)
