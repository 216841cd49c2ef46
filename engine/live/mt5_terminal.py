"""The MT5 terminal feed (Windows): closed bars straight from a running MetaTrader 5 terminal.

Part of `engine.live.feeds` (same contract: ``poll(now)``, ``next_due``, ``health``, store
upserts with source ``mt5``; see there). Where the watched folder (`engine.live.mt5_folder`)
needs the `mt5/ITAExport.mq5` script, this feed asks the terminal itself through the
`MetaTrader5` package (loaded lazily by `engine.adapters.mt5_source`; off Windows the feed
cannot be made: `SourceUnavailable` names the watched folder instead).

- **Latest bars**: each poll asks ``copy_rates_from_pos(symbol, timeframe, 0, n)`` for the bars
  since the last one it has (a catch-up after a gap included, at most ``max_catchup_bars``),
  plus an hour's overlap; the terminal answers oldest first, the last one still forming.
- **Closed bars only**: a bar is passed on once ``open + timeframe <= now`` and the terminal has
  started a later bar or ``settle`` seconds have passed since its close (a PC clock a little
  ahead of the broker's never passes on a forming bar).
- **Broker time → UTC, DST-correct**: bar times are the broker's wall clock in ``server_tz``.
  A time that occurs twice (the hour repeated when summer time ends) is read in order: the
  first pass is summer time, a bar that would go back in time is the second pass. A server
  zone that puts bars more than 30 minutes in the future is an error on the key's health
  ("is the server time zone right?") and none of its bars is taken.
- **Terminal not running / not logged in**: ``initialize()`` failing, or the terminal losing its
  connection, puts the error (with the terminal's own code and text) on every key's health
  and the poll returns nothing; the next poll tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from types import ModuleType

import numpy as np
import pandas as pd

from engine.adapters.mt5_source import MT5_TIMEFRAMES, load_module
from engine.adapters.store import CandleStore
from engine.errors import SourceUnavailable
from engine.live.feeds import Clock, FeedKey, _Feed, checked_keys
from engine.timezones import parse_timezone

log = logging.getLogger("ita.live.feeds")

MT5_SOURCE = "mt5"
CLOCK_SLACK = pd.Timedelta(minutes=30)  # bars further in the future: a wrong server zone
OVERLAP = pd.Timedelta(hours=1)  # fetched again each poll: the repeated hour reads in order
NOT_HERE = ("the MetaTrader5 package exists only for Windows; on this machine watch the folder "
            "the ITAExport script writes instead (ITA_MT5_FOLDER, docs/LIVE_MT5.md)")


def broker_to_utc(seconds: np.ndarray, zone: dt.tzinfo) -> pd.DatetimeIndex:
    """Broker wall-clock times (MT5's seconds since the epoch, bars oldest first) as UTC.

    A wall-clock time that occurs twice (summer time ending) is summer time on its first pass
    and standard time once the bars would otherwise go back: read in order, the repeated hour
    comes out as two consecutive UTC hours. A time that does not exist (summer time starting)
    is moved forward, as the importer does."""
    local = pd.DatetimeIndex(pd.to_datetime(np.asarray(seconds, dtype=np.int64), unit="s")
                             ).as_unit("ns")
    n = len(local)
    first = local.tz_localize(zone, ambiguous=np.ones(n, dtype=bool),
                              nonexistent="shift_forward").tz_convert("UTC")
    second = local.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool),
                               nonexistent="shift_forward").tz_convert("UTC")
    chosen = first.asi8.copy()
    later = second.asi8
    for i in np.flatnonzero(chosen != later):  # the repeated hour only
        if i > 0 and chosen[i] <= chosen[i - 1]:
            chosen[i] = later[i]
    return pd.DatetimeIndex(pd.to_datetime(chosen, utc=True)).as_unit("ns").rename("time")


def rates_frame(rates, zone: dt.tzinfo) -> pd.DataFrame:
    """MT5 rates (a numpy record array) as a candle frame, UTC index, float64 OHLCV; real
    volume where the broker has it, else tick volume (as `MT5Source`)."""
    rates = np.asarray(rates)
    if len(rates) == 0:
        return pd.DataFrame(columns=["open", "high", "low", "close", "volume"], dtype=float,
                            index=pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns"))
    names = rates.dtype.names
    real = "real_volume" in names and np.asarray(rates["real_volume"]).any()
    volume = rates["real_volume"] if real else rates["tick_volume"]
    frame = pd.DataFrame({"open": rates["open"], "high": rates["high"], "low": rates["low"],
                          "close": rates["close"], "volume": volume}, dtype=np.float64)
    frame.index = broker_to_utc(rates["time"], zone)
    return frame


class _TerminalFailure(Exception):
    """One key failed in this poll (its text goes to `FeedHealth.error`)."""


class Mt5TerminalFeed(_Feed):
    """Closed bars of several symbols and timeframes from the MetaTrader 5 terminal (see the
    module docstring). `module` is the `MetaTrader5` package (tests pass a stand-in); by default
    it is imported, which fails with `SourceUnavailable` off Windows.

    >>> feed = Mt5TerminalFeed([FeedKey("mt5", "EURUSD", "5m")], store,
    ...                        server_tz="Europe/Athens")  # doctest: +SKIP
    >>> feed.poll()  # doctest: +SKIP
    {FeedKey(source='mt5', symbol='EURUSD', timeframe='5m'): <new closed bars>}
    """

    source = MT5_SOURCE

    def __init__(self, keys: list[FeedKey], store: CandleStore, *, server_tz: str | dt.tzinfo,
                 module: ModuleType | None = None, clock: Clock | None = None,
                 delay: float = 1.5, retry_interval: float = 2.0, warmup_bars: int = 500,
                 max_catchup_bars: int = 5_000, settle: float = 5.0, tolerance: float = 5.0,
                 background_writes: bool = False) -> None:
        if module is None:
            try:
                module = load_module()
            except SourceUnavailable:
                raise SourceUnavailable(NOT_HERE) from None
        super().__init__(checked_keys(keys, source=MT5_SOURCE), store, clock=clock,
                         delay=delay, retry_interval=retry_interval, warmup_bars=warmup_bars,
                         max_catchup_bars=max_catchup_bars, tolerance=tolerance)
        self._write_behind(background_writes)
        self.mt5 = module
        self.zone = server_tz if isinstance(server_tz, dt.tzinfo) else parse_timezone(
            server_tz, field="MT5 server time zone (ITA_MT5_SERVER_TZ)")
        self.settle = pd.Timedelta(seconds=settle)
        self.requests = 0
        self._connected = False
        self._said: str | None = None  # the terminal's state last logged (log changes only)
        self._warned: dict[FeedKey, str] = {}

    def poll(self, now=None) -> dict[FeedKey, pd.DataFrame]:
        """The bars closed since the last poll, per key (keys without new bars left out); {}
        while the terminal is not reachable (the error is on every key's health)."""
        now = self._now(now)
        for state in self._state.values():
            state.started = state.started or now
            state.last_poll = now
        if not self._connect():
            return {}
        new = {}
        for key in self.keys:
            state = self._state[key]
            after = self._start_after(key, now)
            try:
                raw = self._fetch(key, after, now)
            except _TerminalFailure as failure:
                state.error = str(failure)
                log.warning("%s: %s", key, failure)
                continue
            state.error = self._clock_problem(key, raw, now)
            if state.error is not None:  # every time of this key is wrong: pass none on
                continue
            closed = _closed(raw.index, state.step, now, self.settle)
            bars = self._accept(key, raw, now, after=after, closed=closed)
            if len(bars):
                new[key] = bars
        return new

    def close(self) -> None:
        """Finish the store writes and let go of the terminal."""
        super().close()
        if self._connected:
            self.mt5.shutdown()
            self._connected = False

    def _connect(self) -> bool:
        if self._connected:
            return True
        if self.mt5.initialize():
            self._connected = True
            if self._said is not None:
                log.info("MetaTrader 5 terminal reachable again")
            self._said = None
            return True
        message = (f"MetaTrader 5 terminal not reachable ({_last_error(self.mt5)}): is it "
                   f"running and logged in to the broker?")
        for state in self._state.values():
            state.error = message
        if message != self._said:
            log.error("%s", message)
            self._said = message
        return False

    def _fetch(self, key: FeedKey, after: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame:
        """The terminal's latest bars reaching back past `after` by `OVERLAP`, oldest first."""
        name = MT5_TIMEFRAMES.get(key.timeframe)
        if name is None:
            raise _TerminalFailure(f"MT5 has no timeframe {key.timeframe!r}; use "
                                   f"{', '.join(MT5_TIMEFRAMES)}")
        step = self._state[key].step
        missing = min(self.max_catchup_bars, max(0, math.ceil((now - after) / step)))
        count = missing + math.ceil(OVERLAP / step) + 2
        self.requests += 1
        rates = self.mt5.copy_rates_from_pos(key.symbol, getattr(self.mt5, name), 0, count)
        if rates is None:
            error = _last_error(self.mt5)
            if self.mt5.symbol_info(key.symbol) is None:
                raise _TerminalFailure(f"MT5 has no symbol {key.symbol!r} (is it in Market "
                                       f"Watch?)")
            self._connected = False  # the terminal may have gone: initialise again next poll
            raise _TerminalFailure(f"MT5 returned no bars ({error})")
        return rates_frame(rates, self.zone)

    def _clock_problem(self, key: FeedKey, raw: pd.DataFrame,
                       now: pd.Timestamp) -> str | None:
        """A message (logged once) when the newest bar opens more than `CLOCK_SLACK` after
        now: the server time zone (or the PC's clock) is wrong, so are all the times."""
        if not len(raw) or raw.index[-1] <= now + CLOCK_SLACK:
            self._warned.pop(key, None)
            return None
        ahead = raw.index[-1] - now
        message = (f"the newest bar opens {ahead} from now: is the server time zone "
                   f"({self.zone}) right, and this PC's clock? No bars are taken until it is")
        if self._warned.get(key) != message:
            log.error("%s: %s", key, message)
            self._warned[key] = message
        return message


def _closed(times: pd.DatetimeIndex, step: pd.Timedelta, now: pd.Timestamp,
            settle: pd.Timedelta) -> np.ndarray:
    """Closed by time, and for the terminal too: a later bar exists or `settle` has passed."""
    if not len(times):
        return np.zeros(0, dtype=bool)
    by_time = np.asarray(times + step <= now)
    followed = np.asarray(times < times.max())
    settled = np.asarray(times + step + settle <= now)
    return by_time & (followed | settled)


def _last_error(module: ModuleType) -> str:
    try:
        code, text = module.last_error()
    except (TypeError, ValueError):
        return str(module.last_error())
    return f"{text}, code {code}"
