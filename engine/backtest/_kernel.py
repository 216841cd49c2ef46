"""The simulation loop (numba): one pass over the bars, no Python object per bar.

`simulate_nb` walks the signals in order; for each it finds the fill (`_order_fill_nb`), sizes
the trade (`_position_size_nb`) and holds it bar by bar until an exit (`_hold_nb`). Signals
that cannot be traded are counted in ``counters`` (indices below, names in simulate.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# exit reasons
STOP, TARGET, TIME, END, BREAKEVEN = 1, 2, 3, 4, 5
# sizing kinds
RISK_PERCENT, FIXED_SIZE, FIXED_CASH = 0, 1, 2
# how a bar touching both stop and target was resolved
NOT_AMBIGUOUS, LOWER_TF, STOP_FIRST = 0, 1, 2
# counters (positions in the kernel's counter array)
(IN_POSITION, UNFILLED, AMBIGUOUS_LOWER_TF, AMBIGUOUS_STOP_FIRST, SIZE_CAPPED, ORDER_WORKING,
 GAPPED, NO_BAR_TO_FILL) = range(8)
N_COUNTERS = 8
# columns of the trade record (one float row per trade, split into typed arrays at the end)
_FIELDS = 15


@njit(cache=True)
def _resolve_lower(lo_start, lo_end, lower_high, lower_low, direction, stop, target):
    """Walk the lower-timeframe bars inside one bar: 1 = stop first, 2 = target first,
    0 = cannot tell (a lower bar touched both)."""
    for j in range(lo_start, lo_end):
        hit_stop = lower_low[j] <= stop if direction > 0 else lower_high[j] >= stop
        hit_target = lower_high[j] >= target if direction > 0 else lower_low[j] <= target
        if hit_stop and hit_target:
            return 0
        if hit_stop:
            return 1
        if hit_target:
            return 2
    return 0


@njit(cache=True)
def _both_hit_nb(i, lower_start, lower_end, lower_high, lower_low, d, stop, target):
    """A bar touched stop and target: (stop hit, target hit, resolution)."""
    outcome = 0
    if lower_start.shape[0] > 0:
        outcome = _resolve_lower(lower_start[i], lower_end[i], lower_high, lower_low, d, stop,
                                 target)
    if outcome == 2:
        return False, True, LOWER_TF
    return True, False, (LOWER_TF if outcome == 1 else STOP_FIRST)


@njit(cache=True)
def _order_fill_nb(open_, high, low, s, d, is_limit, entry, expiry, slip):
    """The fill of the order placed by a signal known at the close of bar `s`:
    (fill bar or -1, fill price, last bar the order works)."""
    n = open_.shape[0]
    if not is_limit:
        if s + 1 >= n:
            return -1, 0.0, s
        return s + 1, open_[s + 1] * (1.0 + d * slip), s + 1
    last = min(n - 1, s + expiry)
    for i in range(s + 1, last + 1):
        if (d > 0 and low[i] <= entry) or (d < 0 and high[i] >= entry):
            return i, (min(open_[i], entry) if d > 0 else max(open_[i], entry)), last
    return -1, 0.0, last


@njit(cache=True)
def _position_size_nb(sizing, size_value, cash, risk, fill, max_leverage):
    """(units, capped by the leverage limit?) for one trade risking `risk` per unit."""
    if sizing == RISK_PERCENT:
        size = cash * size_value / 100.0 / risk
    elif sizing == FIXED_SIZE:
        size = size_value
    else:
        size = size_value / fill
    if sizing != FIXED_SIZE and size * fill > cash * max_leverage:
        return cash * max_leverage / fill, True  # never more notional than equity x leverage
    return size, False


@njit(cache=True)
def _hold_nb(open_, high, low, close, equity, fill_i, fill, d, stop, target, risk, size, cash,
             fee, slip, time_exit, be_r, partial_r, partial_frac, target_on_fill_bar,
             lower_start, lower_end, lower_high, lower_low, end_at_open):
    """Hold one position from its fill bar to its exit, marking `equity` on the bars held
    before the exit bar. Returns (exit bar, exit price, reason, resolution, MFE, MAE in
    price, P&L realised by the partial, units left, partial fees, partial price)."""
    n = close.shape[0]
    remaining, realised, paid, mfe, mae = size, 0.0, 0.0, 0.0, 0.0
    reason, resolved = END, NOT_AMBIGUOUS
    exit_price = open_[n - 1] if end_at_open else close[n - 1]
    exit_i = n - 1
    be_done = False
    partial_px = np.nan
    start = fill_i
    if time_exit <= 0 and be_r != be_r and partial_r != partial_r:  # only stop and target
        start, mfe, mae = _quiet_bars_nb(high, low, close, equity, fill_i, fill, d, stop,
                                         target, size, cash, target_on_fill_bar)
    for i in range(start, n):
        favorable = (high[i] - fill) if d > 0 else (fill - low[i])
        adverse = (fill - low[i]) if d > 0 else (high[i] - fill)
        hit_stop = low[i] <= stop if d > 0 else high[i] >= stop
        hit_target = (high[i] >= target if d > 0 else low[i] <= target) and (
            i > fill_i or target_on_fill_bar)
        if hit_stop and hit_target:
            hit_stop, hit_target, resolved = _both_hit_nb(i, lower_start, lower_end, lower_high,
                                                          lower_low, d, stop, target)
        if hit_stop:
            gap = open_[i] < stop if d > 0 else open_[i] > stop
            exit_price = (open_[i] if gap else stop) * (1.0 - d * slip)
            exit_i, reason = i, (BREAKEVEN if be_done else STOP)
            mae = max(mae, d * (fill - stop))
            mfe = max(mfe, favorable)
            break
        mfe = max(mfe, favorable)
        mae = max(mae, adverse)
        if hit_target:
            gap = open_[i] > target if d > 0 else open_[i] < target
            exit_price = open_[i] if gap else target  # a take-profit fills at a better open
            exit_i, reason = i, TARGET
            break
        if partial_px != partial_px and partial_r == partial_r:
            level = fill + d * partial_r * risk
            if (high[i] >= level) if d > 0 else (low[i] <= level):
                part = remaining * partial_frac
                realised += part * (level - fill) * d
                paid += part * level * fee
                remaining -= part
                partial_px = level
        if time_exit > 0 and i - fill_i + 1 >= time_exit:
            exit_price = close[i] * (1.0 - d * slip)
            exit_i, reason = i, TIME
            break
        if not be_done and be_r == be_r and favorable >= be_r * risk:
            stop = fill  # from the next bar on
            be_done = True
        equity[i] = cash - paid + realised + remaining * (close[i] - fill) * d
    return exit_i, exit_price, reason, resolved, mfe, mae, realised, remaining, paid, partial_px


@njit(cache=True)
def _first_touch_nb(high, low, fill_i, d, stop, target, target_on_fill_bar):
    """The first bar from `fill_i` whose range reaches the stop or the target (on the fill bar
    the target only with `target_on_fill_bar`); the number of bars when none does."""
    n = high.shape[0]
    i = fill_i
    if not target_on_fill_bar and i < n:
        if (low[i] <= stop) if d > 0 else (high[i] >= stop):
            return i
        i += 1
    if d > 0:
        while i < n and low[i] > stop and high[i] < target:
            i += 1
    else:
        while i < n and high[i] < stop and low[i] > target:
            i += 1
    return i


@njit(cache=True)
def _quiet_bars_nb(high, low, close, equity, fill_i, fill, d, stop, target, size, cash,
                   target_on_fill_bar):
    """`_hold_nb`'s bars before a position with only a stop and a target can exit: found by a
    scan that compares prices only, then marked (equity, MFE, MAE) in one branch-free pass,
    with `_hold_nb`'s own formulas. Returns (first bar that may exit, MFE, MAE)."""
    touch = _first_touch_nb(high, low, fill_i, d, stop, target, target_on_fill_bar)
    remaining, realised, paid, mfe, mae = size, 0.0, 0.0, 0.0, 0.0
    for i in range(fill_i, touch):
        favorable = (high[i] - fill) if d > 0 else (fill - low[i])
        adverse = (fill - low[i]) if d > 0 else (high[i] - fill)
        mfe = max(mfe, favorable)
        mae = max(mae, adverse)
        equity[i] = cash - paid + realised + remaining * (close[i] - fill) * d
    return touch, mfe, mae


@njit(cache=True)
def _slippage_nb(d, fill, exit_price, size, remaining, reason, slip, is_limit):
    """Money lost to slippage: on a market entry and on a stop, breakeven or time exit
    (limits, targets, partials and the end of the data fill without slippage)."""
    cost = 0.0
    if not is_limit:
        cost += size * d * (fill - fill / (1.0 + d * slip))
    if reason == STOP or reason == BREAKEVEN or reason == TIME:
        cost += remaining * d * (exit_price / (1.0 - d * slip) - exit_price)
    return cost


@njit(cache=True)
def _flat_nb(equity, bar, upto, cash):
    """Mark bars `bar` .. `upto` - 1 at the flat cash value; returns the next bar to mark."""
    for i in range(bar, min(upto, equity.shape[0])):
        equity[i] = cash
    return max(bar, upto)


@njit(cache=True)
def _skip_nb(sig_bar, k, before, counters, which):
    """Skip (and count under `which`) the signals from `k` on that arrive before bar
    `before`; returns the next signal to trade."""
    while k < sig_bar.shape[0] and sig_bar[k] < before:
        counters[which] += 1
        k += 1
    return k


@njit(cache=True)
def _gapped_nb(open_, fill_i, fill, d, stop):
    """Did the fill bar open at or beyond the stop (or the fill land there)?"""
    beyond = open_[fill_i] < stop if d > 0 else open_[fill_i] > stop
    return beyond or d * (fill - stop) <= 0


@njit(cache=True)
def simulate_nb(open_, high, low, close, sig_bar, sig_dir, sig_limit, sig_entry, sig_stop,
                sig_target, sig_expiry, sig_time_exit, sig_be_r, sig_partial_r,
                sig_partial_frac, fee, slip, sizing, size_value, max_leverage, equity0, lower_start,
                lower_end, lower_high, lower_low, target_on_entry_bar, end_at_open, gap_skip):
    n = close.shape[0]
    m = sig_bar.shape[0]
    rec = np.empty((max(m, 1), _FIELDS))
    equity = np.empty(n)
    counters = np.zeros(N_COUNTERS, np.int64)
    cash = equity0
    count = 0
    k = 0  # next signal
    bar = 0  # next equity bar to mark
    while k < m:
        s, d, is_limit = sig_bar[k], sig_dir[k], sig_limit[k]
        bar = _flat_nb(equity, bar, s + 1, cash)
        fill_i, fill, last = _order_fill_nb(open_, high, low, s, d, is_limit, sig_entry[k],
                                            sig_expiry[k], slip)
        if fill_i < 0:  # no next bar, or a limit order that expired unfilled
            counters[NO_BAR_TO_FILL if s + 1 >= n else UNFILLED] += 1
            k = _skip_nb(sig_bar, k + 1, last, counters, ORDER_WORKING)
            continue
        following = k + 1  # the next signal that may trade after this one
        if is_limit:  # signals while the order was working, up to its fill
            following = _skip_nb(sig_bar, following, fill_i, counters, ORDER_WORKING)
        bar = _flat_nb(equity, bar, fill_i, cash)
        stop = sig_stop[k]
        risk = d * (fill - stop)
        gapped = _gapped_nb(open_, fill_i, fill, d, stop)
        if gapped:
            risk = d * (sig_entry[k] - stop)  # the planned risk
        if risk <= 0 or (gapped and gap_skip) or cash <= 0:
            counters[GAPPED if risk > 0 and cash > 0 else UNFILLED] += 1
            k = following
            continue
        size, capped = _position_size_nb(sizing, size_value, cash, risk, fill, max_leverage)
        counters[SIZE_CAPPED] += capped
        if size <= 0:
            counters[UNFILLED] += 1
            k = following
            continue
        entry_fee = size * fill * fee
        cash -= entry_fee
        if gapped:  # the stop order fires at once: out at the open, worsened by slippage
            counters[GAPPED] += 1
            exit_price = open_[fill_i] * (1.0 - d * slip)
            exit_i, reason, resolved, mfe, partial_px = fill_i, STOP, NOT_AMBIGUOUS, 0.0, np.nan
            mae, realised, remaining, paid = max(0.0, d * (fill - exit_price)), 0.0, size, 0.0
        else:
            (exit_i, exit_price, reason, resolved, mfe, mae, realised, remaining, paid,
             partial_px) = _hold_nb(
                open_, high, low, close, equity, fill_i, fill, d, stop, sig_target[k], risk,
                size, cash, fee, slip, sig_time_exit[k], sig_be_r[k], sig_partial_r[k],
                sig_partial_frac[k], target_on_entry_bar and not is_limit, lower_start,
                lower_end, lower_high, lower_low, end_at_open)
        exit_fee = remaining * exit_price * fee
        pnl = realised + remaining * (exit_price - fill) * d
        fees = entry_fee + paid + exit_fee
        cash += pnl - paid - exit_fee
        equity[exit_i] = cash
        bar = exit_i + 1
        slipped = _slippage_nb(d, fill, exit_price, size, remaining, reason, slip, is_limit)
        _record_nb(rec[count], s, fill_i, exit_i, fill, exit_price, size, pnl - fees, fees,
                   reason, mfe / risk, mae / risk, risk, resolved, partial_px, slipped)
        counters[AMBIGUOUS_LOWER_TF] += resolved == LOWER_TF
        counters[AMBIGUOUS_STOP_FIRST] += resolved == STOP_FIRST
        count += 1
        k = _skip_nb(sig_bar, following, exit_i, counters, IN_POSITION)
    _flat_nb(equity, bar, n, cash)
    r = rec[:count]
    return (r[:, 0].astype(np.int64), r[:, 1].astype(np.int64), r[:, 2].astype(np.int64),
            r[:, 3].copy(), r[:, 4].copy(), r[:, 5].copy(), r[:, 6].copy(), r[:, 7].copy(),
            r[:, 8].astype(np.int8), r[:, 9].copy(), r[:, 10].copy(), r[:, 11].copy(),
            r[:, 12].astype(np.int8), r[:, 13].copy(), r[:, 14].copy(), equity, counters)


@njit(cache=True)
def _record_nb(row, s, fill_i, exit_i, fill, exit_price, size, pnl, fees, reason, mfe_r, mae_r,
               risk, resolved, partial_px, slipped):
    row[0], row[1], row[2], row[3], row[4] = s, fill_i, exit_i, fill, exit_price
    row[5], row[6], row[7], row[8], row[9] = size, pnl, fees, reason, mfe_r
    row[10], row[11], row[12], row[13], row[14] = mae_r, risk, resolved, partial_px, slipped


@njit(cache=True)
def drawdowns_nb(equity):
    """Drawdown below the running peak, in money and in % of the peak (0 while the peak is not
    positive). Two passes: the running peak (a chain of maxima, one bar after another) goes
    into the money array first, then a branch-free pass the compiler runs on vector
    instructions turns it into both drawdowns (the same operations per bar as one pass)."""
    n = equity.shape[0]
    money = np.empty(n)
    pct = np.empty(n)
    peak = -np.inf
    for i in range(n):
        peak = max(peak, equity[i])
        money[i] = peak
    for i in range(n):
        top, value = money[i], equity[i]
        pct[i] = (value / top - 1.0) * 100.0 if top > 0 else 0.0
        money[i] = value - top
    return money, pct


@njit(cache=True)
def any_nan_nb(a, b, c, d):
    """True when any of the four equally long price arrays holds a NaN (one pass, no copies;
    no branch in the loop, so it runs on vector instructions: NaN is the one value unequal to
    itself)."""
    bad = False
    for i in range(a.shape[0]):
        bad |= (a[i] != a[i]) | (b[i] != b[i]) | (c[i] != c[i]) | (d[i] != d[i])
    return bad


@njit(cache=True)
def positions_nb(haystack, keys):
    """``np.searchsorted(haystack, keys)`` (side left) for a sorted `haystack`. Keys in
    ascending order (signals sorted by time) are found by galloping forward from the previous
    key's position, touching a few cache lines near it instead of a binary search's ~20 misses
    across the whole array; a key below its predecessor is searched from the start."""
    n = haystack.shape[0]
    out = np.empty(keys.shape[0], np.int64)
    lo = 0
    for j in range(keys.shape[0]):
        key = keys[j]
        if j > 0 and key < keys[j - 1]:
            lo = 0
        step, hi = 1, lo  # gallop: haystack[lo - 1] < key (or lo == 0); find hi >= key
        while hi < n and haystack[hi] < key:
            lo = hi + 1
            hi += step
            step *= 2
        hi = min(hi, n)
        while lo < hi:  # binary search in [lo, hi)
            mid = (lo + hi) // 2
            if haystack[mid] < key:
                lo = mid + 1
            else:
                hi = mid
        out[j] = lo
    return out
