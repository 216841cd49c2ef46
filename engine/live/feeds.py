"""Live candle feeds: the closed bars of each watched series, moments after they close.

A feed watches a list of `FeedKey` (source, symbol, timeframe) and answers one question,
``poll(now)``: which bars have *closed* since the last poll? The answer, per key, is a frame
exactly like `CandleStore.read` returns (UTC open times, float64 OHLCV), in time order, each bar
also upserted into the candle store (``source`` = the feed's source), so live history and
backtests share one copy of the data.

- **Closed bars only.** A bar is closed when ``now >= open + timeframe``; the forming bar is
  never passed on (an MT5 file's last row is the forming one unless it is closed by time).
- **Once, in order.** Each bar is returned once, oldest first. A gap (feed down, laptop
  asleep) is caught up on the next poll with every missed closed bar (at most
  ``max_catchup_bars``; older history is `ita data fetch`'s job).
- **Bad bars** are rejected with one log line each (logger ``ita.live.feeds``) and never
  passed on: NaN, a price that is not positive, negative volume, inconsistent OHLC (high below
  open/close/low, low above open/close), a duplicate, a bar out of order, a bar from the future.
- **One fetch per series** per poll, however many setups use it.
- **Failures** (network errors, rate limits, an unavailable exchange) are retried with backoff,
  a bounded number of times; a series that keeps failing shows its error in `FeedHealth` and
  the poll returns the other series: a failing feed never raises into the monitor.
- **Health**: `FeedHealth` per key: last closed bar, lag, ``silent`` after more than two bar
  lengths without a new bar, last error.

`next_due(now)` tells the monitor when to poll next: the earliest next bar close plus
``delay`` (default 1.5 s, longer than the clock difference between this PC and the exchange
should ever be: keep the PC's clock synchronised), or a short retry interval while a bar is
overdue.

>>> key = FeedKey("binanceus", "BTC/USDT", "1m")
>>> feed = CcxtFeed("binanceus", [key], store)  # doctest: +SKIP
>>> feed.poll(pd.Timestamp.now(tz="UTC"))  # doctest: +SKIP
{FeedKey(source='binanceus', symbol='BTC/USDT', timeframe='1m'): <new closed bars>}
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from engine.adapters.store import CandleStore
from engine.candles import COLUMNS, TIMEFRAMES, timeframe_delta
from engine.errors import DataError, ItaError
from engine.ids import checked_id

log = logging.getLogger("ita.live.feeds")

Clock = Callable[[], pd.Timestamp]


@dataclasses.dataclass(frozen=True)
class FeedKey:
    """One watched series: ``source`` is a ccxt exchange id (``"binanceus"``) or ``"mt5"``."""

    source: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.source}:{self.symbol} {self.timeframe}"


@dataclasses.dataclass(frozen=True)
class FeedHealth:
    """How one series is doing at ``checked_at``.

    ``last_bar`` is the open time of the newest closed bar received (None before the first),
    ``lag`` the time since that bar closed (a healthy 1m feed right after a poll: ~1.5 s),
    ``behind_bars`` how many closed bars the exchange should already have that the feed has
    not received, ``silent`` True when no new bar has closed for more than two bar lengths,
    ``error`` the last failure (None once a poll succeeds again), ``rejected`` bad bars so far."""

    key: FeedKey
    checked_at: pd.Timestamp
    last_bar: pd.Timestamp | None
    lag: pd.Timedelta | None
    behind_bars: int
    silent: bool
    error: str | None
    rejected: int


@dataclasses.dataclass
class _State:
    step: pd.Timedelta
    last_bar: pd.Timestamp | None = None
    started: pd.Timestamp | None = None
    last_poll: pd.Timestamp | None = None
    error: str | None = None
    rejected: int = 0
    logged: set = dataclasses.field(default_factory=set)


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _system_clock() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def checked_keys(keys: Iterable[FeedKey], *, source: str | None = None) -> list[FeedKey]:
    """Keys without repeats (order kept); a timeframe ITA does not know or a key of another
    source is a `DataError`."""
    unique = list(dict.fromkeys(keys))
    for key in unique:
        if key.timeframe not in TIMEFRAMES:
            raise DataError(f"feed {key}: timeframe {key.timeframe!r} is not one of "
                            f"{', '.join(TIMEFRAMES)}")
        if source is not None and key.source != source:
            raise DataError(f"feed {key}: this feed reads {source!r}, not {key.source!r}")
        checked_id(key.source, what="feed source", error=DataError)
    return unique


def _ohlc_problem(o: float, h: float, lo: float, c: float, v: float) -> str | None:
    if not np.isfinite([o, h, lo, c, v]).all():
        return "a price or the volume is missing (NaN)"
    if min(o, h, lo, c) <= 0 or v < 0:
        return "a price is not positive or the volume is negative"
    if h < max(o, c, lo) or lo > min(o, c):
        return f"inconsistent OHLC (open {o:g}, high {h:g}, low {lo:g}, close {c:g})"
    return None


def screen_bars(key: FeedKey, raw: pd.DataFrame, *, after: pd.Timestamp | None,
                now: pd.Timestamp, closed: np.ndarray | None = None,
                tolerance: float = 5.0,
                logged: set | None = None) -> tuple[pd.DataFrame, int]:
    """The closed, valid bars of `raw` newer than `after`, in time order, and how many bars
    were rejected.

    `raw` holds the bars in the order the source sent them (index: UTC open times; columns
    OHLCV, NaN allowed). `closed` marks the bars the source calls closed (default: by time,
    ``open + timeframe <= now``); the forming bar is skipped without a log line, bars already
    known (``<= after``) too. A bar opening more than `tolerance` seconds after `now` is from
    the future.
    Each rejected bar is logged once (per `logged` set, keyed on time and reason)."""
    step = timeframe_delta(key.timeframe)
    times = raw.index
    if closed is None:
        closed = np.asarray(times + step <= now)
    values = raw.loc[:, list(COLUMNS)].to_numpy(np.float64)
    keep: list[int] = []
    rejected = 0
    previous: pd.Timestamp | None = None
    logged = set() if logged is None else logged
    for i, when in enumerate(times):
        reason = None
        if when > now + pd.Timedelta(seconds=tolerance):
            reason = f"opens in the future (now is {now:%Y-%m-%d %H:%M:%S})"
        elif not closed[i]:
            continue  # the forming bar: expected, not an error
        elif previous is not None and when == previous:
            reason = "duplicate of the bar before it"
        elif previous is not None and when < previous:
            reason = f"out of order (after {previous:%Y-%m-%d %H:%M})"
        else:
            reason = _ohlc_problem(*values[i])
        previous = when if previous is None else max(previous, when)
        if reason is None:
            if after is None or when > after:
                keep.append(i)
            continue
        rejected += 1
        seen = (when, reason.split(" (")[0])  # the same problem of the same bar: once
        if seen not in logged:
            logged.add(seen)
            log.warning("%s: rejected bar %s: %s", key, f"{when:%Y-%m-%d %H:%M}", reason)
    accepted = pd.DataFrame(values[keep], index=times[keep], columns=list(COLUMNS))
    accepted.index = pd.DatetimeIndex(accepted.index).as_unit("ns").rename("time")
    return accepted, rejected


class _Feed:
    """What every feed shares: per-key state, store upserts, health and scheduling."""

    source: str

    def __init__(self, keys: list[FeedKey], store: CandleStore, *, clock: Clock | None,
                 delay: float, retry_interval: float, warmup_bars: int,
                 max_catchup_bars: int, tolerance: float) -> None:
        self.keys = keys
        self.store = store
        self.clock = clock or _system_clock
        self.delay = pd.Timedelta(seconds=delay)
        self.retry_interval = pd.Timedelta(seconds=retry_interval)
        self.warmup_bars = warmup_bars
        self.max_catchup_bars = max_catchup_bars
        self.tolerance = tolerance
        self._state = {key: _State(timeframe_delta(key.timeframe)) for key in keys}
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list = []

    def _write_behind(self, enabled: bool) -> None:
        if enabled:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed-store")

    def _now(self, now) -> pd.Timestamp:
        return _utc(now) if now is not None else _utc(self.clock())

    def _stored_last(self, key: FeedKey, now: pd.Timestamp) -> pd.Timestamp | None:
        """The newest stored bar of the series within the catch-up horizon."""
        state = self._state[key]
        if not self.store.path(key.source, key.symbol, key.timeframe).exists():
            return None
        start = now - state.step * self.max_catchup_bars
        stored = self.store.read(key.symbol, key.timeframe, source=key.source, start=start)
        return stored.index[-1] if len(stored) else None

    def _start_after(self, key: FeedKey, now: pd.Timestamp) -> pd.Timestamp:
        """The open time of the last bar the feed already has (fetch from the next one)."""
        state = self._state[key]
        if state.last_bar is None:
            state.last_bar = self._stored_last(key, now)
        floor = now.floor(state.step) - state.step * (self.max_catchup_bars + 1)
        if state.last_bar is None:
            return now.floor(state.step) - state.step * (self.warmup_bars + 1)
        if state.last_bar < floor:
            log.warning("%s: %s of bars missing since %s; catching up only the last %d bars"
                        " (fetch older history with `ita data fetch`)", key,
                        now - state.last_bar, f"{state.last_bar:%Y-%m-%d %H:%M}",
                        self.max_catchup_bars)
            return floor
        return state.last_bar

    def _accept(self, key: FeedKey, raw: pd.DataFrame, now: pd.Timestamp, *,
                after: pd.Timestamp | None, closed: np.ndarray | None = None) -> pd.DataFrame:
        """Screen `raw`, upsert what passes, advance the key; the new bars (maybe none)."""
        state = self._state[key]
        bars, rejected = screen_bars(key, raw, after=after, now=now, closed=closed,
                                     tolerance=self.tolerance, logged=state.logged)
        state.rejected += rejected
        if len(state.logged) > 10_000:
            state.logged.clear()
        if not len(bars):
            return bars
        if self._writer is not None:  # write behind: the store write leaves the hot path
            self._pending.append(self._writer.submit(self._store, key, bars))
        elif not self._store(key, bars):
            return bars.iloc[:0]  # not stored: not passed on, fetched again next poll
        state.last_bar = bars.index[-1]
        return bars

    def _store(self, key: FeedKey, bars: pd.DataFrame) -> bool:
        try:
            self.store.upsert(bars, source=key.source, symbol=key.symbol,
                              timeframe=key.timeframe)
        except ItaError as error:  # a lock held too long, a disk problem: shown, not raised
            log.error("%s: could not store %d bar(s): %s", key, len(bars), error)
            self._state[key].error = f"storing bars failed: {error}"
            return False
        return True

    def flush(self) -> None:
        """Wait until every bar passed on is in the store (with ``background_writes``)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        """Finish the store writes and stop the writer thread."""
        self.flush()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def health(self, now=None) -> dict[FeedKey, FeedHealth]:
        """`FeedHealth` of every key at `now` (default: the feed's clock)."""
        now = self._now(now)
        return {key: self._health(key, state, now) for key, state in self._state.items()}

    @staticmethod
    def _health(key: FeedKey, state: _State, now: pd.Timestamp) -> FeedHealth:
        step = state.step
        if state.last_bar is None:
            since = state.started or now
            return FeedHealth(key, now, None, None, 0, now - since > 2 * step, state.error,
                              state.rejected)
        last_close = state.last_bar + step
        lag = now - last_close
        behind = max(0, int((now - last_close) // step))
        return FeedHealth(key, now, state.last_bar, lag, behind, lag > 2 * step, state.error,
                          state.rejected)

    def next_due(self, now=None) -> pd.Timestamp:
        """When to poll next: the earliest next close of any key plus ``delay``; while a
        closed bar is overdue (the source has not delivered it yet), ``retry_interval`` after
        the last poll."""
        now = self._now(now)
        due = []
        for state in self._state.values():
            if state.last_bar is None:
                due.append(now if state.last_poll is None else state.last_poll
                           + self.retry_interval)
                continue
            expected = state.last_bar + 2 * state.step + self.delay  # next bar's close
            if expected > now:
                due.append(expected)
            else:
                due.append(max(now, (state.last_poll or now) + self.retry_interval))
        return min(due) if due else now + self.retry_interval


# --- ccxt --------------------------------------------------------------------------------

PAGE = 1000


def _retryable():
    import ccxt

    # OperationFailed is ccxt's "may succeed when retried": NetworkError and below it
    # RequestTimeout, ExchangeNotAvailable, DDoSProtection, RateLimitExceeded
    return (ccxt.OperationFailed,)


class CcxtFeed(_Feed):
    """Closed bars of several symbols and timeframes of one ccxt exchange, by REST polling.

    `exchange` is a ccxt instance (tests point one at a local fake); by default one is made
    with ccxt's rate limiter on. Requests that fail with a network error, a rate limit or an
    unavailable exchange are retried ``max_retries`` times with exponential backoff (``sleep``
    is injectable); then the key's health carries the error and the next poll tries again.

    The exchange's closed-bar rule: a bar is passed on once ``open + timeframe <= now`` and
    the exchange has already started the next bar (or ``settle`` seconds have passed since
    its close, for a quiet market that skips empty bars).

    Each upsert rewrites the series file (~50-150 ms for a long 1m series), so with many
    series the store writes dominate a poll; ``background_writes=True`` returns the bars first
    and writes them on one writer thread in order (`flush` waits for them, `close` at the
    end). A crash before the write loses nothing: the next start resumes from the store's
    last bar and fetches those bars again."""

    def __init__(self, exchange_id: str, keys: list[FeedKey], store: CandleStore, *,
                 exchange=None, clock: Clock | None = None, delay: float = 1.5,
                 retry_interval: float = 2.0, warmup_bars: int = 500,
                 max_catchup_bars: int = 5_000, max_retries: int = 3,
                 backoff: float = 0.5, workers: int = 4, settle: float = 5.0,
                 background_writes: bool = False,
                 sleep: Callable[[float], None] = time.sleep,
                 tolerance: float = 5.0) -> None:
        from engine.adapters.ccxt_source import make_exchange

        super().__init__(checked_keys(keys, source=exchange_id), store, clock=clock,
                         delay=delay, retry_interval=retry_interval, warmup_bars=warmup_bars,
                         max_catchup_bars=max_catchup_bars, tolerance=tolerance)
        self.source = exchange_id
        self.exchange = exchange if exchange is not None else make_exchange(exchange_id)
        self.max_retries = max_retries
        self.backoff = backoff
        self.workers = max(1, workers)
        self.sleep = sleep
        self.settle = pd.Timedelta(seconds=settle)
        self._write_behind(background_writes)
        self.requests = 0
        self.retries = 0
        self._lock = threading.Lock()

    def poll(self, now=None) -> dict[FeedKey, pd.DataFrame]:
        """The bars closed since the last poll, per key (keys without new bars are left out);
        each series is fetched once, concurrently with the others (``workers`` threads)."""
        now = self._now(now)
        starts = {}
        for key in self.keys:
            state = self._state[key]
            state.started = state.started or now
            starts[key] = self._start_after(key, now)
        with ThreadPoolExecutor(max_workers=min(self.workers, len(self.keys) or 1)) as pool:
            answers = dict(zip(self.keys, pool.map(
                lambda key: self._fetch_series(key, starts[key], now), self.keys), strict=True))
        new = {}
        for key in self.keys:  # screened and stored in key order, on this thread
            state = self._state[key]
            state.last_poll = now
            raw, error = answers[key]
            state.error = error
            if raw is None:
                continue
            after = state.last_bar if state.last_bar is not None else starts[key]
            bars = self._accept(key, raw, now, after=after, closed=self._closed(raw, now,
                                                                                state.step))
            if len(bars):
                new[key] = bars
        return new

    def _closed(self, raw: pd.DataFrame, now: pd.Timestamp, step: pd.Timedelta) -> np.ndarray:
        """Closed by time, and closed for the exchange too: it has already started a later
        bar, or the bar closed more than ``settle`` seconds ago (an exchange whose clock
        lags ours still sends its last bar as forming, with values that will change)."""
        times = raw.index
        if not len(times):
            return np.zeros(0, dtype=bool)
        by_time = np.asarray(times + step <= now)
        followed = np.asarray(times < times.max())
        settled = np.asarray(times + step + self.settle <= now)
        return by_time & (followed | settled)

    def _fetch_series(self, key: FeedKey, after: pd.Timestamp, now: pd.Timestamp):
        """All bars from the one after `after` up to the forming one, page by page:
        (raw frame in the exchange's order or None, error text or None)."""
        step = timeframe_delta(key.timeframe)
        cursor = after + step
        pages: list[list] = []
        while cursor <= now:
            try:
                rows = self._fetch_page(key, int(cursor.timestamp() * 1000))
            except _ExchangeFailure as failure:
                log.warning("%s: %s", key, failure)
                return (_rows_frame(pages) if pages else None), str(failure)
            if not rows:
                break
            pages.append(rows)
            last = pd.Timestamp(int(rows[-1][0]), unit="ms", tz="UTC")
            if len(rows) < PAGE or last + step > now or last < cursor:
                break
            cursor = last + step
        return _rows_frame(pages), None

    def _fetch_page(self, key: FeedKey, since_ms: int) -> list:
        import ccxt

        for attempt in range(self.max_retries + 1):
            try:
                with self._lock:
                    self.requests += 1
                return self.exchange.fetch_ohlcv(key.symbol, key.timeframe, since=since_ms,
                                                 limit=PAGE)
            except _retryable() as error:
                if attempt == self.max_retries:
                    raise _ExchangeFailure(f"still failing after {self.max_retries} retries: "
                                           f"{_describe(error)}") from None
                with self._lock:
                    self.retries += 1
                self.sleep(min(30.0, self.backoff * 2 ** attempt))
            except ccxt.BaseError as error:  # bad symbol, authentication, exchange errors
                raise _ExchangeFailure(_describe(error)) from None
        return []


class _ExchangeFailure(Exception):
    """A request that failed for good in this poll (its text goes to `FeedHealth.error`)."""


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _rows_frame(pages: list[list]) -> pd.DataFrame:
    rows = [row for page in pages for row in page]
    data = np.array([[np.nan if x is None else x for x in row[:6]] for row in rows],
                    dtype=np.float64).reshape(-1, 6)
    index = pd.DatetimeIndex(pd.to_datetime(data[:, 0].astype(np.int64), unit="ms", utc=True),
                             name="time").as_unit("ns")
    return pd.DataFrame(data[:, 1:], index=index, columns=list(COLUMNS))


def __getattr__(name: str):
    """`Mt5FolderFeed` and `mt5_file_name` live in `engine.live.mt5_folder` (which builds on
    this module) and are part of this module's API."""
    if name in ("Mt5FolderFeed", "mt5_file_name", "read_mt5_bars"):
        from engine.live import mt5_folder

        return getattr(mt5_folder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
