"""Each signal simulated on its own: the outcome a signal would have had had it been taken,
whatever the one-position rule of `simulate` did with it (the labels of engine.learn).

Same fills, exits, costs and conventions as `engine.backtest.simulate` — the same kernel
pieces (`_order_fill_nb`, `_hold_nb`, ...) run once per signal from a flat account of
``initial_equity``. R is independent of the position size (every money amount of a trade is
proportional to it), so a signal the backtester traded has the same ``r_net`` here.

`simulate_alone` returns one row per signal, in the signals' order (`conform_signals`):

| column      | meaning                                                                   |
| ----------- | ------------------------------------------------------------------------- |
| status      | "trade", "unfilled_or_invalid", "no_bar_to_fill", "known_after_data",     |
|             | "gapped_past_stop" (only with ``gap_entry="skip"``)                       |
| entry_time  | fill bar (NaT when not traded)                                            |
| exit_time   | exit bar: the outcome is known at its close (NaT when not traded)        |
| exit_reason | stop, target, time, end, breakeven ("" when not traded)                   |
| r_gross     | R before costs (NaN when not traded)                                      |
| r_net       | R after fees and slippage (NaN when not traded)                           |
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numba import njit

from engine.backtest import _kernel as k
from engine.backtest.simulate import (
    EXIT_REASONS,
    Costs,
    _lower_bounds,
    _names,
    bar_positions,
    check_gap_entry,
    signal_arrays,
)
from engine.candles import CLOSE, HIGH, LOW, OPEN, validate_candles
from engine.errors import DataError
from engine.signals import SIGNAL_COLUMNS, conform_signals

TRADE, UNFILLED, NO_BAR, AFTER_DATA, GAPPED = 0, 1, 2, 3, 4
STATUS = {TRADE: "trade", UNFILLED: "unfilled_or_invalid", NO_BAR: "no_bar_to_fill",
          AFTER_DATA: "known_after_data", GAPPED: "gapped_past_stop"}


@njit(cache=True)
def _alone_nb(open_, high, low, close, sig_bar, sig_dir, sig_limit, sig_entry, sig_stop,
              sig_target, sig_expiry, sig_time_exit, sig_be_r, sig_partial_r, sig_partial_frac,
              fee, slip, equity0, lower_start, lower_end, lower_high, lower_low,
              target_on_entry_bar, end_at_open, gap_skip):
    n = close.shape[0]
    m = sig_bar.shape[0]
    status = np.full(m, AFTER_DATA, np.int8)
    entry_i = np.full(m, -1, np.int64)
    exit_i_out = np.full(m, -1, np.int64)
    reasons = np.zeros(m, np.int8)
    r_gross = np.full(m, np.nan)
    r_net = np.full(m, np.nan)
    scratch = np.empty(n)  # _hold_nb marks an equity curve; nobody reads it here
    for j in range(m):
        s, d, is_limit = sig_bar[j], sig_dir[j], sig_limit[j]
        if s >= n:
            continue
        fill_i, fill, _ = k._order_fill_nb(open_, high, low, s, d, is_limit, sig_entry[j],
                                           sig_expiry[j], slip)
        if fill_i < 0:
            status[j] = NO_BAR if s + 1 >= n else UNFILLED
            continue
        stop = sig_stop[j]
        risk = d * (fill - stop)
        gapped = k._gapped_nb(open_, fill_i, fill, d, stop)
        if gapped:
            risk = d * (sig_entry[j] - stop)
        if risk <= 0 or (gapped and gap_skip):
            status[j] = GAPPED if risk > 0 else UNFILLED
            continue
        size = equity0 * 0.01 / risk  # any size: R does not depend on it
        entry_fee = size * fill * fee
        if gapped:
            exit_price = open_[fill_i] * (1.0 - d * slip)
            exit_i, reason, realised, remaining, paid = fill_i, k.STOP, 0.0, size, 0.0
        else:
            (exit_i, exit_price, reason, _, _, _, realised, remaining, paid,
             _) = k._hold_nb(open_, high, low, close, scratch, fill_i, fill, d, stop,
                             sig_target[j], risk, size, equity0, fee, slip, sig_time_exit[j],
                             sig_be_r[j], sig_partial_r[j], sig_partial_frac[j],
                             target_on_entry_bar and not is_limit, lower_start, lower_end,
                             lower_high, lower_low, end_at_open)
        exit_fee = remaining * exit_price * fee
        pnl = realised + remaining * (exit_price - fill) * d
        fees = entry_fee + paid + exit_fee
        slipped = k._slippage_nb(d, fill, exit_price, size, remaining, reason, slip, is_limit)
        risked = risk * size
        status[j], entry_i[j], exit_i_out[j], reasons[j] = TRADE, fill_i, exit_i, reason
        r_net[j] = (pnl - fees) / risked
        r_gross[j] = (pnl + slipped) / risked
    return status, entry_i, exit_i_out, reasons, r_gross, r_net



def simulate_alone(candles: pd.DataFrame, signals: pd.DataFrame, *, costs: Costs | None = None,
                   lower_candles: pd.DataFrame | None = None, target_on_entry_bar: bool = True,
                   end_exit: Literal["close", "open"] = "close",
                   gap_entry: Literal["fill", "skip"] = "fill",
                   initial_equity: float = 10_000.0) -> pd.DataFrame:
    """Every signal of `signals` traded alone on `candles` (see the module docstring); the
    keywords mean what they mean for `simulate`."""
    check_gap_entry(gap_entry)
    costs = costs or Costs()
    validate_candles(candles)
    o, h, lo, c = (np.ascontiguousarray(candles[x].to_numpy(float))
                   for x in (OPEN, HIGH, LOW, CLOSE))
    if k.any_nan_nb(o, h, lo, c):
        raise DataError("candles contain NaN prices; drop or repair those bars first")
    signals = conform_signals(signals) if len(signals) else signals.reindex(
        columns=list(SIGNAL_COLUMNS))
    bars = bar_positions(candles.index, signals["known_at"])
    status, entry_i, exit_i, reason, r_gross, r_net = _alone_nb(
        o, h, lo, c, bars.astype(np.int64), *signal_arrays(signals), costs.fee_bps / 1e4,
        costs.slippage_bps / 1e4, float(initial_equity), *_lower_bounds(candles, lower_candles),
        target_on_entry_bar, end_exit == "open", gap_entry == "skip")
    index = candles.index.as_unit("ns")
    traded = status == TRADE

    def times(positions: np.ndarray) -> pd.DatetimeIndex:
        out = np.full(len(positions), np.datetime64("NaT"), "datetime64[ns]")
        out[traded] = index.asi8[positions[traded]].astype("datetime64[ns]")
        return pd.DatetimeIndex(out).tz_localize("UTC")

    names = dict(EXIT_REASONS)
    names[0] = ""
    return pd.DataFrame({
        "status": _names(STATUS, status),
        "entry_time": times(entry_i), "exit_time": times(exit_i),
        "exit_reason": _names(names, reason), "r_gross": r_gross, "r_net": r_net,
    })
