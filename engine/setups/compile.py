"""Compile a setup into a pure function: candles -> signals (engine.signals contract).

The same compiled function serves the backtester, the live monitor and the charts, so a
signal seen live is exactly the signal the backtest traded. Everything is evaluated per bar on
what is *known* at that bar's close:

- an **event** condition (fvg, swing, sweep, structure, order block, equal levels, ma cross) is
  true on the bar where its detection becomes known (for ``event: touched/retest``, the bar of
  the first touch), and its price attributes (top, bottom, mid, level, extreme) stay available
  to the plan until the next event of the same condition;
- a **state** condition (ma trend, rsi, atr, session) is true on every bar where it holds;
  one on the context timeframe (``timeframe: context``) takes, at each bar, the value of the
  last context bar that has *closed* by that bar's close, and context bars are built only from
  periods the candles cover completely (`engine.candles.resample`); rows flagged ``partial``
  in a given context frame are ignored (at 10:07 a 1h filter still reads the 09:00 bar);
- ``all``/``any``/``not`` combine bars; ``sequence: [A, B]`` is true on a bar where B is true
  and A was true on the same or an earlier bar, at most ``within_bars`` bars before (steps in
  order, for any number of steps).

Direction: ``long``/``short`` keep the signals whose triggering condition is not against it;
``both`` takes the direction of the triggering condition (the last step of a sequence, the
first directional item of ``all``). Entry: market = the signal bar's close as reference (the
backtester fills at the next open); limit = the referenced level. Stops and targets are
computed on the signal bar; signals whose stop or target is on the wrong side of the entry are
dropped and counted in ``CompiledSetup.dropped``.

Stop guards: with ``plan.stop.min_atr`` a signal whose stop is closer to its entry than that
many ATR(14) of the signal bar is dropped; with ``plan.stop.min_cost_multiple``, one whose stop
is closer than that many round-trip costs of the setup's ``costs`` ((2 x fee_bps + 2 x
slippage_bps) / 10000 x entry). Both are counted in ``CompiledSetup.counters``
(``filtered_stop_too_tight``, beside ``dropped_invalid_stop``), which the run summary shows.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
from numba import njit

from engine import detect
from engine.candles import CLOSE, PARTIAL, resample, timeframe_delta, validate_candles
from engine.detect._frame import Detections
from engine.detect.fvg import fvg_detections
from engine.detect.levels import equal_level_detections, previous_level_detections
from engine.detect.orderblocks import order_block_detections
from engine.detect.sessions import local_minutes, session_detections
from engine.detect.structure import structure_breaks, structure_detections
from engine.detect.sweeps import sweep_detections
from engine.detect.swings import swing_detections
from engine.setups import schema
from engine.setups.compile_reasons import explanations
from engine.setups.lookback import setup_lookback
from engine.signals import conform_signals, empty_signals

ATR_PERIOD = 14


class FrameCache(dict):
    """A detection cache (`CompiledSetup.evaluate`) for one candle frame that also keeps what
    every setup reads of the frame: that it passed the candle checks, and its ATR(14). The live
    monitor evaluates each feed's setups with one."""

    validated = False
    atr: np.ndarray | None = None


@dataclasses.dataclass
class Evaluated:
    """One condition on one candle frame: per-bar truth, direction and last-event levels."""

    active: np.ndarray
    direction: np.ndarray
    row_levels: dict[str, np.ndarray]  # per row of `frame`: top, bottom, mid, level, extreme
    positions: np.ndarray | None = None  # bar of each row of `frame`, ascending; None: a state
    detections: Detections | None = None  # the rows that can fire it, as arrays
    _frame: pd.DataFrame | None = dataclasses.field(default=None, repr=False)
    _last_event: np.ndarray | None = dataclasses.field(default=None, repr=False)

    @property
    def frame(self) -> pd.DataFrame | None:
        """The detections as a detection frame (built on first use), None for a state."""
        if self._frame is None and self.detections is not None:
            self._frame = self.detections.frame()
        return self._frame

    @property
    def last_event(self) -> np.ndarray:
        """Per bar, the row of `frame` behind the last event at or before it (-1 before any);
        built on first use (the plan and the explanations read it at signal bars only:
        `rows_at`)."""
        if self._last_event is None:
            n = len(self.active)
            row_at_bar = np.full(n, -1, dtype=np.int64)
            if self.positions is not None:
                row_at_bar[self.positions] = np.arange(len(self.positions))  # last row wins
            self._last_event = np.maximum.accumulate(row_at_bar) if n else row_at_bar
        return self._last_event

    def rows_at(self, bars: np.ndarray) -> np.ndarray:
        """`last_event` at `bars` only, without the per-bar array."""
        if self._last_event is not None:
            return self._last_event[bars]
        if self.positions is None:
            return np.full(len(bars), -1, np.int64)
        return np.searchsorted(self.positions, bars, side="right").astype(np.int64) - 1

    def level_at(self, name: str, bars: np.ndarray) -> np.ndarray:
        """At each of `bars`, the level `name` of the last event known there (NaN before
        any)."""
        values = self.row_levels.get(name)
        if values is None or not len(values):
            return np.full(len(bars), np.nan)
        rows = self.rows_at(bars)
        return np.where(rows >= 0, values[np.clip(rows, 0, None)], np.nan)

    def level(self, name: str) -> np.ndarray:
        """Per bar, the level `name` of the last event known at that bar (NaN before any)."""
        return self.level_at(name, np.arange(len(self.active)))


def _event_condition(n: int, frame: Detections, positions: np.ndarray) -> Evaluated:
    keep = positions >= 0
    if not keep.all():
        frame, positions = frame.where(keep), positions[keep]
    if len(positions) > 1 and (np.diff(positions) < 0).any():  # copy only when out of order
        order = np.argsort(positions, kind="stable")
        frame, positions = frame.where(order), positions[order]
    active = np.zeros(n, dtype=bool)
    active[positions] = True
    direction = np.zeros(n, dtype=np.int8)
    direction[positions] = frame["direction"]
    top, bottom = frame["top"], frame["bottom"]
    dirs = frame["direction"]
    extreme = np.asarray(frame["extreme"], float) if "extreme" in frame else np.where(
        dirs >= 0, bottom, top)
    values = {"top": top, "bottom": bottom, "mid": (top + bottom) / 2,
              "level": np.where(top == bottom, top, (top + bottom) / 2), "extreme": extreme}
    return Evaluated(active, direction, values, np.asarray(positions, np.int64), frame)


@njit(cache=True, nogil=True)
def _crosses_nb(fast: np.ndarray, slow: np.ndarray, want: int):
    """Bars where `fast` crosses `slow` (both defined on the bar and the one before): above
    after not above is up, not above after above is down; `want` 1 keeps ups, -1 downs, 0
    both. Returns (positions, is up). One pass that carries each bar's side (above, not
    above, undefined) to the next."""
    n = fast.shape[0]
    positions = np.empty(n, np.int64)
    up = np.empty(n, np.bool_)
    count = 0
    before = -1  # the side on the bar before: 1 above, 0 not above, -1 undefined
    for i in range(n):
        spread = fast[i] - slow[i]
        side = -1 if np.isnan(spread) else (1 if spread > 0 else 0)
        if side != before:
            if side >= 0 and before >= 0 and (want == 0 or want == (1 if side else -1)):
                positions[count] = i
                up[count] = side == 1
                count += 1
            before = side
    return positions[:count].copy(), up[:count].copy()


def _state(active: np.ndarray, direction: int = 0) -> Evaluated:
    n = len(active)
    return Evaluated(active.astype(bool), np.full(n, direction, np.int8) * active, {})


def _want(direction: str) -> int:
    return {"bullish": 1, "bearish": -1}.get(direction, 0)


def _rows(frame: Detections, direction: int) -> Detections:
    return frame if direction == 0 else frame.where(frame["direction"] == direction)


def _side(side: str) -> int:
    """Swept/pivot side: "high" rows have direction +1 as levels."""
    return {"high": 1, "low": -1}.get(side, 0)


class _Evaluator:
    def __init__(self, candles: pd.DataFrame, timeframe: str, context: pd.DataFrame | None,
                 context_timeframe: str | None, cache: dict | None = None) -> None:
        self.candles = candles
        self.n = len(candles)
        self.timeframe = timeframe
        self.context = context
        self.context_timeframe = context_timeframe
        self.cache = cache
        self._atr: np.ndarray | None = None
        self._pivots: dict[int, detect.Pivots] = {}
        self._breaks: dict[int, tuple] = {}

    def pivots(self, length: int) -> detect.Pivots:
        """One swing pass per length, shared by every block built on swings."""
        if length not in self._pivots:
            self._pivots[length] = detect.swing_points(self.candles, length)
        return self._pivots[length]

    def breaks(self, length: int) -> tuple:
        """One structure pass per length, shared by structure and order blocks."""
        if length not in self._breaks:
            self._breaks[length] = structure_breaks(self.candles, length, self.pivots(length))
        return self._breaks[length]

    @property
    def atr(self) -> np.ndarray:
        if self._atr is None:
            self._atr = detect.atr(self.candles, ATR_PERIOD)
        return self._atr

    def condition(self, block) -> Evaluated:
        return getattr(self, f"_{block.detector}")(block)

    # events -------------------------------------------------------------------------------
    def _fvg(self, b: schema.FvgBlock) -> Evaluated:
        frame = fvg_detections(self.candles, min_size_atr=b.min_size_atr,
                               min_size_pct=b.min_size_pct)
        if b.displacement_candle:
            frame = frame.where(frame["middle_direction"] == frame["direction"])
        frame = _rows(frame, _want(b.direction))
        column = "known_i" if b.event == "formed" else "touched_i"
        return _event_condition(self.n, frame, frame[column])

    def _swing(self, b: schema.SwingBlock) -> Evaluated:
        frame = _rows(swing_detections(self.candles, length=b.length,
                                       pivots=self.pivots(b.length)), _side(b.side))
        return _event_condition(self.n, frame, frame["known_i"])

    def _sweep(self, b: schema.SweepBlock) -> Evaluated:
        c = self.candles
        levels = {
            "swing": lambda: swing_detections(c, length=b.length,
                                              pivots=self.pivots(b.length)),
            "session": lambda: session_detections(c, sessions=[b.session]),
            "previous_day": lambda: previous_level_detections(
                c, period="day", boundary=b.day_boundary, tz=b.day_tz),
            "previous_week": lambda: previous_level_detections(
                c, period="week", boundary=b.day_boundary, tz=b.day_tz),
            "equal_levels": lambda: equal_level_detections(
                c, length=b.length, tolerance_pct=b.tolerance_pct,
                pivots=self.pivots(b.length)),
        }[b.of]()
        frame = sweep_detections(c, levels, reclaim_bars=b.reclaim_bars)
        frame = _rows(frame, -_side(b.side))  # a swept high is a bearish (-1) sweep
        return _event_condition(self.n, frame, frame["known_i"])

    def _structure(self, b: schema.StructureBlock) -> Evaluated:
        frame = _rows(structure_detections(self.candles, length=b.length,
                                           breaks=self.breaks(b.length)), _want(b.direction))
        if b.kind != "any":
            frame = frame.where(frame.kinds() == b.kind)
        return _event_condition(self.n, frame, frame["known_i"])

    def _order_block(self, b: schema.OrderBlockBlock) -> Evaluated:
        frame = _rows(order_block_detections(self.candles, length=b.length,
                                             breaks=self.breaks(b.length)),
                      _want(b.direction))
        column = "known_i" if b.event == "formed" else "mitigated_i"
        return _event_condition(self.n, frame, frame[column])

    def _equal_levels(self, b: schema.EqualLevelsBlock) -> Evaluated:
        frame = _rows(equal_level_detections(self.candles, length=b.length,
                                             tolerance_pct=b.tolerance_pct,
                                             pivots=self.pivots(b.length)), _side(b.side))
        return _event_condition(self.n, frame, frame["known_i"])

    def _ma_cross(self, b: schema.MaCrossBlock) -> Evaluated:
        positions, up = _crosses_nb(self._ma(b.kind, b.fast), self._ma(b.kind, b.slow),
                                    _want(b.direction))
        close = self.candles[CLOSE].to_numpy()
        frame = Detections(self.candles.index, at_i=positions, known_i=positions,
                           kind="ma_cross", direction=np.where(up, 1, -1),
                           top=close[positions], bottom=close[positions])
        return _event_condition(self.n, frame, positions)

    def _ma(self, kind: str, period: int) -> np.ndarray:
        """The moving average of closes, kept in the detection cache (read-only) so that the
        blocks of a sweep sharing a period compute it once."""
        key = ("moving average", kind, period)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        values = (detect.ema if kind == "ema" else detect.sma)(self.candles, period)
        if self.cache is not None:
            values.flags.writeable = False
            self.cache[key] = values
        return values

    # states -------------------------------------------------------------------------------
    def _ma_trend(self, b: schema.MaTrendBlock) -> Evaluated:
        ma = detect.ema if b.kind == "ema" else detect.sma
        want = _want(b.direction)
        if b.timeframe == "base":
            close = self.candles[CLOSE].to_numpy()
            return _state(np.nan_to_num(want * (close - ma(self.candles, b.period))) > 0, want)
        context = self._context_candles()
        holds = np.nan_to_num(want * (context[CLOSE].to_numpy() - ma(context, b.period))) > 0
        return _state(self._on_base_bars(context, holds), want)

    def _rsi(self, b: schema.RsiBlock) -> Evaluated:
        value = detect.rsi(self.candles, b.period)
        active = ~np.isnan(value)
        if b.above is not None:
            active &= np.nan_to_num(value) > b.above
        if b.below is not None:
            active &= np.nan_to_num(value) < b.below
        return _state(active)

    def _atr(self, b: schema.AtrBlock) -> Evaluated:
        pct = detect.atr(self.candles, b.period) / self.candles[CLOSE].to_numpy() * 100
        active = ~np.isnan(pct)
        if b.min_pct is not None:
            active &= np.nan_to_num(pct) >= b.min_pct
        if b.max_pct is not None:
            active &= np.nan_to_num(pct) <= b.max_pct
        return _state(active)

    def _session(self, b: schema.SessionBlock) -> Evaluated:
        return _state(detect.session_mask(self.candles.index, b.session))

    # context ------------------------------------------------------------------------------
    def _context_candles(self) -> pd.DataFrame:
        """Closed context bars only: resampled from the base candles without the periods they
        do not cover completely, and a given context frame without rows flagged ``partial``
        (``CandleStore.read(..., partial=True)``)."""
        if self.context is None:
            self.context = resample(self.candles, self.context_timeframe,
                                    source_timeframe=self.timeframe)
        elif PARTIAL in self.context.columns:
            self.context = self.context[~self.context[PARTIAL].to_numpy(bool)]
        return self.context

    def _on_base_bars(self, context: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        """Value of the last context bar that has closed by each base bar's close."""
        # both in ns: `asi8` counts in the index's own unit (pandas 3 reads text as "us")
        ctx_close = (context.index + timeframe_delta(self.context_timeframe)).as_unit("ns").asi8
        base_close = (self.candles.index + timeframe_delta(self.timeframe)).as_unit("ns").asi8
        which = np.searchsorted(ctx_close, base_close, side="right") - 1
        return np.where(which >= 0, values[np.clip(which, 0, None)], False) if len(values) \
            else np.zeros(self.n, bool)


def _combine(node, evaluated: dict[str, Evaluated], n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(node, str):
        e = evaluated[node]
        return e.active, e.direction
    if isinstance(node, schema.NotOf):
        active, _ = _combine(node.not_, evaluated, n)
        return ~active, np.zeros(n, np.int8)
    if isinstance(node, schema.Sequence):
        return _sequence(node, evaluated, n)
    parts = [_combine(child, evaluated, n) for child in (
        node.all_ if isinstance(node, schema.AllOf) else node.any_)]
    stack = np.array([p[0] for p in parts])
    active = stack.all(axis=0) if isinstance(node, schema.AllOf) else stack.any(axis=0)
    direction = np.zeros(n, np.int8)
    for part_active, part_dir in reversed(parts):  # the first directional item wins
        direction = np.where(part_active & (part_dir != 0), part_dir, direction)
    return active, direction.astype(np.int8)


def _candidates(node, evaluated: dict[str, Evaluated]) -> np.ndarray | None:
    """The bars (ascending, once each) outside which `node` is false for sure: an event's bars,
    the common bars of an ``all`` with an event in it, the bars of an ``any`` of events; None
    when that is every bar (a state, a ``not``); a ``sequence``'s are its last step's."""
    if isinstance(node, str):
        positions = evaluated[node].positions
        if positions is None or len(positions) < 2:
            return positions
        return positions[np.r_[True, positions[1:] != positions[:-1]]]
    if isinstance(node, schema.AllOf | schema.AnyOf):
        parts = [_candidates(child, evaluated) for child in (
            node.all_ if isinstance(node, schema.AllOf) else node.any_)]
        if isinstance(node, schema.AllOf):
            known = [p for p in parts if p is not None]
            return None if not known else functools.reduce(
                lambda a, b: np.intersect1d(a, b, assume_unique=True), known)
        return None if any(p is None for p in parts) else functools.reduce(np.union1d, parts)
    if isinstance(node, schema.Sequence):  # true only where its last step is
        return _candidates(node.sequence[-1], evaluated)
    return None


def _combine_at(node, evaluated: dict[str, Evaluated], bars: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """`_combine` read at `bars` only (new arrays): each bar's truth and direction as the
    whole-frame `_combine` gives them there (a ``sequence`` is evaluated whole and read)."""
    if isinstance(node, str):
        e = evaluated[node]
        return e.active[bars], e.direction[bars]
    if isinstance(node, schema.NotOf):
        active, _ = _combine_at(node.not_, evaluated, bars)
        return ~active, np.zeros(len(bars), np.int8)
    if isinstance(node, schema.Sequence):
        n = len(next(iter(evaluated.values())).active)
        active, direction = _sequence(node, evaluated, n)
        return active[bars], direction[bars]
    parts = [_combine_at(child, evaluated, bars) for child in (
        node.all_ if isinstance(node, schema.AllOf) else node.any_)]
    stack = np.array([p[0] for p in parts])
    active = stack.all(axis=0) if isinstance(node, schema.AllOf) else stack.any(axis=0)
    direction = np.zeros(len(bars), np.int8)
    for part_active, part_dir in reversed(parts):  # the first directional item wins
        direction = np.where(part_active & (part_dir != 0), part_dir, direction)
    return active, direction.astype(np.int8)


def _sequence(node: schema.Sequence, evaluated, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Latest possible start of a chain of the steps ending at each bar; a chain counts when
    it started at most `within_bars` bars ago."""
    bars = np.arange(n)
    start = None
    direction = np.zeros(n, np.int8)
    for step in node.sequence:
        active, direction = _combine(step, evaluated, n)
        if start is None:
            start = np.where(active, bars, -1)
        else:
            best_before = np.maximum.accumulate(start)
            start = np.where(active, best_before, -1)
    ok = (start >= 0) & (bars - start <= node.within_bars)
    return ok, direction


def _filters(f: schema.Filters, candles: pd.DataFrame, atr: np.ndarray) -> np.ndarray:
    index = candles.index
    allowed = np.ones(len(candles), dtype=bool)
    if f.sessions:
        allowed &= np.any([detect.session_mask(index, s) for s in f.sessions], axis=0)
    if f.weekdays:
        days = [schema.WEEKDAYS.index(d) for d in f.weekdays]
        allowed &= np.isin(index.day_of_week, days)
    if f.hours:
        minute = local_minutes(index, f.hours.tz) % 1440
        start, end = (int(x[:2]) * 60 + int(x[3:5]) for x in (f.hours.start, f.hours.end))
        allowed &= ((minute - start) % 1440) < ((end - start) % 1440 or 1440)
    if f.min_atr_pct is not None or f.max_atr_pct is not None:
        allowed &= _atr_allowed(f, candles[CLOSE].to_numpy(), atr)
    return allowed


def _atr_allowed(f: schema.Filters, close: np.ndarray, atr: np.ndarray) -> np.ndarray:
    """Per bar (of `close` and `atr`), does the ATR in % of the close pass the ATR filters?"""
    pct = np.nan_to_num(atr / close * 100, nan=-1)
    allowed = np.ones(len(close), dtype=bool)
    if f.min_atr_pct is not None:
        allowed &= pct >= f.min_atr_pct
    if f.max_atr_pct is not None:
        allowed &= (pct >= 0) & (pct <= f.max_atr_pct)
    return allowed


def time_filters_allow(setup: schema.Setup, candles: pd.DataFrame) -> np.ndarray:
    """Per bar, do the setup's session, weekday and hour filters let a signal through? False
    means no signal there whatever the conditions (the live monitor skips such bars)."""
    filters = setup.filters
    if filters.min_atr_pct is not None or filters.max_atr_pct is not None:
        filters = filters.model_copy(update={"min_atr_pct": None, "max_atr_pct": None})
    return _filters(filters, candles, np.full(len(candles), np.nan))


def _level(ref: str | None, evaluated: dict[str, Evaluated], bars: np.ndarray) -> np.ndarray:
    """The level `ref` ("condition.attribute") at each of `bars`."""
    if ref is None:
        return np.full(len(bars), np.nan)
    name, _, attribute = ref.partition(".")
    return evaluated[name].level_at(attribute, bars)


@dataclasses.dataclass
class SignalArrays:
    """One evaluation's signals as arrays, in bar order: each signal's bar position, direction
    (+1.0/-1.0), planned entry, stop, target and risk per unit (entry to stop), and the
    conditions they came from. The plan's other fields are the same for every signal
    (`CompiledSetup.setup.plan`)."""

    bars: np.ndarray
    direction: np.ndarray
    entry: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    risk: np.ndarray
    evaluated: dict[str, Evaluated]


class CompiledSetup:
    """A setup ready to run: ``compiled(candles, symbol=...)`` returns its signals."""

    def __init__(self, setup: schema.Setup, *, version: int = 0) -> None:
        self.setup = setup
        self.version = version
        self.dropped = 0
        self.counters = {"dropped_invalid_stop": 0, "filtered_stop_too_tight": 0}
        self._cache_keys: dict[str, tuple] = {}
        self._lookback: int | None = None

    @property
    def reads_atr(self) -> bool:
        """Does the plan or a filter read the ATR(14) (a stop buffer or guard in ATR, an ATR
        filter)? Signals of a setup that does not are found without computing it."""
        stop, filters = self.setup.plan.stop, self.setup.filters
        return bool(stop.buffer_atr) or stop.min_atr is not None or (
            filters.min_atr_pct is not None or filters.max_atr_pct is not None)

    @property
    def lookback(self) -> int:
        """Bars a window must hold, ending at a bar, to decide that bar as the whole data does
        (`engine.setups.lookback`): what the live monitor keeps."""
        if self._lookback is None:
            self._lookback = setup_lookback(self.setup)
        return self._lookback

    def evaluate(self, candles: pd.DataFrame, *, context: pd.DataFrame | None = None,
                 cache: dict | None = None) -> dict[str, Evaluated]:
        """Every condition on `candles`. `cache` (a dict the caller keeps for one candle frame,
        e.g. across optimiser trials) re-uses a condition whose block is unchanged."""
        if not getattr(cache, "validated", False):
            validate_candles(candles)
            if isinstance(cache, FrameCache):
                cache.validated = True
        market = self.setup.market
        ev = _Evaluator(candles, market.timeframe, context, market.context_timeframe, cache)
        out = {}
        for name, block in self.setup.conditions.items():
            if cache is None:
                out[name] = ev.condition(block)
                continue
            key = self._cache_keys.get(name)
            if key is None:  # the block's parameters, as text: blocks that detect alike share
                key = (market.timeframe, market.context_timeframe, block.model_dump_json())
                self._cache_keys[name] = key
            if key not in cache:
                cache[key] = ev.condition(block)
            out[name] = cache[key]
        return out

    def detections(self, candles: pd.DataFrame, *, context: pd.DataFrame | None = None
                   ) -> dict[str, pd.DataFrame]:
        """Per event condition, the detections that can fire it (for charts)."""
        return {name: e.frame for name, e in self.evaluate(candles, context=context).items()
                if e.frame is not None}

    def __call__(self, candles: pd.DataFrame, *, symbol: str,
                 context: pd.DataFrame | None = None, explain: bool = True,
                 cache: dict | None = None, since: int = 0) -> pd.DataFrame:
        """Signals on `candles`. ``explain=False`` leaves every ``reasons`` cell ``[]``: the
        same signals, several times cheaper, for optimisers that only need their results;
        `cache` as in `evaluate`; ``since`` keeps only signals at bars from that position on
        (the live monitor asks for its new bars only)."""
        signals = self.new_signals(candles, symbol=symbol, context=context, explain=explain,
                                   cache=cache, since=since)
        return empty_signals() if signals is None else signals

    def explained_later(self, candles: pd.DataFrame, *, symbol: str,
                        context: pd.DataFrame | None = None, cache: dict | None = None
                        ) -> tuple[pd.DataFrame, Explainer]:
        """The signals of `__call__` with every ``reasons`` cell ``""``, and an `Explainer`
        that gives the explanation of any of them later (``explainer.explain(rows)`` is what
        ``explain=True`` would have put in those rows): the backtest explains only the signals
        it trades."""
        arrays = self.signal_arrays(candles, context=context, cache=cache)
        if arrays is None:
            return empty_signals(), Explainer({}, np.empty(0, np.int64))
        signals = self._signals(candles, arrays, symbol, explain=None)
        return signals, Explainer(arrays.evaluated, arrays.bars)

    def new_signals(self, candles: pd.DataFrame, *, symbol: str,
                    context: pd.DataFrame | None = None, explain: bool = True,
                    cache: dict | None = None, since: int = 0) -> pd.DataFrame | None:
        """`__call__`, but None instead of an empty frame when no signal is found: the live
        monitor's usual bar, where building even an empty frame would cost more than the
        detections. The time filters are computed on the bars from ``since`` on only."""
        arrays = self.signal_arrays(candles, context=context, cache=cache, since=since)
        if arrays is None:
            return None
        return self._signals(candles, arrays, symbol, explain)

    def signal_arrays(self, candles: pd.DataFrame, *, context: pd.DataFrame | None = None,
                      cache: dict | None = None, since: int = 0) -> SignalArrays | None:
        """The signals as arrays, before any frame is built (None when no bar is active): what
        `new_signals` puts in its frame, and all the lean backtest path
        (`engine.backtest.lean`) reads. Sets `dropped` and `counters` as `new_signals` does."""
        if len(candles) == 0:
            return None
        evaluated = self.evaluate(candles, context=context, cache=cache)
        found = self._event_bars(candles, evaluated, cache, since)
        bars, direction, atr = found if found is not None else self._active_bars(
            candles, evaluated, cache, since)
        if not len(bars):
            self.dropped, self.counters = 0, dict.fromkeys(self.counters, 0)
            return None
        return self._plan(candles, evaluated, bars, direction, atr)

    def _atr(self, candles: pd.DataFrame, cache: dict | None) -> np.ndarray | None:
        """The ATR(14) per bar (kept in a `FrameCache`), None when nothing reads it."""
        atr = getattr(cache, "atr", None)
        if atr is None and self.reads_atr:
            atr = detect.atr(candles, ATR_PERIOD)
            if isinstance(cache, FrameCache):
                atr.flags.writeable = False  # shared by the setups on this frame
                cache.atr = atr
        return atr

    def _active_bars(self, candles, evaluated, cache, since) -> tuple:
        """(signal bars, their direction, their ATR) from the conditions' per-bar arrays."""
        n = len(candles)
        combined, direction = _combine(self.setup.signal, evaluated, n)
        atr = self._atr(candles, cache)
        if atr is None:
            atr = np.zeros(n)  # read only through a zero buffer: no ATR to compute
        # a new array: never write into a condition's own, which may be cached
        active = np.zeros(n, dtype=bool)
        tail = candles.iloc[since:] if since else candles
        active[since:] = combined[since:] & _filters(self.setup.filters, tail, atr[since:])
        wanted = {"long": 1, "short": -1, "both": 0}[self.setup.direction]
        if wanted:
            active &= direction != -wanted
            direction = np.full(n, wanted, np.int8)
        else:
            active &= direction != 0
        bars = np.flatnonzero(active)
        return bars, direction[bars], atr[bars]

    def _event_bars(self, candles, evaluated, cache, since) -> tuple | None:
        """`_active_bars` read at the bars where an event fires only, when the signal can be
        true nowhere else (`_candidates`): no per-bar array is built (a sweep variant's
        route). None when the signal needs every bar (a ``not`` or ``any`` of a state, ...)."""
        candidates = _candidates(self.setup.signal, evaluated)
        if candidates is None:
            return None
        if since:
            candidates = candidates[np.searchsorted(candidates, since):]
        active, direction = _combine_at(self.setup.signal, evaluated, candidates)
        atr = self._atr(candles, cache)
        atr = np.zeros(len(candidates)) if atr is None else atr[candidates]
        active &= self._filters_at(candles, cache, candidates, atr)
        wanted = {"long": 1, "short": -1, "both": 0}[self.setup.direction]
        if wanted:
            active &= direction != -wanted
            direction = np.full(len(candidates), wanted, np.int8)
        else:
            active &= direction != 0
        return candidates[active], direction[active], atr[active]

    def _filters_at(self, candles, cache, bars, atr) -> np.ndarray:
        """`_filters` at `bars` only: the time filters' per-bar mask is kept in `cache` (one
        per frame and filters: the variants of a sweep share it), the ATR filters read at
        the bars."""
        f = self.setup.filters
        allowed = _atr_allowed(f, candles[CLOSE].to_numpy()[bars], atr) \
            if f.min_atr_pct is not None or f.max_atr_pct is not None else \
            np.ones(len(bars), bool)
        if f.sessions or f.weekdays or f.hours:
            allowed &= self._time_mask(candles, cache)[bars]
        return allowed

    def _time_mask(self, candles, cache) -> np.ndarray:
        """`time_filters_allow` per bar, kept in `cache` under the time filters' text."""
        key = ("time filters", self.setup.filters.model_dump_json(
            include={"sessions", "weekdays", "hours"}))
        if cache is not None and key in cache:
            return cache[key]  # (read as `cache[key]`: a bounded cache counts it as a use)
        mask = time_filters_allow(self.setup, candles)
        if cache is not None:
            mask.flags.writeable = False
            cache[key] = mask
        return mask

    def _plan(self, candles, evaluated, bars, direction, atr) -> SignalArrays:
        """The signals at `bars` (ascending), with their `direction` and ATR (`atr`)."""
        plan = self.setup.plan
        d = direction.astype(float)
        close = candles[CLOSE].to_numpy()
        entry = close[bars] if plan.entry.type == "market" else _level(
            plan.entry.level, evaluated, bars)
        buffer = np.nan_to_num(atr) * plan.stop.buffer_atr + \
            entry * plan.stop.buffer_pct / 100
        if plan.stop.level:
            stop = _level(plan.stop.level, evaluated, bars) - d * buffer
        else:
            stop = entry * (1 - d * plan.stop.percent / 100) - d * buffer
        risk = d * (entry - stop)
        if plan.target.r_multiple is not None:
            target = entry + d * plan.target.r_multiple * risk
        elif plan.target.level:
            target = _level(plan.target.level, evaluated, bars)
        else:
            target = entry * (1 + d * plan.target.percent / 100)
        ok = np.isfinite(entry) & np.isfinite(stop) & (risk > 0) & np.isfinite(target) & (
            d * (target - entry) > 0)
        self.dropped = int((~ok).sum())
        wide = _stop_wide_enough(plan.stop, self.setup.costs, entry, risk, atr)
        self.counters = {"dropped_invalid_stop": self.dropped,
                         "filtered_stop_too_tight": int((ok & ~wide).sum())}
        ok &= wide
        return SignalArrays(*(x[ok] for x in (bars, d, entry, stop, target, risk)), evaluated)

    def _signals(self, candles, arrays: SignalArrays, symbol, explain) -> pd.DataFrame:
        plan = self.setup.plan
        bars, d, entry, stop, target, risk = (arrays.bars, arrays.direction, arrays.entry,
                                              arrays.stop, arrays.target, arrays.risk)
        evaluated = arrays.evaluated
        count = len(bars)

        def column(value, dtype) -> pd.Series:  # each column in its contract dtype already
            # (an explicit object Series: pandas 3 would turn a bare array of text into str;
            # `fill` puts the one text in every cell, where np.full makes a copy per cell)
            values = np.empty(count, dtype=dtype)
            values.fill(value)
            return pd.Series(values, dtype=dtype)

        frame = pd.DataFrame({
            "known_at": candles.index[bars].as_unit("ns"),
            "symbol": column(symbol, object), "direction": d.astype(np.int8),
            "entry_type": column(plan.entry.type, object), "entry": entry, "stop": stop,
            "target": target, "r_planned": np.abs(target - entry) / risk,
            "expiry_bars": column(plan.entry.expiry_bars if plan.entry.type == "limit" else 0,
                                  np.int32),
            "time_exit_bars": column(plan.time_exit_bars or 0, np.int32),
            "breakeven_r": column(plan.breakeven_at_r or np.nan, np.float64),
            "partial_r": column(plan.partial.at_r if plan.partial else np.nan, np.float64),
            "partial_fraction": column(plan.partial.fraction if plan.partial else 0.0,
                                       np.float64),
            "setup_id": column(self.setup.id, object),
            "setup_version": column(self.version, np.int32),
            "reasons": pd.Series(self._reasons(evaluated, bars), dtype=object) if explain
            else column("[]" if explain is False else "", object),
        })
        return conform_signals(frame)

    def _reasons(self, evaluated: dict[str, Evaluated], bars: np.ndarray) -> np.ndarray:
        """JSON per signal: the last detection of each event condition known at the bar
        (`engine.setups.compile_reasons`)."""
        return explanations(evaluated, bars)


class Explainer:
    """The explanations (``reasons``, `engine.setups.compile_reasons`) of one setup's signals
    on one candle frame, built only for the signals read: it keeps the evaluated conditions
    and each signal's bar (`CompiledSetup.explained_later`)."""

    def __init__(self, evaluated: dict[str, Evaluated], bars: np.ndarray) -> None:
        self._evaluated = evaluated
        self.bars = np.asarray(bars, np.int64)  # per signal row: its bar in the candles

    def __len__(self) -> int:
        return len(self.bars)

    def explain(self, rows) -> np.ndarray:
        """The ``reasons`` text of the signals at `rows` (positions in the signals frame, any
        order), as an object array."""
        return self.at_bars(self.bars[np.asarray(rows, np.int64)])

    def at_bars(self, bars) -> np.ndarray:
        """The ``reasons`` text of signals at `bars` (positions in the candles, any order)."""
        bars = np.asarray(bars, np.int64)
        if len(bars) < 2 or (bars[1:] >= bars[:-1]).all():
            return explanations(self._evaluated, bars)
        order = np.argsort(bars, kind="stable")
        out = np.empty(len(bars), dtype=object)
        out[order] = explanations(self._evaluated, bars[order])
        return out


def round_trip_cost(costs: schema.Costs, price):
    """Fees on both sides and slippage on both sides, in price: (2 x fee_bps + 2 x
    slippage_bps) / 10000 x price."""
    return (2 * costs.fee_bps + 2 * costs.slippage_bps) / 1e4 * price


def _stop_wide_enough(stop: schema.Stop, costs: schema.Costs, entry: np.ndarray,
                      distance: np.ndarray, atr: np.ndarray) -> np.ndarray:
    """Per signal: does the stop distance pass ``min_atr`` and ``min_cost_multiple``? A signal
    bar without an ATR yet (the first 14 bars) fails ``min_atr``: it cannot be checked."""
    wide = np.ones(len(entry), dtype=bool)
    with np.errstate(invalid="ignore"):
        if stop.min_atr is not None:
            wide &= distance >= stop.min_atr * atr
        if stop.min_cost_multiple is not None:
            wide &= distance >= stop.min_cost_multiple * round_trip_cost(costs, entry)
    return wide


def compile_setup(setup: schema.Setup, *, version: int = 0) -> CompiledSetup:
    """Compile a validated setup (pure; no I/O)."""
    return CompiledSetup(setup, version=version)
