"""Live evaluation: the backtest's compiled setups, run on each newly closed bar.

For every setup in the store, at its **active** version, and every feed whose symbol the setup
lists (``market.symbols``) at the setup's timeframe (``market.timeframe``): on each closed bar
the same `CompiledSetup` the backtester uses is evaluated on a rolling window of the last
`CompiledSetup.lookback` bars (engine/setups/lookback.py), and the signals whose ``known_at``
is a newly closed bar are returned as `LiveSignal`s. Rules a trader can rely on:

- **Closed bars only.** Given ``now``, a bar that has not closed by then (``open + timeframe >
  now``) is dropped with one log line; a context-timeframe condition reads the last context
  bar closed by the base bar's close, as in the backtest.
- **Each bar once, in order.** The last evaluated bar is kept per (setup, version, feed): a
  catch-up after a gap emits every missed bar's signals in time order, and a bar is never
  evaluated twice. The first window seen for a (setup, version, feed) counts only its last bar
  as new (or the ``new_bars`` the caller names), so starting the monitor or activating a
  version never replays history as alerts.
- **Hot reload.** Every call checks the setup folders' modification stamps (a few ``stat``
  calls); when a setup's active version changed (app, CLI, editor), the next bar uses it. Each
  (setup id, version) is compiled once. A version that cannot be loaded is logged and the last
  good one keeps running.
- **Parity.** `replay` runs one setup bar by bar through the same path; the tests prove it
  yields the whole-data signals of `compile_setup` on the demo candles.
- **Shared work.** Setups on one feed are evaluated on one window with one detection cache, so
  two setups with the same condition block detect it once (and read one ATR); a bar outside a
  setup's sessions, weekdays or hours filters is not evaluated at all (no signal can pass them
  there).
- **Cheap quiet bars.** Detectors hand the compiler numpy arrays (`engine.detect._frame.
  Detections`); a pandas frame is built only for a bar that raises a signal (its reasons). One
  setup on one new bar takes 0.2-1.4 ms (median), under 3.5 ms at p95, on the example setups
  with windows of up to 23,000 bars (``python -m bench.live_eval``).
- **A close at once.** `on_closes` takes every feed of a close (the setup folders are checked
  once); ``workers=2`` shares the feeds out to worker processes. The bookkeeping and the
  signals are the same either way (tested); on the shared 2-core development machine two
  processes were slower than one (a close of 200 evaluations: ~40 ms in one process), so the
  default is one.

>>> evaluator = LiveEvaluator(home)  # doctest: +SKIP
>>> evaluator.on_bars(key, store.read("BTC/USDT", "5m").tail(evaluator.window_bars(key)))
... # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd

from engine.candles import timeframe_delta
from engine.errors import SetupError
from engine.setups.compile import CompiledSetup, FrameCache, compile_setup, time_filters_allow
from engine.setups.schema import Setup
from engine.setups.store import SetupStore

if TYPE_CHECKING:
    from engine.live.feeds import FeedKey

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveSignal:
    """One live trade idea: the signal contract's fields (engine/signals.py) plus the feed's
    ``timeframe`` and ``source``; ``known_at`` is the bar's open time (UTC)."""

    known_at: pd.Timestamp
    symbol: str
    direction: int
    entry_type: str
    entry: float
    stop: float
    target: float
    r_planned: float
    expiry_bars: int
    time_exit_bars: int
    breakeven_r: float
    partial_r: float
    partial_fraction: float
    setup_id: str
    setup_version: int
    reasons: str
    timeframe: str
    source: str

    @property
    def signal_id(self) -> str:
        """Stable text id: setup, version, feed, bar and side; the journal's unique key.

        >>> LiveSignal.example().signal_id
        'demo@v1|binanceus:BTC/USDT|5m|2023-03-01T09:45Z|long'
        """
        side = "long" if self.direction > 0 else "short"
        return (f"{self.setup_id}@v{self.setup_version}|{self.source}:{self.symbol}|"
                f"{self.timeframe}|{self.known_at:%Y-%m-%dT%H:%MZ}|{side}")

    @classmethod
    def from_row(cls, row, *, timeframe: str, source: str) -> LiveSignal:
        """From a row of a signal frame (a Series, a dict or an ``itertuples`` tuple)."""
        def get(name: str):
            return row[name] if hasattr(row, "__getitem__") and not isinstance(row, tuple) \
                else getattr(row, name)

        known_at = pd.Timestamp(get("known_at"))
        known_at = known_at.tz_localize("UTC") if known_at.tz is None \
            else known_at.tz_convert("UTC")
        return cls(
            known_at=known_at, symbol=str(get("symbol")), direction=int(get("direction")),
            entry_type=str(get("entry_type")), entry=float(get("entry")),
            stop=float(get("stop")), target=float(get("target")),
            r_planned=float(get("r_planned")), expiry_bars=int(get("expiry_bars")),
            time_exit_bars=int(get("time_exit_bars")), breakeven_r=float(get("breakeven_r")),
            partial_r=float(get("partial_r")), partial_fraction=float(get("partial_fraction")),
            setup_id=str(get("setup_id")), setup_version=int(get("setup_version")),
            reasons=str(get("reasons")), timeframe=timeframe, source=source)

    @classmethod
    def example(cls) -> LiveSignal:
        """A fixed sample signal (docs, ``ita alerts test``, tests)."""
        return cls(pd.Timestamp("2023-03-01 09:45", tz="UTC"), "BTC/USDT", 1, "market",
                   23000.0, 22900.0, 23200.0, 2.0, 0, 0, float("nan"), float("nan"), 0.0,
                   "demo", 1, "[]", "5m", "binanceus")


def signals_frame(signals: Iterable[LiveSignal]) -> pd.DataFrame:
    """Live signals as a frame: the signal contract's columns, then timeframe, source and
    signal_id (for exports and pages)."""
    rows = [dataclasses.asdict(s) | {"signal_id": s.signal_id} for s in signals]
    columns = [f.name for f in dataclasses.fields(LiveSignal)] + ["signal_id"]
    return pd.DataFrame(rows, columns=columns)


class _Feed(NamedTuple):
    """What the evaluator needs of a feed key (engine.live.feeds.FeedKey has these fields)."""

    source: str
    symbol: str
    timeframe: str


class _Watch:
    """One compiled setup version on one feed: which bars it has evaluated."""

    def __init__(self, compiled: CompiledSetup, key) -> None:
        self.compiled = compiled
        self.key = key
        self.last: pd.Timestamp | None = None
        self.warned_short = False

    def new_count(self, window: pd.DataFrame, new_bars: int | None) -> int:
        """Bars at the tail of `window` this watch has not evaluated yet."""
        if self.last is None:
            count = new_bars or 1
        else:
            count = len(window) - int(window.index.searchsorted(self.last, side="right"))
            if new_bars is not None:
                count = min(count, new_bars)
        return max(0, min(count, len(window)))

    def step(self, frame: pd.DataFrame, new: int, cache: dict | None = None
             ) -> list[LiveSignal]:
        """Signals of the last `new` bars of `frame`, which holds enough bars before them."""
        self.advance(frame, new)
        return _signals_at(self.compiled, self.key, frame, new, cache)

    def advance(self, frame: pd.DataFrame, new: int) -> None:
        """Count the bars of `frame` as evaluated (the bookkeeping half of `step`)."""
        self.last = frame.index[-1]
        self._warn_short(frame, new)

    def _warn_short(self, frame: pd.DataFrame, new: int) -> None:
        need = self.compiled.lookback + new - 1
        if len(frame) < need and not self.warned_short:
            self.warned_short = True
            setup = self.compiled.setup
            log.warning("%s@v%d on %s %s: %d bars of history, %d needed; until they are "
                        "stored its signals may differ from a backtest's", setup.id,
                        self.compiled.version, self.key.symbol, self.key.timeframe,
                        len(frame), need)


def _signals_at(compiled: CompiledSetup, key, frame: pd.DataFrame, new: int,
                cache: dict | None) -> list[LiveSignal]:
    """The signals of `compiled` at the last `new` bars of `frame` (pure: no bookkeeping)."""
    if not time_filters_allow(compiled.setup, frame.iloc[-new:]).any():
        return []  # outside the setup's sessions, weekdays or hours: nothing can fire
    signals = compiled.new_signals(frame, symbol=key.symbol, cache=cache,
                                   since=len(frame) - new)
    if signals is None:
        return []
    return [LiveSignal.from_row(row, timeframe=key.timeframe, source=key.source)
            for row in signals.itertuples(index=False)]


def _evaluate_feeds(tasks: list[tuple]) -> list[list[LiveSignal]]:
    """`_evaluate_feed` for each of several feeds (one round trip to a worker)."""
    return [_evaluate_feed(*task) for task in tasks]


def _share(tasks: dict, workers: int) -> list[list]:
    """Feeds in `workers` groups of about equal work (bars x setups), largest first."""
    groups: list[list] = [[] for _ in range(workers)]
    loads = [0] * workers
    for key, task in sorted(tasks.items(), key=lambda kv: -len(kv[1][1]) * len(kv[1][2])):
        least = loads.index(min(loads))
        groups[least].append(key)
        loads[least] += len(task[1]) * len(task[2])
    return [group for group in groups if group]


#: In a worker process: compiled setups by (id, version), so each is compiled once there.
_WORKER_COMPILED: dict[tuple[str, int], CompiledSetup] = {}


def _evaluate_feed(key: _Feed, frame: pd.DataFrame,
                   jobs: list[tuple[Setup, int, int]]) -> list[LiveSignal]:
    """One feed's setups on one frame with one detection cache (run in a worker process):
    `jobs` are (setup, version, new bars)."""
    cache = FrameCache()
    out: list[LiveSignal] = []
    for setup, version, new in jobs:
        compiled = _WORKER_COMPILED.get((setup.id, version))
        if compiled is None:  # a stored version never changes
            compiled = _WORKER_COMPILED[setup.id, version] = compile_setup(setup,
                                                                           version=version)
        out += _signals_at(compiled, key, frame, new, cache)
    return out


def _warm_worker(setups: list[tuple[Setup, int]]) -> None:
    """A new worker process compiles the active setups and runs each once on a short frame,
    so loading numba's cached kernels is not paid at the first close it serves."""
    import numpy as np

    index = pd.date_range("2024-01-01", periods=500, freq="1min", tz="UTC", name="time")
    walk = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.1, len(index)))
    candles = pd.DataFrame({"open": walk, "high": walk + 0.2, "low": walk - 0.2,
                            "close": walk + 0.05, "volume": 1.0}, index=index)
    for setup, version in setups:
        compiled = _WORKER_COMPILED.setdefault((setup.id, version),
                                               compile_setup(setup, version=version))
        compiled.new_signals(candles, symbol="WARM/UP", explain=True)


def closed_bars(window: pd.DataFrame, timeframe: str, now: pd.Timestamp | None
                ) -> pd.DataFrame:
    """`window` without bars that have not closed by `now` (one log line when any)."""
    if now is None or window.empty:
        return window
    closes = window.index + timeframe_delta(timeframe)
    forming = closes > pd.Timestamp(now)
    if forming.any():
        log.warning("ignored %d bar(s) not closed by %s (first opens %s)", int(forming.sum()),
                    now, window.index[forming][0])
        return window[~forming]
    return window


def replay(setup: Setup, version: int, candles: pd.DataFrame, *, timeframe: str, source: str,
           symbol: str | None = None, start: int = 0, step: int = 1) -> list[LiveSignal]:
    """The live path over history from bar position `start` (earlier bars are history only):
    each bar is evaluated on the window the monitor would hold. ``step`` > 1 hands the bars
    over `step` at a time, as a catch-up after a gap does."""
    key = _Feed(source, symbol or setup.market.symbols[0], timeframe)
    watch = _Watch(compile_setup(setup, version=version), key)
    lookback = watch.compiled.lookback
    out: list[LiveSignal] = []
    for end in range(start, len(candles), step):
        stop = min(end + step, len(candles))
        window = candles.iloc[max(0, stop - lookback - (stop - end) + 1):stop]
        out += watch.step(window, watch.new_count(window, stop - end))
    return out


@dataclasses.dataclass(frozen=True)
class _Active:
    setup_id: str
    version: int
    compiled: CompiledSetup

    @property
    def setup(self) -> Setup:
        return self.compiled.setup


class LiveEvaluator:
    """The active setups of an ITA home, evaluated on closed bars as they arrive."""

    def __init__(self, home: Path | str, *, setup_ids: Iterable[str] | None = None,
                 workers: int = 1) -> None:
        self.store = SetupStore(Path(home) / "setups")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self.only = set(setup_ids) if setup_ids is not None else None
        self._stamp: tuple | None = None
        self._active: dict[str, _Active] = {}
        self._compiled: dict[tuple[str, int], CompiledSetup] = {}
        self._watches: dict[tuple[str, int, tuple], _Watch] = {}

    # --- setups ---------------------------------------------------------------------------
    def _folder_stamp(self) -> tuple:
        root = self.store.root
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name)
        except FileNotFoundError:
            return ()
        stamp = []
        for entry in entries:
            if not entry.is_dir() or (self.only is not None and entry.name not in self.only):
                continue
            try:
                active = os.stat(Path(entry.path) / "active")
                pointer = (active.st_ino, active.st_mtime_ns, active.st_size)
            except FileNotFoundError:
                pointer = None
            stamp.append((entry.name, entry.stat().st_mtime_ns, pointer))
        return tuple(stamp)

    def refresh(self) -> bool:
        """Reload the active versions when a setup folder changed; True when it did."""
        stamp = self._folder_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        active = {}
        for setup_id in self.store.ids():
            if self.only is not None and setup_id not in self.only:
                continue
            loaded = self._load(setup_id)
            if loaded is not None:
                active[setup_id] = loaded
        changed = {k: v.version for k, v in active.items()} != {
            k: v.version for k, v in self._active.items()}
        if changed:
            log.info("active setups: %s", ", ".join(
                f"{a.setup_id}@v{a.version}" for a in active.values()) or "none")
        self._active = active
        # a version that stopped being active forgets its bars: re-activated later, it starts
        # at the bar of its activation instead of replaying the bars it missed
        current = {(a.setup_id, a.version) for a in active.values()}
        self._watches = {k: w for k, w in self._watches.items() if k[:2] in current}
        return True

    def _load(self, setup_id: str) -> _Active | None:
        version = self.store.active(setup_id)
        if version is None:
            return None
        if (setup_id, version) not in self._compiled:
            try:
                loaded = self.store.load(setup_id, version)
            except SetupError as error:
                log.error("setup %s v%d not loaded, keeping the last good one: %s", setup_id,
                          version, error)
                return self._active.get(setup_id)
            self._compiled[setup_id, version] = compile_setup(loaded.setup, version=version)
        return _Active(setup_id, version, self._compiled[setup_id, version])

    def active(self) -> dict[str, int]:
        """Setup id -> the version being evaluated."""
        self.refresh()
        return {k: v.version for k, v in self._active.items()}

    def setups_for(self, key: FeedKey) -> list[_Active]:
        """The active setups listing the feed's symbol at its timeframe, by setup id."""
        self.refresh()
        return self._watching(key)

    def _watching(self, key: FeedKey) -> list[_Active]:
        return [a for _, a in sorted(self._active.items())
                if a.setup.market.timeframe == key.timeframe
                and key.symbol in a.setup.market.symbols]

    @staticmethod
    def warmup_bars(setup: Setup) -> int:
        """Bars a window must hold, ending at a bar, for the setup to decide that bar."""
        return compile_setup(setup).lookback

    def window_bars(self, key: FeedKey) -> int:
        """Bars of history the caller should hand `on_bars` before the new ones (0: no
        setup watches this feed)."""
        return max((a.compiled.lookback for a in self.setups_for(key)), default=0)

    # --- bars -----------------------------------------------------------------------------
    def on_bars(self, key: FeedKey, window: pd.DataFrame, *, new_bars: int | None = None,
                now: pd.Timestamp | None = None) -> list[LiveSignal]:
        """Signals whose ``known_at`` is a bar of `window`'s tail not evaluated before, in time
        order (then by setup id). `window` holds closed bars of the feed, oldest first; it
        should reach `window_bars(key)` bars before the new ones. ``new_bars`` names how many
        tail bars are new when this (setup, feed) was not seen before (default 1)."""
        self.refresh()
        return self._on_bars(key, window, new_bars=new_bars, now=now)

    def _on_bars(self, key: FeedKey, window: pd.DataFrame, *, new_bars: int | None,
                 now: pd.Timestamp | None) -> list[LiveSignal]:
        planned = self._plan(key, closed_bars(window, key.timeframe, now), new_bars)
        if planned is None:
            return []
        frame, due = planned
        cache = FrameCache()  # one frame for every setup: shared detections
        out: list[LiveSignal] = []
        for _, watch, new in due:
            out += watch.step(frame, new, cache)
        return sorted(out, key=lambda s: (s.known_at, s.setup_id))

    def _plan(self, key: FeedKey, window: pd.DataFrame, new_bars: int | None
              ) -> tuple[pd.DataFrame, list[tuple[_Active, _Watch, int]]] | None:
        """The frame the feed's setups share and, per setup with new bars, its watch and how
        many bars are new; None when no setup watches the feed."""
        setups = self._watching(key)
        if window.empty or not setups:
            return None
        feed = (key.source, key.symbol, key.timeframe)
        watches = [self._watches.setdefault((a.setup_id, a.version, feed),
                                            _Watch(a.compiled, key)) for a in setups]
        counts = [w.new_count(window, new_bars) for w in watches]
        longest = max(a.compiled.lookback for a in setups) + max(counts) - 1
        due = [(a, w, new) for a, w, new in zip(setups, watches, counts, strict=True) if new]
        return window.iloc[-longest:], due

    def on_closes(self, windows: Mapping[FeedKey, pd.DataFrame], *,
                  now: pd.Timestamp | None = None) -> dict[FeedKey, list[LiveSignal]]:
        """`on_bars` for every feed of a close at once (each feed's window holds one new bar,
        or its ``new_bars`` as in `on_bars` when first seen): the same signals per feed. With
        ``workers`` > 1 the feeds are evaluated in that many processes (each feed's setups
        together, sharing detections; spawned, so the program's main module must be safe to
        import, as `ita`'s is); the bookkeeping stays here. `close` stops them."""
        self.refresh()  # once for the whole close
        if self.workers <= 1 or len(windows) < 2:
            return {key: self._on_bars(key, window, new_bars=None, now=now)
                    for key, window in windows.items()}
        pool = self._pool or ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm_worker,
            initargs=([(a.setup, a.version) for a in self._active.values()],))
        self._pool = pool
        tasks = {}
        for key, window in windows.items():
            task = self._task(key, closed_bars(window, key.timeframe, now))
            if task is not None:
                tasks[key] = task
        groups = _share(tasks, self.workers)
        futures = [pool.submit(_evaluate_feeds, [tasks[key] for key in group])
                   for group in groups]
        out = {key: [] for key in windows}
        for group, future in zip(groups, futures, strict=True):
            for key, signals in zip(group, future.result(), strict=True):
                out[key] = sorted(signals, key=lambda s: (s.known_at, s.setup_id))
        return out

    def _task(self, key: FeedKey, window: pd.DataFrame) -> tuple | None:
        """What a worker needs to evaluate one feed (None: nothing new), bookkeeping done."""
        planned = self._plan(key, window, None)
        if planned is None or not planned[1]:
            return None
        frame, due = planned
        for _, watch, new in due:
            watch.advance(frame, new)
        jobs = [(active.setup, active.version, new) for active, _, new in due]
        return _Feed(key.source, key.symbol, key.timeframe), frame, jobs

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def replay(self, setup: Setup, version: int, candles: pd.DataFrame, *, timeframe: str,
               source: str, symbol: str | None = None, start: int = 0) -> list[LiveSignal]:
        """`replay` (module function): the live path over history, bar by bar."""
        return replay(setup, version, candles, timeframe=timeframe, source=source,
                      symbol=symbol, start=start)
