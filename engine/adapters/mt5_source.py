"""MetaTrader 5 terminal as a candle source (Windows only; the package is imported lazily).

Bar times from MT5 are broker server time; the server's time zone is a parameter
(``server_tz``, a named zone with DST such as "Europe/Athens", or a fixed offset "+02:00") and
is converted to UTC. Where the `MetaTrader5` package cannot be imported (every non-Windows
machine) `SourceUnavailable` says so and names the CSV export as the alternative.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
import pandas as pd

from engine.candles import COLUMNS
from engine.errors import DataError, SourceUnavailable

MT5_TIMEFRAMES = {"1m": "TIMEFRAME_M1", "5m": "TIMEFRAME_M5", "15m": "TIMEFRAME_M15",
                  "30m": "TIMEFRAME_M30", "1h": "TIMEFRAME_H1", "4h": "TIMEFRAME_H4",
                  "1d": "TIMEFRAME_D1", "1w": "TIMEFRAME_W1"}
NOT_AVAILABLE = ("the MetaTrader5 package is not available here (it exists only for Windows). "
                 "Export bars from the MT5 terminal (View > Symbols > Bars > Export) and run "
                 "`ita data import FILE --format mt5 --tz <server time zone>`")


def _server_to_utc(index: pd.DatetimeIndex, server_tz: str) -> pd.DatetimeIndex:
    offset = server_tz.upper().removeprefix("UTC")
    if offset[:1] in "+-":
        hours, _, minutes = offset[1:].partition(":")
        delta = pd.Timedelta(hours=int(hours), minutes=int(minutes or 0))
        return (index - (delta if offset[0] == "+" else -delta)).tz_localize("UTC")
    return index.tz_localize(server_tz, ambiguous="infer", nonexistent="shift_forward"
                             ).tz_convert("UTC")


class MT5Source:
    """Candles from a running MetaTrader 5 terminal."""

    def __init__(self, *, server_tz: str, module: ModuleType | None = None) -> None:
        if module is None:
            try:
                module = importlib.import_module("MetaTrader5")
            except ImportError:
                raise SourceUnavailable(NOT_AVAILABLE) from None
        self.mt5 = module
        self.server_tz = server_tz
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
        offset = self.server_tz.upper().removeprefix("UTC")
        if offset[:1] in "+-":
            hours, _, minutes = offset[1:].partition(":")
            delta = pd.Timedelta(hours=int(hours), minutes=int(minutes or 0))
            return (stamp + (delta if offset[0] == "+" else -delta)).tz_localize(None)
        return stamp.tz_convert(self.server_tz or "UTC").tz_localize(None).to_pydatetime()

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
