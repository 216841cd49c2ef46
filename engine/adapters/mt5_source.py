"""MetaTrader 5 terminal as a candle source (Windows only; the package is imported lazily).

Bar times from MT5 are broker server time; the server's time zone is a parameter
(``server_tz``, any spelling `engine.timezones.parse_timezone` reads: "UTC", a named zone with
DST such as "Europe/Athens", "Etc/GMT-2", or a fixed offset "+02:00" / "UTC+2") and is
converted to UTC. Where the `MetaTrader5` package cannot be imported (every non-Windows
machine) `SourceUnavailable` says so and names the CSV export as the alternative.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pandas as pd

from engine.candles import COLUMNS, timeframe_delta
from engine.errors import DataError, SourceUnavailable
from engine.timezones import parse_timezone

MT5_TIMEFRAMES = {"1m": "TIMEFRAME_M1", "5m": "TIMEFRAME_M5", "15m": "TIMEFRAME_M15",
                  "30m": "TIMEFRAME_M30", "1h": "TIMEFRAME_H1", "4h": "TIMEFRAME_H4",
                  "1d": "TIMEFRAME_D1", "1w": "TIMEFRAME_W1"}
WINDOW_BARS = 50_000  # bars per copy_rates_range call (below MT5's default "Max bars in chart")
NOT_AVAILABLE = ("the MetaTrader5 package is not available here (it exists only for Windows). "
                 "Export bars from the MT5 terminal (View > Symbols > Bars > Export) and run "
                 "`ita data import FILE --format mt5 --tz <server time zone>`")


def _server_to_utc(index: pd.DatetimeIndex, zone: dt.tzinfo) -> pd.DatetimeIndex:
    return index.tz_localize(zone, ambiguous="infer", nonexistent="shift_forward"
                             ).tz_convert("UTC")


def load_module() -> ModuleType:
    """The `MetaTrader5` package, or `SourceUnavailable` naming the CSV export instead."""
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError:
        raise SourceUnavailable(NOT_AVAILABLE) from None


class MT5Source:
    """Candles from a running MetaTrader 5 terminal."""

    def __init__(self, *, server_tz: str | dt.tzinfo, module: ModuleType | None = None) -> None:
        self.mt5 = module or load_module()
        self.server_tz = server_tz if isinstance(server_tz, dt.tzinfo) else parse_timezone(
            server_tz, field="MT5 server time zone (--tz)")
        if not self.mt5.initialize():
            raise SourceUnavailable(f"MetaTrader 5 did not start: {self.mt5.last_error()}")

    def close(self) -> None:
        self.mt5.shutdown()

    def _timeframe(self, timeframe: str):
        if timeframe not in MT5_TIMEFRAMES:
            raise DataError(f"MT5 has no timeframe {timeframe!r}; use {', '.join(MT5_TIMEFRAMES)}")
        return getattr(self.mt5, MT5_TIMEFRAMES[timeframe])

    def _check_symbol(self, symbol: str) -> None:
        if self.mt5.symbol_info(symbol) is None:
            raise DataError(f"MT5 has no symbol {symbol!r} (is it in Market Watch?)")

    def _frame(self, rates) -> pd.DataFrame:
        if rates is None:
            raise DataError(f"MT5 returned no bars: {self.mt5.last_error()}")
        rates = np.asarray(rates)
        if len(rates) == 0:
            return pd.DataFrame(columns=list(COLUMNS), dtype=float,
                                index=pd.DatetimeIndex([], tz="UTC", name="time"))
        # MT5 reports server wall-clock time as seconds since the epoch
        local = pd.DatetimeIndex(pd.to_datetime(rates["time"].astype(np.int64), unit="s"))
        volume = rates["real_volume"] if "real_volume" in rates.dtype.names and \
            rates["real_volume"].any() else rates["tick_volume"]
        frame = pd.DataFrame({"open": rates["open"], "high": rates["high"], "low": rates["low"],
                              "close": rates["close"], "volume": volume}, dtype=np.float64)
        frame.index = _server_to_utc(local, self.server_tz).as_unit("ns").rename("time")
        return frame

    def _to_server(self, value) -> object:
        """A UTC time as the naive server wall-clock time MT5 expects."""
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.tz_convert(self.server_tz).tz_localize(None).to_pydatetime()

    def history(self, symbol: str, timeframe: str, *, start, end) -> pd.DataFrame:
        """Bars between two UTC times (copy_rates_range)."""
        self._check_symbol(symbol)
        return self._frame(self.mt5.copy_rates_range(symbol, self._timeframe(timeframe),
                                                     self._to_server(start),
                                                     self._to_server(end)))

    def latest(self, symbol: str, timeframe: str, *, count: int = 1000) -> pd.DataFrame:
        """The last `count` closed bars (copy_rates_from_pos, skipping the forming bar)."""
        self._check_symbol(symbol)
        return self._frame(self.mt5.copy_rates_from_pos(symbol, self._timeframe(timeframe), 1,
                                                        count))


@dataclasses.dataclass(frozen=True)
class MT5DownloadReport:
    symbol: str
    timeframe: str
    bars: int
    added: int
    replaced: int
    requests: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def download_history(symbol: str, timeframe: str, *, since, until=None, store,
                     server_tz: str | None, source: str = "mt5",
                     module: ModuleType | None = None, now=None,
                     progress: Callable[[float, str], None] | None = None,
                     window_bars: int = WINDOW_BARS) -> MT5DownloadReport:
    """Copy [since, until) from the terminal into the store, resuming after the last stored
    bar, `window_bars` bars per request; the still-forming bar is never stored."""
    module = module or load_module()  # off Windows: SourceUnavailable before asking for --tz
    if not server_tz:
        raise DataError("MT5 bar times are broker server time: give its time zone with --tz "
                        "(e.g. Europe/Athens, +02:00) or ITA_MT5_SERVER_TZ; ITA does not guess")
    terminal = MT5Source(server_tz=server_tz, module=module)
    step = timeframe_delta(timeframe)
    now = _utc(now) if now is not None else pd.Timestamp.now(tz="UTC")
    end = min(_utc(until), now) if until is not None else now
    start = _utc(since)
    if store.path(source, symbol, timeframe).exists():
        stored = store.read(symbol, timeframe, source=source)
        if len(stored):
            start = max(start, stored.index[-1] + step)
    counts = {"bars": 0, "added": 0, "replaced": 0, "requests": 0}
    first = last = None
    cursor = start
    try:
        while cursor < end:
            window_end = min(cursor + window_bars * step, end)
            counts["requests"] += 1
            bars = terminal.history(symbol, timeframe, start=cursor, end=window_end)
            bars = bars[(bars.index >= cursor) & (bars.index < window_end)
                        & (bars.index + step <= now)]
            if len(bars):
                report = store.upsert(bars, source=source, symbol=symbol, timeframe=timeframe)
                counts["bars"] += len(bars)
                counts["added"] += report.added
                counts["replaced"] += report.replaced
                first, last = first or bars.index[0], bars.index[-1]
            cursor = window_end
            if progress:
                done = (cursor - start) / max(end - start, step)
                progress(min(float(done), 0.99), f"{counts['bars']:,} bars")
    finally:
        terminal.close()
    return MT5DownloadReport(symbol, timeframe, counts["bars"], counts["added"],
                             counts["replaced"], counts["requests"], first, last)


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
