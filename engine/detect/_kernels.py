"""Numba kernels shared by the detectors. Arrays in, arrays out; no pandas.

Forward searches ("first bar k >= start with low[k] <= level") run on two levels of block
extrema, so a level that is never reached costs O(n / 4096) instead of O(n).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SMALL = 64
BIG = 4096


@njit(cache=True)
def block_extrema_nb(values: np.ndarray, block: int, take_max: bool) -> np.ndarray:
    """Max (or min) of each consecutive block of `block` values."""
    n = values.shape[0]
    m = (n + block - 1) // block
    out = np.empty(m)
    for b in range(m):
        lo = b * block
        hi = min(n, lo + block)
        acc = values[lo]
        for i in range(lo + 1, hi):
            v = values[i]
            if take_max:
                if v > acc:
                    acc = v
            elif v < acc:
                acc = v
        out[b] = acc
    return out


@njit(cache=True)
def _reaches(value: float, level: float, above: bool, inclusive: bool) -> bool:
    if above:
        return value >= level if inclusive else value > level
    return value <= level if inclusive else value < level


@njit(cache=True)
def first_reach_nb(values, small, big, start, level, above, inclusive):
    """First k >= start with values[k] beyond `level` (>= / > when `above`, else <= / <);
    -1 if none. `small`/`big` are block maxima (above) or minima (below) of `values`: a block
    whose extreme does not reach the level is skipped whole, wherever k is inside it."""
    n = values.shape[0]
    k = start
    while k < n:
        if not _reaches(big[k // BIG], level, above, inclusive):
            k = (k // BIG + 1) * BIG
            continue
        block_end = (k // SMALL + 1) * SMALL
        if not _reaches(small[k // SMALL], level, above, inclusive):
            k = block_end
            continue
        for i in range(k, min(block_end, n)):  # the block reaches: find the bar
            if _reaches(values[i], level, above, inclusive):
                return i
        k = block_end
    return -1


class Searcher:
    """Block extrema of one array, prepared once, for many `first_reach_nb` queries."""

    def __init__(self, values: np.ndarray, *, above: bool) -> None:
        self.values = np.ascontiguousarray(values, dtype=np.float64)
        self.small = block_extrema_nb(self.values, SMALL, above)
        self.big = block_extrema_nb(self.small, BIG // SMALL, above)  # extrema of extrema
        self.above = above


@njit(cache=True)
def first_reach_many_nb(values, small, big, starts, levels, above, inclusive):
    """`first_reach_nb` for many (start, level) pairs; start < 0 gives -1."""
    out = np.full(starts.shape[0], -1, dtype=np.int64)
    for j in range(starts.shape[0]):
        if starts[j] >= 0:
            out[j] = first_reach_nb(values, small, big, starts[j], levels[j], above, inclusive)
    return out


def first_reach(searcher: Searcher, starts: np.ndarray, levels: np.ndarray, *,
                inclusive: bool) -> np.ndarray:
    """Vector of first bars at or after `starts` where the searched array reaches `levels`."""
    return first_reach_many_nb(searcher.values, searcher.small, searcher.big,
                               np.ascontiguousarray(starts, dtype=np.int64),
                               np.ascontiguousarray(levels, dtype=np.float64),
                               searcher.above, inclusive)


@njit(cache=True)
def period_ranges_nb(local_min, high, low, offset, period, length, bar_min):
    """Group bars into periods of `period` minutes starting at `offset` (local minutes since
    the epoch), keeping bars whose minute within the period is < `length` (a session inside a
    day, or the whole period). For each completed instance: first bar, last bar, the bar at
    whose close completion is known, high, bar of the high, low, bar of the low.

    An instance is complete at its last bar when that bar's close reaches the end of the
    instance (`rel + bar_min >= length`); otherwise it is known complete at the first later bar
    (a gap in the data). An instance still open at the end of the data is not returned.
    """
    n = local_min.shape[0]
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    known = np.empty(n, dtype=np.int64)
    hi = np.empty(n)
    hi_i = np.empty(n, dtype=np.int64)
    lo = np.empty(n)
    lo_i = np.empty(n, dtype=np.int64)
    count = 0
    cur = np.int64(-(2 ** 62))
    start_i = -1
    h = 0.0
    hpos = -1
    lw = 0.0
    lpos = -1
    prev_rel = 0
    prev_i = -1
    for i in range(n):
        shifted = local_min[i] - offset
        pid = shifted // period
        rel = shifted - pid * period
        inside = rel < length
        if start_i >= 0 and (not inside or pid != cur):
            # the open instance ended before bar i: known at i (gap) unless already closed
            first[count] = start_i
            last[count] = prev_i
            known[count] = prev_i if prev_rel + bar_min >= length else i
            hi[count] = h
            hi_i[count] = hpos
            lo[count] = lw
            lo_i[count] = lpos
            count += 1
            start_i = -1
        if inside:
            if start_i < 0:
                start_i = i
                cur = pid
                h = high[i]
                hpos = i
                lw = low[i]
                lpos = i
            else:
                if high[i] > h:
                    h = high[i]
                    hpos = i
                if low[i] < lw:
                    lw = low[i]
                    lpos = i
            prev_rel = rel
            prev_i = i
            if rel + bar_min >= length:
                first[count] = start_i
                last[count] = i
                known[count] = i
                hi[count] = h
                hi_i[count] = hpos
                lo[count] = lw
                lo_i[count] = lpos
                count += 1
                start_i = -1
    return (first[:count], last[:count], known[:count], hi[:count], hi_i[:count],
            lo[:count], lo_i[:count])


def starts_inside(local_min, first, offset, period):
    """False for an instance that begins at the data's first bar after its own start time:
    the data does not cover the whole instance, so its high/low would be wrong."""
    if len(first) == 0:
        return np.ones(0, dtype=np.bool_)
    rel = (local_min[first] - offset) % period
    return ~((first == 0) & (rel > 0))
