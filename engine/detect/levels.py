"""Reference levels: previous day / week high and low, and equal highs / lows.

**Previous day/week** (`detect_previous_levels`). A day runs from ``boundary`` (local time in
``tz``) to the same time next day; with a boundary at or after 12:00 (the FX convention 17:00
America/New_York) the day is named after the calendar day it ends in. Weeks start on Monday at
the boundary (for an afternoon boundary: Sunday at the boundary). When a period is complete —
at the close of its last bar, or at the first bar of the next period after a gap — its high
and low become known: rows ``pdh``/``pdl`` (``pwh``/``pwl``), ``direction`` +1 for the high, -1
for the low, ``at`` = the bar that made the extreme, ``known_at`` = the completion bar.

**Equal highs / lows** (`detect_equal_levels`): two confirmed swing highs (lows) of length k,
no more than ``lookback`` swing pivots apart, whose prices differ by at most the tolerance
(``tolerance_pct`` % of price, or ``tolerance_atr`` × ATR(14) at the second pivot), with no high
(low) between them beyond the pair. The level is the higher high (lower low) — resting liquidity
above (below). Known when the second swing is confirmed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import HIGH, LOW
from engine.detect._frame import Detections, prepare
from engine.detect._kernels import period_ranges_nb, starts_inside
from engine.detect.indicators import atr
from engine.detect.sessions import DAY, _minute, bar_minutes, local_minutes
from engine.detect.swings import Pivots, swing_points
from engine.errors import SetupError

_PERIODS = {"day": ("pdh", "pdl", DAY), "week": ("pwh", "pwl", 7 * DAY)}


def _offset(period: str, boundary_minute: int) -> int:
    """Local minutes (since the epoch, a Thursday) at which period 0 starts."""
    late = boundary_minute >= 12 * 60
    if period == "day":
        return boundary_minute - (DAY if late else 0)
    monday = 4 * DAY  # 1970-01-05 was a Monday
    return monday + boundary_minute - (DAY if late else 0)


def detect_previous_levels(candles: pd.DataFrame, *, period: str = "day",
                           boundary: str = "00:00", tz: str = "UTC") -> pd.DataFrame:
    """Highs and lows of completed days or weeks; see the module docstring."""
    return previous_level_detections(candles, period=period, boundary=boundary, tz=tz).frame()


def previous_level_detections(candles: pd.DataFrame, *, period: str = "day",
                              boundary: str = "00:00", tz: str = "UTC") -> Detections:
    """`detect_previous_levels` as arrays (`Detections`)."""
    prepare(candles)
    if period not in _PERIODS:
        raise SetupError(f"period must be 'day' or 'week', got {period!r}")
    high_kind, low_kind, length = _PERIODS[period]
    minutes = local_minutes(candles.index, tz)
    offset = _offset(period, _minute(boundary, period))
    first, _, known, hi, hi_i, lo, lo_i = period_ranges_nb(
        minutes, candles[HIGH].to_numpy(np.float64), candles[LOW].to_numpy(np.float64),
        offset, length, length, bar_minutes(candles.index))
    keep = starts_inside(minutes, first, offset, length)
    first, known, hi, hi_i, lo, lo_i = (a[keep] for a in (first, known, hi, hi_i, lo, lo_i))
    count = len(first)
    kind = np.array([high_kind] * count + [low_kind] * count, dtype=object)
    level = np.concatenate([hi, lo])
    return Detections(
        candles.index, at_i=np.concatenate([hi_i, lo_i]), known_i=np.concatenate([known] * 2),
        kind=kind, direction=np.concatenate([np.ones(count), -np.ones(count)]).astype(np.int8),
        top=level, bottom=level, period_start_i=np.concatenate([first] * 2))


@njit(cache=True)
def _equal_nb(price, pivots, tolerance, lookback, sign):
    out_first = np.empty(pivots.shape[0], dtype=np.int64)
    out_second = np.empty(pivots.shape[0], dtype=np.int64)
    count = 0
    for b in range(1, pivots.shape[0]):
        j = pivots[b]
        for a in range(b - 1, max(-1, b - 1 - lookback), -1):
            i = pivots[a]
            if abs(price[i] - price[j]) <= tolerance[j]:
                level = max(price[i] * sign, price[j] * sign)
                clean = True
                for m in range(i + 1, j):
                    if price[m] * sign > level:
                        clean = False
                        break
                if clean:
                    out_first[count] = i
                    out_second[count] = j
                    count += 1
                    break
    return out_first[:count], out_second[:count]


def detect_equal_levels(candles: pd.DataFrame, *, length: int = 5, tolerance_pct: float = 0.05,
                        tolerance_atr: float | None = None, lookback: int = 5,
                        pivots: Pivots | None = None) -> pd.DataFrame:
    """Equal highs (+1) and equal lows (-1) as liquidity pools; see the module docstring."""
    return equal_level_detections(candles, length=length, tolerance_pct=tolerance_pct,
                                  tolerance_atr=tolerance_atr, lookback=lookback,
                                  pivots=pivots).frame()


def equal_level_detections(candles: pd.DataFrame, *, length: int = 5,
                           tolerance_pct: float = 0.05, tolerance_atr: float | None = None,
                           lookback: int = 5, pivots: Pivots | None = None) -> Detections:
    """`detect_equal_levels` as arrays (`Detections`); `pivots` as in
    `engine.detect.swings.swing_points`."""
    prepare(candles)
    high = candles[HIGH].to_numpy(np.float64)
    low = candles[LOW].to_numpy(np.float64)
    if tolerance_atr is not None:
        tolerance = np.nan_to_num(atr(candles, 14) * tolerance_atr, nan=0.0)
    else:
        tolerance = high * tolerance_pct / 100.0
    is_high, is_low = swing_points(candles, length, pivots)
    rows = []
    for sign, mask, price, kind in ((1, is_high, high, "equal_highs"),
                                    (-1, is_low, low, "equal_lows")):
        first, second = _equal_nb(price, np.flatnonzero(mask).astype(np.int64), tolerance,
                                  lookback, float(sign))
        level = (np.maximum if sign == 1 else np.minimum)(price[first], price[second])
        rows.append((first, second, level, sign, kind))
    first = np.concatenate([r[0] for r in rows])
    second = np.concatenate([r[1] for r in rows])
    level = np.concatenate([r[2] for r in rows])
    direction = np.concatenate([np.full(len(r[0]), r[3]) for r in rows]).astype(np.int8)
    kind = np.concatenate([np.full(len(r[0]), r[4], dtype=object) for r in rows])
    return Detections(candles.index, at_i=second, known_i=second + length, kind=kind,
                      direction=direction, top=level, bottom=level, first_i=first)
