"""Signals -> orders -> fills -> exits, with fees and slippage (pure; numba loop).

Conventions (each one is what a careful trader would assume; all are tested):

- **Orders.** A signal known at the close of bar s places its order for bar s+1. A market
  order fills at the open of s+1, worsened by ``slippage_bps``. A limit order works from s+1
  for ``expiry_bars`` bars and fills at its price (or at the open when the bar opens beyond
  it, which is better); no slippage on limits.
- **One position per symbol.** Signals that arrive while a trade is open are skipped and
  counted (``skipped_in_position``); so are signals that arrive while a limit order is still
  working, from the bar after its signal up to its fill or its expiry (``skipped_order_working``;
  a signal on the order's last working bar places its own order for the next bar and trades).
  Whether an order fills later never decides whether an earlier signal trades: the trades
  begun by bar t are the same whatever the data holds after t.
- **Signals that cannot be traded** are counted, never dropped silently: a signal on the last
  bar has no next bar to fill on (``no_bar_to_fill``); a signal known after the last candle is
  ``known_after_data``; a limit order that expires unfilled, a signal whose stop is on the
  wrong side of its planned entry, or one that finds the account empty is
  ``unfilled_or_invalid``. Every signal is a trade or is counted once in
  ``skipped_in_position``, ``skipped_order_working``, ``unfilled_or_invalid``,
  ``no_bar_to_fill`` or ``known_after_data`` (or ``gapped_past_stop`` with
  ``gap_entry="skip"``).
- **Entry beyond the stop.** When the fill bar opens at or beyond the stop (a gap, or a limit
  filled at a better open that is past the stop), by default (``gap_entry="fill"``) the order
  fills at the open as a real order would and the stop fires at once: the trade exits at that
  open, worsened by slippage, with reason ``stop``. Its size and R use the *planned* risk, the
  distance from the signal's planned entry (``entry``: the limit price, or the signal bar's close
  for a market order) to the stop, because the fill leaves no risk to measure. With
  ``gap_entry="skip"`` such signals are not traded. Either way they are counted
  (``gapped_past_stop``).
- **Exits.** Stop: at the stop price, or at the open when the bar gaps through it, worsened by
  slippage. Target: at the target, or at the open when it gaps beyond it (on a market
  order's fill bar too: the take-profit fills at once at that better open). Time exit: at the
  close of the N-th bar held, with slippage. Breakeven: once price has moved
  ``breakeven_r`` × risk in favour, the stop moves to the entry from the next bar. Partial:
  ``partial_fraction`` of the position is closed at ``partial_r`` × risk. Trades still open at
  the end of the data close at the last close (``end``); the metrics report them apart from
  the trades the rules closed.
- **Both stop and target inside one bar.** Resolved with the lower-timeframe candles inside
  that bar when given (``lower_candles``: e.g. 1m inside 15m); if they cannot tell, or none are
  given, the stop comes first (conservative). Counted: ``ambiguous_lower_tf`` and
  ``ambiguous_stop_first``. On a limit order's fill bar the target is not taken (we cannot know
  whether price reached it before the fill); the stop is.
- **Costs.** ``fee_bps`` of the notional on each side (entry, partial, exit). Each trade
  records its ``fees`` and its ``slippage`` (money lost to slippage on a market entry and on a
  stop, breakeven or time exit), both in money.
- **R, gross and net.** 1 R is the trade's planned risk in money, ``risk`` = |fill price −
  stop price| × size: what the position loses at its stop before costs, and the risk it was
  sized on (for an entry beyond the stop, the signal's planned entry to the stop, as above).
  ``r_gross`` is the price move over that risk, before fees and slippage (a limit long
  entered at 100 with its stop at 99 and its target at 102 makes +2.0 R gross at the target);
  ``r_net`` is the P&L after fees and slippage over the same risk, so ``r_net`` × ``risk`` =
  ``pnl`` and ``costs_r`` = ``r_gross`` − ``r_net`` is what the costs took, in R.
  ``r_multiple`` is ``r_net``, kept under its old name for existing queries and reports. A stop
  so tight that the costs are a large part of it shows here first: ``costs_r`` near or above
  1 (see ``plan.stop.min_cost_multiple`` in the setup schema).
- **Session, weekday, hour.** A trade's ``session`` is the session of its signal bar (the bar
  the setup's filters looked at: ``signal_time``); ``entry_session`` is the session of its fill
  bar, which differs when the signal closes a session and the order fills in the next one.
  ``weekday`` and ``hour`` are those of the fill (UTC).
- **Sizing.** ``risk_percent``: the size that loses that % of current equity at the stop;
  ``fixed_size``: units; ``fixed_cash``: cash notional at entry. Notional never exceeds
  equity × ``max_leverage`` (1 by default: spot), so a very tight stop cannot size a trade
  beyond the account; such a trade risks less than planned and is counted
  (``size_capped_by_leverage``). Its R is still its result over its own (smaller) risk, so
  fees weigh heavily on its ``r_net``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from engine.backtest import _kernel as k
from engine.candles import (
    _PER_MINUTE,
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    _offset_table,
    local_minutes,
    validate_candles,
)
from engine.detect.sessions import DAY, get_session
from engine.errors import ConfigurationError, DataError
from engine.signals import SIGNAL_COLUMNS, column_arrays, conform_signals

EXIT_REASONS = {k.STOP: "stop", k.TARGET: "target", k.TIME: "time", k.END: "end",
                k.BREAKEVEN: "breakeven"}
RESOLUTION = {k.NOT_AMBIGUOUS: "", k.LOWER_TF: "lower_tf", k.STOP_FIRST: "stop_first"}
# the kernel's counters by position (see _kernel.py), then the one counted here
COUNTERS = ("skipped_in_position", "unfilled_or_invalid", "ambiguous_lower_tf",
            "ambiguous_stop_first", "size_capped_by_leverage", "skipped_order_working",
            "gapped_past_stop", "no_bar_to_fill")
GAP_ENTRIES = ("fill", "skip")


@dataclasses.dataclass(frozen=True)
class Costs:
    fee_bps: float = 5.0
    slippage_bps: float = 2.0


@dataclasses.dataclass(frozen=True)
class Sizing:
    kind: Literal["risk_percent", "fixed_size", "fixed_cash"] = "risk_percent"
    value: float = 0.5
    max_leverage: float = 1.0  # cap on notional / equity for risk_percent and fixed_cash

    def __post_init__(self) -> None:
        kinds = ("risk_percent", "fixed_size", "fixed_cash")
        if self.kind not in kinds:
            raise ConfigurationError(f"sizing {self.kind!r}: use one of {', '.join(kinds)}")
        if not self.value > 0 or not self.max_leverage > 0:
            raise ConfigurationError(f"sizing {self.kind}: the size ({self.value}) and the "
                                     f"leverage cap ({self.max_leverage}) must be positive")


@dataclasses.dataclass
class SimulationResult:
    trades: pd.DataFrame
    equity: pd.DataFrame
    counters: dict[str, int]
    initial_equity: float
    # per trade, its signal's row in the signals simulated (in contract order: the given
    # frame's rows when it is in contract form, as compiled signals are)
    signal_rows: np.ndarray | None = None


def _lower_bounds(candles: pd.DataFrame, lower: pd.DataFrame | None):
    if lower is None or lower.empty:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0), np.empty(0)
    validate_candles(lower, name="lower-timeframe candles")
    times = lower.index.as_unit("ns").asi8
    starts = np.searchsorted(times, candles.index.as_unit("ns").asi8, side="left")
    ends = np.r_[starts[1:], len(times)]
    return (starts.astype(np.int64), ends.astype(np.int64), lower[HIGH].to_numpy(float),
            lower[LOW].to_numpy(float))


SESSIONS = ("other", "asia", "london", "new_york")


def _session_codes(index: pd.DatetimeIndex, bars: np.ndarray | None = None) -> np.ndarray:
    """Position in `SESSIONS` of the session of each time of `index` (at positions `bars`, when
    given; later names win where sessions overlap): `session_mask`'s test on `_wall_minutes`."""
    stamps = index.asi8 if bars is None else index.asi8[bars]
    out = np.zeros(len(stamps), dtype=np.int8)
    for code, name in enumerate(SESSIONS[1:], start=1):
        spec = get_session(name)
        wall = _wall_minutes(stamps, index.unit, spec.tz)
        if wall is None:  # times the zone's tables do not cover: the general conversion
            wall = local_minutes(index if bars is None else index[bars], spec.tz)
        out[(wall - spec.start_minute) % DAY < spec.length] = code
    return out


_TABLE_QUARTERS = 2 * 366 * 96  # up to two years of quarter hours: one or two cached tables


def _wall_minutes(stamps: np.ndarray, unit: str, tz: str) -> np.ndarray | None:
    """`local_minutes` of a few times spread over the data (the trades' bars; int64 `stamps` in
    `unit`), or None when they span more than `_TABLE_QUARTERS`. Read from the zone's offset
    table of the years they span (built once a process), reduced to the quarter hours where the
    offset changes (`_offset_changes`), so each time is one search among a few changes instead
    of a load from the whole table (or of pandas converting every quarter hour)."""
    per_minute = _PER_MINUTE[unit]
    minutes = stamps // per_minute
    if tz == "UTC" or not len(stamps):
        return minutes
    first, last = int(minutes.min()) // 15, int(minutes.max()) // 15
    if last - first >= _TABLE_QUARTERS:
        return None
    base, table = _offset_table(tz, first, last)
    starts, offsets = _offset_changes(tz, base, table)
    if first < base or last >= base + len(table):
        return None
    return minutes + offsets[np.searchsorted(starts, minutes // 15, side="right") - 1]


_CHANGES: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def _offset_changes(tz: str, base: int, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The quarter hours (since the epoch) from which each offset of `table` (offsets from
    quarter `base` on) holds, and those offsets; kept per zone and table span."""
    key = (tz, base, len(table))
    if key not in _CHANGES:
        if len(_CHANGES) >= 256:  # (short spans each have a table of their own)
            _CHANGES.clear()
        at = np.r_[0, np.flatnonzero(np.diff(table)) + 1]
        _CHANGES[key] = base + at, table[at]
    return _CHANGES[key]


def _paired_sessions(index: pd.DatetimeIndex, first: np.ndarray, second: np.ndarray):
    """`_session_codes` of the times at bars `first` and at bars `second`, in one pass over
    both (interleaved: each trade's signal bar, then its fill bar)."""
    both = np.empty(2 * len(first), np.int64)
    both[0::2], both[1::2] = first, second
    codes = _session_codes(index, both)
    return codes[0::2], codes[1::2]


def signal_arrays(signals) -> tuple[np.ndarray, ...]:
    """The signal columns the simulation kernels read, in their order (`simulate_nb` and
    `engine.backtest.alone`'s kernel take the same ones); `signals` is a frame or its
    `column_arrays`."""
    def column(name, dtype):
        return np.asarray(signals[name], dtype=dtype)

    return (column("direction", np.int64), np.asarray(signals["entry_type"]) == "limit",
            column("entry", float), column("stop", float), column("target", float),
            column("expiry_bars", np.int64), column("time_exit_bars", np.int64),
            column("breakeven_r", float), column("partial_r", float),
            column("partial_fraction", float))

def simulate(candles: pd.DataFrame, signals: pd.DataFrame, *, costs: Costs = Costs(),
             sizing: Sizing = Sizing(), initial_equity: float = 10_000.0,
             lower_candles: pd.DataFrame | None = None,
             target_on_entry_bar: bool = True,
             end_exit: Literal["close", "open"] = "close",
             gap_entry: Literal["fill", "skip"] = "fill",
             explain: Callable[[np.ndarray], np.ndarray] | None = None) -> SimulationResult:
    """Simulate `signals` on `candles`; see the module docstring for every convention.

    ``target_on_entry_bar`` (default True) lets a market order's fill bar hit its target;
    limit fills never take the target on their fill bar. ``end_exit`` prices a trade still
    open at the end of the data at the last bar's close (default) or its open (the convention
    of backtesting.py's ``finalize_trades``). ``gap_entry`` decides what happens when the fill
    bar opens beyond the stop: ``"fill"`` (default) trades it and stops out at that open,
    ``"skip"`` does not trade it; both count it in ``gapped_past_stop``. ``explain``, when
    given, makes the trades' ``reasons`` from their signals' bars (positions in `candles`,
    ascending) instead of the signals' ``reasons`` column: `engine.setups.compile.Explainer`'s
    ``at_bars``, so that only the traded signals are explained.
    """
    check_gap_entry(gap_entry)
    validate_candles(candles)
    prices = column_arrays(candles)  # (validated: one float64 array per name)
    o, h, lo, c = (np.ascontiguousarray(prices[x]) for x in (OPEN, HIGH, LOW, CLOSE))
    if k.any_nan_nb(o, h, lo, c):
        raise DataError("candles contain NaN prices; drop or repair those bars first")
    if initial_equity <= 0:
        raise DataError(f"initial equity must be positive, got {initial_equity}")
    signals = conform_signals(signals) if len(signals) else signals.reindex(
        columns=list(SIGNAL_COLUMNS))
    columns = column_arrays(signals)
    bars = bar_positions(candles.index, columns["known_at"])
    inside = bars < len(candles)
    known_after_data = int((~inside).sum())
    kept = None
    if known_after_data:
        kept = np.flatnonzero(inside)
        signals, bars = signals[inside].reset_index(drop=True), bars[inside]
        columns = column_arrays(signals)
    sizing_kind = {"risk_percent": k.RISK_PERCENT, "fixed_size": k.FIXED_SIZE,
                   "fixed_cash": k.FIXED_CASH}[sizing.kind]
    out = k.simulate_nb(
        o, h, lo, c, bars.astype(np.int64), *signal_arrays(columns), costs.fee_bps / 1e4,
        costs.slippage_bps / 1e4, sizing_kind, float(sizing.value), float(sizing.max_leverage),
        float(initial_equity),
        *_lower_bounds(candles, lower_candles), target_on_entry_bar,
        end_exit == "open", gap_entry == "skip")
    result = _wrap(candles, columns, bars, out, initial_equity, explain)
    result.counters["known_after_data"] = known_after_data
    if kept is not None:
        result.signal_rows = kept[result.signal_rows]
    return result


def check_gap_entry(gap_entry: str) -> None:
    """Refuse an unknown ``gap_entry`` before any work is done."""
    if gap_entry not in GAP_ENTRIES:
        raise ConfigurationError(f"gap_entry {gap_entry!r}: use one of {', '.join(GAP_ENTRIES)}")


def _wrap(candles, signals, bars, out, initial_equity, explain=None) -> SimulationResult:
    """Trades and equity frames from the kernel's arrays; `bars` is each signal's bar,
    `signals` the signals' `column_arrays`.

    Every column is built once from the kernel's arrays: texts named by a code (exit reason,
    resolution, sessions, weekday) are taken from small string arrays, not inferred from
    Python objects; the equity frame holds the kernel's own arrays."""
    (sig, entry_i, exit_i, entry, exit_, size, pnl, fees, reason, mfe, mae, risk, resolved,
     partial, slipped, equity, counters) = out
    index = candles.index
    rows = np.searchsorted(bars, sig)
    entry_time, signal_time = index[entry_i], index[sig]
    risked = risk * size  # 1 R in money: the planned distance to the stop times the size
    r_net = pnl / risked
    r_gross = (pnl + fees + slipped) / risked
    signal_session, entry_session = _paired_sessions(index, sig, entry_i)
    seconds = entry_time.as_unit("s").asi8  # once, for the weekday and the hour
    trades = _frame({
        "symbol": _taken(signals["symbol"], rows),
        "direction": np.asarray(signals["direction"])[rows].astype(np.int8),
        "signal_time": signal_time.array, "entry_time": entry_time.array,
        "exit_time": index[exit_i].array,
        "entry_price": entry, "exit_price": exit_, "stop_price": signals["stop"][rows],
        "target_price": signals["target"][rows], "size": size,
        "risk": risked, "pnl": pnl, "fees": fees, "slippage": slipped,
        "r_gross": r_gross, "r_net": r_net, "r_multiple": r_net, "costs_r": r_gross - r_net,
        "r_planned": signals["r_planned"][rows],
        "mfe_r": mfe, "mae_r": mae, "bars_held": exit_i - entry_i + 1,
        "exit_reason": _text(_REASON_TEXT, reason), "ambiguous": _text(_RESOLUTION_TEXT, resolved),
        "partial_price": partial,
        "session": _text(_SESSION_TEXT, signal_session),
        "entry_session": _text(_SESSION_TEXT, entry_session),
        "weekday": _text(_WEEKDAY_TEXT, (seconds // 86_400 + 3) % 7),  # 1970-01-01: a Thursday
        "hour": (seconds // 3600 % 24).astype(np.int32),
        "setup_id": _taken(signals["setup_id"], rows),
        "setup_version": signals["setup_version"][rows],
        "reasons": _taken(signals["reasons"], rows) if explain is None or not len(sig)
        else explain(sig),
    })
    drawdown, drawdown_pct = k.drawdowns_nb(equity)
    curve = pd.DataFrame({"equity": equity, "drawdown": drawdown, "drawdown_pct": drawdown_pct},
                         index=index, copy=False)  # fresh arrays: no need to copy 3 x n floats
    counted = dict(zip(COUNTERS, map(int, counters), strict=True))
    return SimulationResult(trades, curve, counted, initial_equity, rows)


_WEEKDAYS = np.array(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                      "Sunday"], dtype=object)



def _names(names: dict[int, str], codes: np.ndarray) -> np.ndarray:
    table = np.empty(max(names) + 1, dtype=object)
    for code, name in names.items():
        table[code] = name
    return table[codes.astype(np.int64)]


def _table(names) -> tuple[np.ndarray, object]:
    """A code -> text table, as Python objects and as the string array pandas would infer from
    them (the same dtype a column of those objects gets)."""
    if isinstance(names, dict):
        names = [names.get(code) for code in range(max(names) + 1)]
    objects = np.array(names, dtype=object)
    return objects, pd.Series(objects).array


_REASON_TEXT = _table(EXIT_REASONS)
_RESOLUTION_TEXT = _table(RESOLUTION)
_SESSION_TEXT = _table(SESSIONS)
_WEEKDAY_TEXT = _table(_WEEKDAYS)


def _text(table: tuple[np.ndarray, object], codes: np.ndarray):
    """The texts of `codes`: taken from the table's string array (no per-row inference), or, with
    no codes, the empty object array a column of no trades always had."""
    objects, strings = table
    codes = codes.astype(np.int64)
    return strings.take(codes) if len(codes) else objects[codes]


_STRING = _REASON_TEXT[1].dtype  # the str dtype pandas infers for a column of texts


def _frame(columns: dict) -> pd.DataFrame:
    """The trades frame from its columns, each already in its final dtype (object arrays of
    texts become the str columns pandas would infer, built at once from Arrow): pandas then
    checks and infers nothing."""
    if not len(columns["pnl"]):
        return pd.DataFrame(columns)
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype == object:
            columns[name] = pd.arrays.ArrowStringArray(
                pa.chunked_array([pa.array(values, pa.large_string())]), dtype=_STRING)
    return pd.DataFrame(columns, copy=False)


def _taken(column, rows: np.ndarray):
    """The signals' `column` (a Series or an array) at `rows` (a column of no trades: an empty
    list, as always)."""
    return np.asarray(column)[rows] if len(rows) else []


def bar_positions(index: pd.DatetimeIndex, times) -> np.ndarray:
    """Position of each time in `index`: of the first bar at or after it (any units; the times
    are brought to the index's unit, rounded up, so nothing of the index is converted)."""
    if len(times) == 0:
        return np.empty(0, np.int64)
    dtype = getattr(times, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) and dtype.unit == "ns":
        # the signals' own known_at (a Series, an index or their array): no copy
        wanted = (times.array if hasattr(times, "array") else times).asi8
    else:
        wanted = pd.DatetimeIndex(times).as_unit("ns").asi8
    per_unit = _NS_PER_UNIT[index.unit]
    if per_unit > 1:  # a bar at or after t in whole units is at or after ceil(t)
        wanted = -(-wanted // per_unit)
    return k.positions_nb(index.asi8, np.ascontiguousarray(wanted, dtype=np.int64))


_NS_PER_UNIT = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
