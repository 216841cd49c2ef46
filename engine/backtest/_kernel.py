"""The simulation loop (numba): one pass over the bars, no Python object per bar."""

from __future__ import annotations

import numpy as np
from numba import njit

# exit reasons
STOP, TARGET, TIME, END, BREAKEVEN = 1, 2, 3, 4, 5
# sizing kinds
RISK_PERCENT, FIXED_SIZE, FIXED_CASH = 0, 1, 2
# how a bar touching both stop and target was resolved
NOT_AMBIGUOUS, LOWER_TF, STOP_FIRST = 0, 1, 2


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
def simulate_nb(open_, high, low, close, sig_bar, sig_dir, sig_limit, sig_entry, sig_stop,
                sig_target, sig_expiry, sig_time_exit, sig_be_r, sig_partial_r,
                sig_partial_frac, fee, slip, sizing, size_value, max_leverage, equity0, lower_start,
                lower_end, lower_high, lower_low, target_on_entry_bar, end_at_open):
    n = close.shape[0]
    m = sig_bar.shape[0]
    cap = max(m, 1)
    t_sig = np.empty(cap, np.int64)
    t_entry_i = np.empty(cap, np.int64)
    t_exit_i = np.empty(cap, np.int64)
    t_entry = np.empty(cap)
    t_exit = np.empty(cap)
    t_size = np.empty(cap)
    t_pnl = np.empty(cap)
    t_fees = np.empty(cap)
    t_reason = np.empty(cap, np.int8)
    t_mfe = np.empty(cap)
    t_mae = np.empty(cap)
    t_risk = np.empty(cap)
    t_resolved = np.empty(cap, np.int8)
    t_partial = np.empty(cap)
    equity = np.empty(n)
    # skipped in position, unfilled limits, lower tf, stop first, size capped by leverage
    counters = np.zeros(5, np.int64)
    cash = equity0
    count = 0
    k = 0  # next signal
    bar = 0
    while k < m:
        s = sig_bar[k]
        # fill equity up to the signal bar with the flat cash value
        while bar <= s and bar < n:
            equity[bar] = cash
            bar += 1
        d = sig_dir[k]
        fill_i = -1
        fill = 0.0
        if sig_limit[k]:
            last = min(n - 1, s + sig_expiry[k])
            for i in range(s + 1, last + 1):
                if (d > 0 and low[i] <= sig_entry[k]) or (d < 0 and high[i] >= sig_entry[k]):
                    fill_i = i
                    fill = min(open_[i], sig_entry[k]) if d > 0 else max(open_[i], sig_entry[k])
                    break
            if fill_i < 0:
                counters[1] += 1
                k += 1
                continue
        else:
            if s + 1 >= n:
                break
            fill_i = s + 1
            fill = open_[fill_i] * (1.0 + d * slip)
        while bar < fill_i:  # waiting for a limit fill: flat
            equity[bar] = cash
            bar += 1
        stop = sig_stop[k]
        target = sig_target[k]
        risk = d * (fill - stop)
        if risk <= 0:
            counters[1] += 1
            k += 1
            continue
        if sizing == RISK_PERCENT:
            size = cash * size_value / 100.0 / risk
        elif sizing == FIXED_SIZE:
            size = size_value
        else:
            size = size_value / fill
        if sizing != FIXED_SIZE and size * fill > cash * max_leverage:
            size = cash * max_leverage / fill  # never more notional than equity x leverage
            counters[4] += 1
        if size <= 0 or cash <= 0:
            counters[1] += 1
            k += 1
            continue
        entry_fee = size * fill * fee
        cash -= entry_fee
        fees = entry_fee
        remaining = size
        realised = 0.0
        mfe = 0.0
        mae = 0.0
        reason = END
        resolved = NOT_AMBIGUOUS
        exit_price = open_[n - 1] if end_at_open else close[n - 1]
        exit_i = n - 1
        be_done = False
        partial_done = False
        partial_px = np.nan
        for i in range(fill_i, n):
            # equity before this bar's exit decision: mark at previous close
            favorable = (high[i] - fill) * d if d > 0 else (fill - low[i])
            adverse = (fill - low[i]) if d > 0 else (high[i] - fill)
            hit_stop = low[i] <= stop if d > 0 else high[i] >= stop
            hit_target = (high[i] >= target if d > 0 else low[i] <= target) and (
                i > fill_i or (target_on_entry_bar and not sig_limit[k]))
            if hit_stop and hit_target:
                outcome = 0
                if lower_start.shape[0] > 0:
                    outcome = _resolve_lower(lower_start[i], lower_end[i], lower_high,
                                             lower_low, d, stop, target)
                if outcome == 2:
                    hit_stop = False
                    resolved = LOWER_TF
                else:
                    hit_target = False
                    resolved = LOWER_TF if outcome == 1 else STOP_FIRST
            if hit_stop:
                gap = open_[i] < stop if d > 0 else open_[i] > stop
                px = open_[i] if gap and i > fill_i else stop
                exit_price = px * (1.0 - d * slip)
                exit_i = i
                reason = BREAKEVEN if be_done else STOP
                mae = max(mae, d * (fill - stop))
                mfe = max(mfe, favorable if not hit_target else favorable)
                break
            mfe = max(mfe, favorable)
            mae = max(mae, adverse)
            if hit_target:
                gap = open_[i] > target if d > 0 else open_[i] < target
                exit_price = open_[i] if gap and i > fill_i else target
                exit_i = i
                reason = TARGET
                break
            if not partial_done and sig_partial_r[k] == sig_partial_r[k]:
                level = fill + d * sig_partial_r[k] * risk
                if (high[i] >= level) if d > 0 else (low[i] <= level):
                    part = remaining * sig_partial_frac[k]
                    realised += part * (level - fill) * d
                    pf = part * level * fee
                    fees += pf
                    cash -= pf
                    remaining -= part
                    partial_done = True
                    partial_px = level
            if sig_time_exit[k] > 0 and i - fill_i + 1 >= sig_time_exit[k]:
                exit_price = close[i] * (1.0 - d * slip)
                exit_i = i
                reason = TIME
                break
            if not be_done and sig_be_r[k] == sig_be_r[k]:
                if favorable >= sig_be_r[k] * risk:
                    stop = fill  # from the next bar on
                    be_done = True
            equity[i] = cash + realised + remaining * (close[i] - fill) * d
        exit_fee = remaining * exit_price * fee
        pnl = realised + remaining * (exit_price - fill) * d
        cash += pnl - exit_fee
        fees += exit_fee
        equity[exit_i] = cash
        bar = exit_i + 1
        t_sig[count] = s
        t_entry_i[count] = fill_i
        t_exit_i[count] = exit_i
        t_entry[count] = fill
        t_exit[count] = exit_price
        t_size[count] = size
        t_pnl[count] = pnl - fees
        t_fees[count] = fees
        t_reason[count] = reason
        t_mfe[count] = mfe / risk
        t_mae[count] = mae / risk
        t_risk[count] = risk
        t_resolved[count] = resolved
        t_partial[count] = partial_px
        if resolved == LOWER_TF:
            counters[2] += 1
        elif resolved == STOP_FIRST:
            counters[3] += 1
        count += 1
        k += 1
        while k < m and sig_bar[k] < exit_i:
            counters[0] += 1  # signal while in a position: skipped
            k += 1
    while bar < n:
        equity[bar] = cash
        bar += 1
    return (t_sig[:count], t_entry_i[:count], t_exit_i[:count], t_entry[:count],
            t_exit[:count], t_size[:count], t_pnl[:count], t_fees[:count], t_reason[:count],
            t_mfe[:count], t_mae[:count], t_risk[:count], t_resolved[:count],
            t_partial[:count], equity, counters)


@njit(cache=True)
def drawdowns_nb(equity):
    """Drawdown below the running peak, in money and in % of the peak (0 while the peak is not
    positive), in one pass."""
    n = equity.shape[0]
    money = np.empty(n)
    pct = np.empty(n)
    peak = -np.inf
    for i in range(n):
        peak = max(peak, equity[i])
        money[i] = equity[i] - peak
        pct[i] = (equity[i] / peak - 1.0) * 100.0 if peak > 0 else 0.0
    return money, pct


@njit(cache=True)
def any_nan_nb(a, b, c, d):
    """True when any of the four equally long price arrays holds a NaN (one pass, no copies)."""
    for i in range(a.shape[0]):
        if np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i]) or np.isnan(d[i]):
            return True
    return False
