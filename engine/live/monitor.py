"""The live monitor: on every candle close, the active setups' alerts, ranked, journaled, sent.

One `LiveMonitor` per ITA home (an OS lock on ``exchange/live.lock``, like the daemon's). Each
loop iteration:

1. follows the setups: the active version of every setup (cheap: the ``active`` pointers are
   read each time, a version is parsed only when it changes); its symbols × its timeframe are
   the watched series: a symbol written with a slash (``BTC/USDT``) on the ccxt exchange
   ``live_exchange``, one without (``EURUSD``) on MT5: the folder ``mt5_folder`` when set,
   else the terminal where the ``MetaTrader5`` package imports, else reported "not watched"
   on its health (`engine.live.wiring` decides);
2. polls the feeds whose close is due, ``live_delay_seconds`` after it (one `CcxtFeed` per
   timeframe sharing one ccxt client, so a 1m close fetches only the 1m series, all at once;
   store writes behind the hot path, so the monitor keeps each series' rolling window in
   memory, `LiveEvaluator.window_bars` long, seeded from the candle store; the MT5 folder feed
   wakes the loop when a file changes);
3. hands each series' new bars to the evaluator with the history before them (after a gap:
   every missed bar, each on its full lookback, as in a backtest), keeps only signals on bars
   it has not evaluated before, drops those of paused setups, ranks them (`engine.live.rank`,
   the setup version's backtest statistics cached until its run ids change; with the champion
   model's probability, reasons and similar cases when the version has one:
   `engine.learn.live`, whose failure only leaves the probability out), marks *late* the
   ones whose bar closed ``late_after_bars`` bars ago or more, records them in the signal
   journal with their Telegram delivery in the same transaction (not for late alerts when
   ``late_policy`` is ``record``), draws each PNG to ``exchange/alerts/<short_key>.png`` on a
   painter thread, best first, and sends what is pending, oldest close first
   (`engine.notify.delivery.deliver_pending`): the alerts of one close go to a chat as one
   album, best first, as soon as their pictures are drawn, their decision buttons in a message
   after it. Telegram allows about 1 message per second per chat and counts an album of N as
   N messages, so single photos would reach the chat a second apart; the album brings them
   all at once and only the buttons wait. With ``llm_comment`` on, each sent alert is then
   commented on a thread of its own and the comment edited into its caption
   (`engine.live.comment`): the alert never waits for it;
4. tells Telegram once when a feed falls silent (no bar for more than two of its bars) and
   once when it is back, never once per bar;
5. after a close was evaluated and its alerts sent, records the outcomes that close decided
   (`engine.live.outcomes`: each unknown journal signal traded alone as the backtester would);
6. writes the heartbeat ``exchange/live.json`` (atomically, after every iteration and at least
   every `HEARTBEAT_SECONDS`; its fields and the "running or not" rule are in
   `engine.live.state`, the one place the writer and the readers share).

Paper accounts (`ita paper follow`) advance on every evaluated close before its alerts are
recorded, and each alert's caption says what each account did with it (`engine.paper.live`);
a paper failure is logged and never stops an alert.

Telegram commands (/status, /setups, /stats, /positions, /close N) are answered on a thread of
their own (`engine.live.commands`).

Restart rule: the journal's unique signal id makes a signal evaluated twice (a restart, a
store write lost with a crash) a no-op; what a crash left pending is sent on the next loop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal as signals_module
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import pandas as pd

from engine._io import write_bytes_atomic, write_json_atomic
from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.presentation import price_decimals
from engine.candles import timeframe_delta
from engine.errors import ConfigurationError, ItaError
from engine.learn.live import ChampionScorer
from engine.live import state as live_state
from engine.live.alert import caption, render_png
from engine.live.commands import start_updates
from engine.live.comment import CommentFacts
from engine.live.evaluate import LiveEvaluator
from engine.live.feeds import FeedHealth, FeedKey
from engine.live.journal import SignalJournal, journal_path, short_key
from engine.live.outcomes import OutcomeResolver
from engine.live.rank import Rank, SetupStats, order_alerts, rank
from engine.live.wiring import Commenting, build_feeds, event_driven, feed_key, telegram_from
from engine.paper.live import LivePaper
from engine.setups.store import SetupStore

log = logging.getLogger("ita.live.monitor")

LOCK_FILE = Path("exchange") / "live.lock"
HEARTBEAT_SECONDS = live_state.DEFAULT_INTERVAL_S
SILENT_FEEDS = "silent_feeds"  # journal kv: JSON list of the feeds Telegram was told are silent
WINDOW_MARGIN = 20  # bars kept beyond the largest warm-up
PAINTERS = 1  # drawing alert pictures off the loop; matplotlib holds the GIL while it draws,
# so a second thread would only interleave them


def alert_png_path(home: str | Path, signal_id: str) -> Path:
    """Where the monitor saves the chart of the alert `signal_id` (the Live page shows it)."""
    return live_state.alert_picture(home, short_key(signal_id))


def _utc_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


@dataclasses.dataclass(frozen=True)
class ActiveSetup:
    """One active setup version and the series it watches."""

    setup_id: str
    version: int
    setup: Any  # engine.setups.schema.Setup
    keys: tuple[FeedKey, ...]


@dataclasses.dataclass
class _Prepared:
    """An alert between ranking and sending: its picture and caption, drawn once, and what
    its comment may be written from."""

    png: bytes | None
    caption: str
    signal: Any
    rank: Rank


class LiveMonitor:
    """The live loop for the ITA home of `settings` (see the module docstring).

    `clock` (a callable returning a UTC Timestamp), `exchange` (a ccxt instance), `telegram`
    (a channel, e.g. a `TelegramChannel` pointed at a fake), `evaluator` (a `LiveEvaluator`)
    `scorer` (a `ChampionScorer`) and `sleep` are for tests and the benchmark; by default the
    system clock, a ccxt exchange made from ``live_exchange``, a `TelegramChannel` when
    ``ITA_TELEGRAM_TOKEN`` and a chat id are set (else no Telegram), `LiveEvaluator(home)` and
    a `ChampionScorer` reading older bars from the candle store. The LLM comment follows the
    settings (``llm_comment``, ``llm_base_url``, ``llm_model``; only with Telegram).

    >>> LiveMonitor(get_settings()).run()  # doctest: +SKIP
    """

    def __init__(self, settings, *, clock: Callable[[], pd.Timestamp] | None = None,
                 exchange=None, telegram=None, evaluator=None,
                 sleep: Callable[[float], None] | None = None, updates: bool = True,
                 interval_seconds: float = HEARTBEAT_SECONDS, scorer=None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.clock = clock or _utc_now
        self.exchange = exchange
        self.interval = interval_seconds
        self.journal = SignalJournal(journal_path(self.home))
        self.store = CandleStore(settings.candles_dir)
        self.setups_store = SetupStore(settings.setups_dir)
        self.runs = RunStore(settings.runs_dir)
        self.outcomes = OutcomeResolver(self.journal, self.store, self.setups_store)
        self.evaluator = evaluator if evaluator is not None else LiveEvaluator(self.home)
        self.scorer = scorer if scorer is not None else ChampionScorer(settings, store=self.store)
        self.channel = telegram if telegram is not None else telegram_from(settings)
        self._facts: dict[str, CommentFacts] = {}  # alerts being sent, for their comment
        self.commenting = Commenting(self.channel, settings, self.journal,
                                     lambda signal_id: self._facts.pop(signal_id, None))
        self.tz = settings.display_tz
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._want_updates = updates and self.channel is not None
        self._updates_thread: threading.Thread | None = None
        self.started_at = self.clock()
        self.active: list[ActiveSetup] = []
        self._signature: tuple = ()
        self.feeds: list = []
        self.windows: dict[FeedKey, pd.DataFrame] = {}
        self._evaluated: dict[FeedKey, pd.Timestamp] = {}
        self._stats: dict[tuple[str, int], tuple[tuple[str, ...], SetupStats]] = {}
        # alerts' pictures are drawn off the loop, best first, while the best is being sent
        self._painter = ThreadPoolExecutor(max_workers=PAINTERS, thread_name_prefix="alert-png")
        self._prepared: dict[str, Future[_Prepared]] = {}
        self._telegram_state = "off" if self.channel is None else "ok"
        self._lock: filelock.BaseFileLock | None = None
        self._last_beat = 0.0
        self.iterations = 0
        self.paper = LivePaper(
            settings, journal_file=journal_path(self.home), setup_of=self._setup,
            active=lambda: [(a.setup_id, a.version, a.keys) for a in self.active],
            send=lambda text: self.channel is not None and self._text(text),
            read_store=lambda key, start, end: self.store.read(
                key.symbol, key.timeframe, source=key.source, start=start, end=end))
        self._paper_lines: dict[str, list[str]] = {}  # new alerts' "📒 Paper" caption lines

    # --- lifecycle ---------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        """One monitor per home: hold ``exchange/live.lock`` until `close`."""
        path = self.home / LOCK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(path, timeout=0, thread_local=False, fallback_to_soft=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ConfigurationError(f"a live monitor already runs for this ITA home "
                                     f"({path} is locked)") from None
        except OSError as error:
            raise ConfigurationError(f"cannot lock {path}: {error.strerror or error}; keep "
                                     "ITA's home folder on a local disk") from None
        self._lock = lock

    def stop(self) -> None:
        """Ask `run` to finish after the current iteration."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._updates_thread is not None:
            self._updates_thread.join(timeout=5)
        for feed in self.feeds:
            _close_feed(feed)
        self.feeds = []
        self._painter.shutdown(wait=True)  # every alert picture on disk
        self.commenting.close()  # the comments under way edited in (each bounded in time)
        self.paper.close()
        if self.channel is not None and hasattr(self.channel, "close"):
            self.channel.close()
        self.journal.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def run(self, *, max_iterations: int | None = None) -> None:
        """Loop until `stop`, SIGTERM or SIGINT (or `max_iterations`), then close."""
        self.acquire_lock()
        restore = self._handle_signals()
        try:
            if self._want_updates:
                self._updates_thread = start_updates(self, self._stop)
            while not self._stop.is_set():
                self.run_once()
                if max_iterations is not None and self.iterations >= max_iterations:
                    break
                self.wait_for_next()
        finally:
            for signum, handler in restore.items():
                signals_module.signal(signum, handler)
            self.close()

    def _handle_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signals_module.SIGTERM, signals_module.SIGINT):
            previous[signum] = signals_module.getsignal(signum)
            signals_module.signal(signum, lambda *_: self.stop())
        return previous

    def wait_for_next(self) -> None:
        """Sleep until the next close is due (at most `interval_seconds`; an MT5 file
        change wakes it)."""
        now = self.clock()
        due = min([feed.next_due(now) for feed in self.feeds] or [now + pd.Timedelta(
            seconds=self.interval)])
        # at least a moment: a clock standing still (tests) never spins the loop
        seconds = max(0.05, min((due - now).total_seconds(), self.interval))
        waking = [feed for feed in self.feeds if event_driven(feed)]
        if waking:
            waking[0].wait(seconds)
        else:
            self._sleep(seconds)

    # --- one iteration -----------------------------------------------------------------------
    def run_once(self, now: pd.Timestamp | None = None) -> int:
        """One loop: follow the setups, poll due feeds, evaluate, record, send, heartbeat.
        Returns how many new alerts were recorded."""
        now = pd.Timestamp(now) if now is not None else self.clock()
        self.iterations += 1
        self.refresh_setups(now)
        new_bars = self.poll(now)
        recorded = self._evaluate(new_bars, now)
        self.deliver()
        if new_bars:  # a close was processed: the outcomes it decided (after the alerts)
            self.outcomes.resolve(now=now, recent=self.windows, only=new_bars)
        self._tell_silence(now)
        self.write_state(now)
        return recorded

    def poll(self, now: pd.Timestamp) -> dict[FeedKey, pd.DataFrame]:
        """The new closed bars of every feed that is due; several due feeds (a 5m close is a
        1m close too) are fetched at the same time."""
        due = [feed for feed in self.feeds if event_driven(feed) or feed.next_due(now) <= now]
        if len(due) > 1:
            with ThreadPoolExecutor(len(due), thread_name_prefix="feed-poll") as pool:
                answers = list(pool.map(lambda feed: feed.poll(now), due))
        else:
            answers = [feed.poll(now) for feed in due]
        return {key: bars for answer in answers for key, bars in answer.items()}

    def refresh_setups(self, now: pd.Timestamp) -> None:
        """Re-read the active versions; rebuild the feeds when the watched series change."""
        signature = tuple((setup_id, self.setups_store.active(setup_id))
                          for setup_id in self.setups_store.ids())
        if signature == self._signature:
            return
        active = []
        for setup_id, version in signature:
            if version is None:
                continue
            try:
                loaded = self.setups_store.load(setup_id, version)
            except ItaError as error:  # an unreadable version: the others keep running
                log.error("setup %s v%s is not watched: %s", setup_id, version, error)
                continue
            market = loaded.setup.market
            keys = tuple(feed_key(symbol, market.timeframe, exchange=self.settings.live_exchange)
                         for symbol in market.symbols)
            active.append(ActiveSetup(setup_id, version, loaded.setup, keys))
        self._signature, old_keys = signature, self._keys()
        self.active = active
        for watched in active:  # champions loaded before their first signal, not at it
            self.scorer.warm(watched.setup_id, watched.version, setup=watched.setup,
                             keys=watched.keys, now=now)
        if self._keys() != old_keys:
            self._build_feeds(now)

    def _keys(self) -> list[FeedKey]:
        return list(dict.fromkeys(key for setup in self.active for key in setup.keys))

    def _window_bars(self, key: FeedKey) -> int:
        """Bars kept in memory for `key`: the evaluator's history plus a margin."""
        return int(self.evaluator.window_bars(key)) + WINDOW_MARGIN

    def _build_feeds(self, now: pd.Timestamp) -> None:
        for feed in self.feeds:
            _close_feed(feed)
        keys = self._keys()
        sizes = {key: self._window_bars(key) for key in keys}
        for key in keys:
            if key not in self.windows:
                self._seed(key, sizes[key], now)
        self.windows = {key: self.windows[key] for key in keys}
        self.feeds = build_feeds(self.settings, keys, self.store, exchange=self._exchange,
                                 clock=self.clock, warmup=sizes)

    def _exchange(self):
        """The one ccxt client of every feed (one rate limiter for the exchange)."""
        if self.exchange is None:
            from engine.adapters.ccxt_source import make_exchange

            self.exchange = make_exchange(self.settings.live_exchange)
        return self.exchange

    def _seed(self, key: FeedKey, size: int, now: pd.Timestamp) -> None:
        """The rolling window from the store; bars up to its end count as evaluated (with no
        history: up to the last bar closed before the start)."""
        step = timeframe_delta(key.timeframe)
        window = pd.DataFrame()
        if self.store.path(key.source, key.symbol, key.timeframe).exists():
            window = self.store.read(key.symbol, key.timeframe, source=key.source,
                                     start=now - step * (size + 10)).iloc[-size:]
        self.windows[key] = window
        self._evaluated[key] = (window.index[-1] if len(window)
                                else now.floor(step) - 2 * step)

    def _extend(self, key: FeedKey, bars: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """The window with `bars` appended and how many of its tail bars were not evaluated
        yet; a catch-up keeps the full history before each of its bars."""
        window = self.windows.get(key)
        if window is None or window.empty:
            joined = bars
        else:
            joined = pd.concat([window, bars[bars.index > window.index[-1]]])
        floor = self._evaluated.get(key)
        new = len(joined) if floor is None else len(joined) - int(
            joined.index.searchsorted(floor, side="right"))
        size = self._window_bars(key)
        self.windows[key] = joined.iloc[-size:]
        return joined.iloc[-(size + new):], new

    # --- signals -----------------------------------------------------------------------------
    def _evaluate(self, new_bars: dict[FeedKey, pd.DataFrame], now: pd.Timestamp) -> int:
        paused = self.paused_setups()
        ranked: list[tuple[Any, Rank]] = []
        frames: dict[FeedKey, pd.DataFrame] = {}
        for key, bars in new_bars.items():
            window, new = self._extend(key, bars)
            frames[key] = window
            self.scorer.observe(key, window)
            floor = self._evaluated.get(key)
            if not new:
                continue
            for signal in self.evaluator.on_bars(key, window, new_bars=new):
                known = pd.Timestamp(signal.known_at)
                if (floor is not None and known <= floor) or signal.setup_id in paused:
                    continue
                ranked.append((signal, self._rank(signal, window)))
            self._evaluated[key] = window.index[-1]
        self._follow_paper(frames, ranked, now)
        recorded = 0
        for signal, signal_rank in order_alerts(ranked):
            recorded += self._record(signal, signal_rank, now, frames)
        return recorded

    def _follow_paper(self, frames: dict[FeedKey, pd.DataFrame], ranked: list,
                      now: pd.Timestamp) -> None:
        """The paper accounts advance on this close (`engine.paper.live`), before its new
        alerts are recorded; each new alert gets its accounts' caption lines. A paper failure
        is logged there and never stops an alert."""
        if frames:
            self.paper.on_close(frames, now)
        for signal, _ in ranked:
            self._paper_lines[signal.signal_id] = self.paper.caption_lines(signal)

    def _setup(self, setup_id: str, version: int):
        for active in self.active:
            if active.setup_id == setup_id and active.version == version:
                return active.setup
        return self.setups_store.load(setup_id, version).setup

    def stats(self, setup_id: str, version: int) -> SetupStats:
        """The version's backtest statistics, rebuilt when its run ids change."""
        suffix = f"-{setup_id}-v{version}"
        run_ids = tuple(run_id for run_id in self.runs.ids() if run_id.endswith(suffix))
        cached = self._stats.get((setup_id, version))
        if cached is None or cached[0] != run_ids:
            cached = (run_ids, SetupStats.from_runs(self.home, setup_id, version, tz=self.tz))
            self._stats[(setup_id, version)] = cached
        return cached[1]

    def _rank(self, signal, candles: pd.DataFrame | None = None) -> Rank:
        """The signal's rank by its backtest history, with the champion model's probability
        when its setup version has one (`candles`: the bars it was found on)."""
        setup = self._setup(signal.setup_id, int(signal.setup_version))
        ranked = rank(signal, self.stats(signal.setup_id, int(signal.setup_version)),
                      account_size=self.settings.account_size, risk_pct=self.settings.risk_pct,
                      costs=setup.costs)
        scored = self.scorer.score(signal, candles, setup=setup)
        return scored.apply(ranked) if scored is not None else ranked

    def is_late(self, signal, now: pd.Timestamp) -> bool:
        """Its bar closed `late_after_bars` bars ago or more."""
        step = timeframe_delta(signal.timeframe)
        closed = pd.Timestamp(signal.known_at) + step
        return now - closed >= step * self.settings.late_after_bars

    def _record(self, signal, signal_rank: Rank, now: pd.Timestamp,
                frames: dict[FeedKey, pd.DataFrame]) -> int:
        """Journal the alert (queued for Telegram unless it is late and only recorded) and
        start drawing its picture; True when it is new."""
        late = self.is_late(signal, now)
        channels = []
        if self.channel is not None and not (late and self.settings.late_policy == "record"):
            channels.append(self.channel.name)
        if not self.journal.record(signal, score=signal_rank.score, late=late,
                                   channels=channels, probability=signal_rank.probability):
            return 0
        candles = frames.get(FeedKey(signal.source, signal.symbol, signal.timeframe))
        drawing = self._painter.submit(self._draw, signal, signal_rank,
                                       pd.DataFrame() if candles is None else candles, late)
        if channels:  # the sender picks it up; otherwise it only leaves the PNG for the page
            self._prepared[signal.signal_id] = drawing
        return 1

    def _draw(self, signal, signal_rank: Rank, candles: pd.DataFrame, late: bool) -> _Prepared:
        png = None
        if len(candles):
            try:
                png = render_png(candles, signal, tz=self.tz)
                write_bytes_atomic(alert_png_path(self.home, signal.signal_id), png)
            except (OSError, ValueError) as error:
                log.error("alert %s: the chart could not be drawn: %s", signal.signal_id, error)
                png = None
        decimals = max(2, price_decimals(candles["close"].to_numpy()[-200:])) if len(
            candles) else None
        text = caption(signal, signal_rank, tz=self.tz, late=late, decimals=decimals,
                       paper=self._paper_lines.pop(signal.signal_id, ()))
        return _Prepared(png, text, signal, signal_rank)

    def render(self, item) -> tuple[bytes | None, str]:
        """Picture and caption of a queued alert (drawn again after a restart)."""
        drawing = self._prepared.pop(item.signal_id, None)
        if drawing is not None:
            prepared = drawing.result()
        else:
            signal = item.signal
            key = FeedKey(signal.source, signal.symbol, signal.timeframe)
            candles = self.windows.get(key)
            if candles is None or candles.empty or candles.index[-1] < signal.known_at:
                candles = self.store.read(signal.symbol, signal.timeframe, source=signal.source,
                                          end=signal.known_at + timeframe_delta(
                                              signal.timeframe))
            prepared = self._draw(signal, self._rank(signal, candles), candles, signal.late)
        if self.commenting.on:  # what its comment may say, once it is sent
            self._facts[item.signal_id] = self._comment_facts(prepared)
        return prepared.png, prepared.caption

    def _comment_facts(self, prepared: _Prepared) -> CommentFacts:
        signal = prepared.signal
        try:
            setup = self._setup(signal.setup_id, int(signal.setup_version))
        except ItaError:  # the version's file is gone: the comment goes without its idea
            setup = None
        return CommentFacts(signal, prepared.rank, setup=setup)

    def deliver(self) -> None:
        """Send what the journal holds for Telegram (oldest bar first, best first in a bar)."""
        if self.channel is None:
            return
        from engine.notify.delivery import deliver_pending

        try:
            report = deliver_pending(self.journal, self.commenting.sender, self.render)
        except ConfigurationError as error:
            self._telegram_state = f"error: {error}"
            log.error("Telegram: %s", error)
            return
        self._telegram_state = f"error: {report.error}" if report.error else "ok"

    # --- health ------------------------------------------------------------------------------
    def health(self, now: pd.Timestamp | None = None) -> list[FeedHealth]:
        now = now if now is not None else self.clock()
        return [h for feed in self.feeds for h in feed.health(now).values()]

    def _tell_silence(self, now: pd.Timestamp) -> None:
        """One Telegram text when a feed falls silent, one when it is back."""
        if self.channel is None:
            return
        told = set(json.loads(self.journal.value(SILENT_FEEDS, "[]") or "[]"))
        for h in self.health(now):
            name = str(h.key)
            if h.silent and name not in told:
                last = (f"last bar {h.last_bar:%Y-%m-%d %H:%M} UTC" if h.last_bar is not None
                        else "no bar yet")
                error = f" Error: {h.error}" if h.error else ""
                text = (f"⚠️ Feed {name} is silent: no new bar for more than two "
                        f"{h.key.timeframe} bars ({last}).{error}")
                if self._text(text):
                    told.add(name)
            elif not h.silent and name in told and h.last_bar is not None:
                if self._text(f"✅ Feed {name} is back: last bar {h.last_bar:%Y-%m-%d %H:%M} "
                              "UTC."):
                    told.discard(name)
        self.journal.set_value(SILENT_FEEDS, json.dumps(sorted(told)))

    def _text(self, text: str) -> bool:
        try:
            for chat in self.channel.chat_ids:
                self.channel.send_text(chat, text)
        except ItaError as error:
            log.warning("Telegram: could not send %r: %s", text[:60], error)
            return False
        return True

    def paused_setups(self) -> set[str]:
        """The setups switched off on the Live page (an unreadable list pauses none)."""
        try:
            return live_state.paused_setups(self.journal)
        except ItaError as error:
            log.error("%s", error)
            return set()

    def state(self, now: pd.Timestamp | None = None) -> dict:
        """The heartbeat document (fields: `engine.live.state`)."""
        now = now if now is not None else self.clock()
        paused = self.paused_setups()
        newest = self.journal.recent(1)
        feeds = [live_state.FeedState(
            source=h.key.source, symbol=h.key.symbol, timeframe=h.key.timeframe,
            last_bar=h.last_bar, lag_seconds=None if h.lag is None else round(
                h.lag.total_seconds(), 1), behind_bars=h.behind_bars, silent=h.silent,
            error=h.error) for h in self.health(now)]
        setups = [live_state.SetupState(
            setup_id=s.setup_id, version=s.version, symbols=tuple(s.setup.market.symbols),
            timeframe=s.setup.market.timeframe, paused=s.setup_id in paused)
            for s in self.active]
        return live_state.state_json(
            pid=os.getpid(), started_at=self.started_at, updated_at=datetime.now(UTC),
            clock=now, mode="live", interval_seconds=self.interval, paused=self.journal.paused,
            telegram=self._telegram_state, feeds=feeds, setups=setups,
            alerts_today=len(self.journal.today(tz=self.tz)),
            last_alert_at=newest[0].created_at if newest else None)

    def write_state(self, now: pd.Timestamp | None = None) -> None:
        write_json_atomic(live_state.state_path(self.home), self.state(now))
        self._last_beat = time.monotonic()


def _close_feed(feed) -> None:
    if hasattr(feed, "stop"):
        feed.stop()
    feed.close()
