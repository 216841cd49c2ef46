"""The candle contract (DESIGN.md) and the names everything else uses.

Candles are a pandas DataFrame indexed by a UTC `DatetimeIndex` of bar *open* times, with the
float64 columns `open high low close volume`, sorted ascending, unique. Every importer and
source converts to this; every detector, compiler and backtester accepts only this.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from engine.errors import DataError

OPEN, HIGH, LOW, CLOSE, VOLUME = "open", "high", "low", "close", "volume"
COLUMNS: tuple[str, ...] = (OPEN, HIGH, LOW, CLOSE, VOLUME)

#: Timeframes ITA understands, shortest first, with their length.
TIMEFRAMES: dict[str, pd.Timedelta] = {
    "1m": pd.Timedelta(minutes=1),
    "3m": pd.Timedelta(minutes=3),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "30m": pd.Timedelta(minutes=30),
    "1h": pd.Timedelta(hours=1),
    "2h": pd.Timedelta(hours=2),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
    "1w": pd.Timedelta(weeks=1),
}

_TF_PATTERN = re.compile(r"^(\d+)([mhdw])$")


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """Length of one bar of `timeframe`.

    >>> timeframe_delta("15m")
    Timedelta('0 days 00:15:00')
    """
    if timeframe in TIMEFRAMES:
        return TIMEFRAMES[timeframe]
    match = _TF_PATTERN.match(timeframe or "")
    if not match:
        known = ", ".join(TIMEFRAMES)
        raise DataError(f"timeframe {timeframe!r} is not understood; use one of {known}")
    count, unit = int(match.group(1)), match.group(2)
    return pd.Timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: count})


def empty_candles() -> pd.DataFrame:
    """A zero-row frame that satisfies the candle contract."""
    index = pd.DatetimeIndex([], tz="UTC", name="time")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in COLUMNS}, index=index)


def validate_candles(candles: pd.DataFrame, *, name: str = "candles") -> pd.DataFrame:
    """Check the candle contract and return the frame unchanged; raise `DataError` otherwise.

    >>> validate_candles(empty_candles()).shape
    (0, 5)
    """
    if not isinstance(candles, pd.DataFrame):
        raise DataError(f"{name}: expected a pandas DataFrame, got {type(candles).__name__}")
    missing = [c for c in COLUMNS if c not in candles.columns]
    if missing:
        raise DataError(f"{name}: missing column(s) {', '.join(missing)}")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
        raise DataError(f"{name}: index must be a UTC DatetimeIndex of bar open times")
    if str(index.tz) != "UTC":
        raise DataError(f"{name}: index time zone is {index.tz}, expected UTC")
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError(f"{name}: index must be sorted and unique")
    for column in COLUMNS:
        if candles[column].dtype != np.float64:
            raise DataError(f"{name}: column {column!r} must be float64")
    return candles


def ohlcv_arrays(candles: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """The five columns as contiguous float64 arrays, for numba kernels."""
    return tuple(np.ascontiguousarray(candles[c].to_numpy(dtype="float64")) for c in COLUMNS)
