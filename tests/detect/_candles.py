"""Candle builders for detector tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def candles_from(high, low, *, open_=None, close=None, start="2024-01-01 00:00",
                 freq="1min") -> pd.DataFrame:
    """A contract frame from highs and lows; open/close default to the bar's midpoint."""
    high = np.asarray(high, dtype=np.float64)
    low = np.asarray(low, dtype=np.float64)
    mid = (high + low) / 2
    open_ = mid if open_ is None else np.asarray(open_, dtype=np.float64)
    close = mid if close is None else np.asarray(close, dtype=np.float64)
    index = pd.date_range(start, periods=len(high), freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": np.ones(len(high))}, index=index)


def random_candles(seed: int, bars: int, *, freq: str = "1min",
                   start: str = "2024-03-08 18:00") -> pd.DataFrame:
    """A random walk rounded to 0.5 so that ties (equal highs, equal closes) are common."""
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.normal(0, 1, bars)), 1) * 2 / 2
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) + np.round(rng.exponential(0.6, bars) * 2) / 2
    low = np.minimum(open_, close) - np.round(rng.exponential(0.6, bars) * 2) / 2
    return candles_from(high, low, open_=open_, close=close, start=start, freq=freq)
