"""Swing highs and lows (fractals) of length k, marked at confirmation.

A swing high at pivot bar i: ``high[i] > max(high[i-k:i])`` (strictly above the k bars before)
and ``high[i] >= max(high[i+1:i+k+1])`` (not exceeded by the k bars after). A swing low mirrors
it with lows. The pivot (``at``) is bar i, but the pattern is only known once the k bars after
it have closed: ``known_at`` is bar i+k. A bar can be both a swing high and a swing low (an
outside bar); it gives two rows. ``direction`` is +1 for a swing high, -1 for a swing low;
``top == bottom`` is the swing price.

smartmoneyconcepts' ``swing_highs_lows`` uses a centred window (ties allowed on both sides),
then deletes one of two consecutive highs (lows): a deletion that depends on later pivots, so
its swings can change as data arrives. ITA keeps every confirmed pivot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from engine.candles import HIGH, LOW
from engine.detect._frame import Detections, prepare

Pivots = tuple[np.ndarray, np.ndarray]


@njit(cache=True)
def _pivots_nb(high: np.ndarray, low: np.ndarray, k: int):
    """Pivot flags in O(n * k) without branches in the inner loop (a branchy early exit is
    slower on real prices, whose comparisons a CPU cannot predict)."""
    n = high.shape[0]
    is_high = np.zeros(n, dtype=np.bool_)
    is_low = np.zeros(n, dtype=np.bool_)
    for i in range(k, n - k):
        high_before, high_after = high[i - 1], high[i + 1]
        low_before, low_after = low[i - 1], low[i + 1]
        for d in range(2, k + 1):
            high_before = max(high_before, high[i - d])
            high_after = max(high_after, high[i + d])
            low_before = min(low_before, low[i - d])
            low_after = min(low_after, low[i + d])
        # strictly beyond the k bars before, not exceeded by the k bars after
        is_high[i] = (high[i] > high_before) & (high[i] >= high_after)
        is_low[i] = (low[i] < low_before) & (low[i] <= low_after)
    return is_high, is_low


@njit(cache=True)
def _window_pivots_nb(high: np.ndarray, low: np.ndarray, k: int):
    """`_pivots_nb` from running window extrema: the max of the k highs before bar i is the
    window starting at i-k, the max of the k after it the window starting at i+1, so one
    window pass (k-1 vectorised sweeps) serves both sides. Max and min are exact, so the
    flags are `_pivots_nb`'s bit for bit on prices without NaN; a NaN (whose handling
    depends on the order of comparisons) sends the caller to `_pivots_nb`: (flags, False)."""
    n = high.shape[0]
    is_high = np.zeros(n, dtype=np.bool_)
    is_low = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if np.isnan(high[i]) or np.isnan(low[i]):
            return is_high, is_low, False
    if n < 2 * k + 1:
        return is_high, is_low, True
    m = n - k + 1  # windows [s, s + k) for s = 0 .. n - k
    top = high[:m].copy()
    bottom = low[:m].copy()
    for d in range(1, k):
        np.maximum(top, high[d:d + m], top)
        np.minimum(bottom, low[d:d + m], bottom)
    for i in range(k, n - k):
        is_high[i] = (high[i] > top[i - k]) & (high[i] >= top[i + 1])
        is_low[i] = (low[i] < bottom[i - k]) & (low[i] <= bottom[i + 1])
    return is_high, is_low, True


@njit(cache=True)
def _rows_nb(is_high, is_low, high, low):
    """Swing rows in the frame's order (by pivot; a high before a low on one bar), so the
    rows need no sort: pivot bar, direction, price."""
    count = 0
    for i in range(is_high.shape[0]):
        count += is_high[i] + is_low[i]
    at_i = np.empty(count, dtype=np.int64)
    direction = np.empty(count, dtype=np.int8)
    price = np.empty(count)
    row = 0
    for i in range(is_high.shape[0]):
        if is_high[i]:
            at_i[row], direction[row], price[row] = i, 1, high[i]
            row += 1
        if is_low[i]:
            at_i[row], direction[row], price[row] = i, -1, low[i]
            row += 1
    return at_i, direction, price


def _pivots(high: np.ndarray, low: np.ndarray, k: int) -> Pivots:
    is_high, is_low, exact = _window_pivots_nb(high, low, k)
    return (is_high, is_low) if exact else _pivots_nb(high, low, k)


def swing_points(candles: pd.DataFrame, length: int, pivots: Pivots | None = None) -> Pivots:
    """Boolean arrays marking pivot bars of swing highs and swing lows (known `length` later).

    `pivots`, when given, is this very result computed before on the same candles and length
    (one swing pass shared by the detectors of one evaluation: swings, structure, order
    blocks, equal levels); it is returned as it is after a check of its shape."""
    if length < 1:
        raise ValueError("swing length must be at least 1")
    if pivots is not None:
        is_high, is_low = pivots
        if is_high.shape != (len(candles),) or is_low.shape != (len(candles),):
            raise ValueError(f"pivots are for {len(is_high)} bars, the candles have "
                             f"{len(candles)}")
        return is_high, is_low
    return _pivots(candles[HIGH].to_numpy(np.float64), candles[LOW].to_numpy(np.float64),
                   int(length))


def detect_swings(candles: pd.DataFrame, *, length: int = 5,
                  pivots: Pivots | None = None) -> pd.DataFrame:
    """Confirmed swing highs (+1) and lows (-1); see the module docstring.

    >>> import numpy as np, pandas as pd
    >>> idx = pd.date_range("2024-01-01", periods=5, freq="1min", tz="UTC")
    >>> h = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    >>> c = pd.DataFrame({"open": h, "high": h, "low": h - 0.5, "close": h,
    ...                   "volume": h}, index=idx)
    >>> detect_swings(c, length=2)[["at_i", "known_i", "kind", "top"]].values.tolist()
    [[2, 4, 'swing_high', 3.0]]
    """
    return swing_detections(candles, length=length, pivots=pivots).frame()


def swing_detections(candles: pd.DataFrame, *, length: int = 5,
                     pivots: Pivots | None = None) -> Detections:
    """`detect_swings` as arrays (`Detections`); `pivots` as in `swing_points`."""
    prepare(candles)
    is_high, is_low = swing_points(candles, length, pivots)
    at_i, direction, price = _rows_nb(is_high, is_low, candles[HIGH].to_numpy(np.float64),
                                      candles[LOW].to_numpy(np.float64))
    kind = {1: "swing_high", -1: "swing_low"}
    return Detections(candles.index, at_i=at_i, known_i=at_i + length, kind=kind,
                      direction=direction, top=price, bottom=price)
