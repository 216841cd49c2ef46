"""Indicators as dense float64 arrays aligned with the candles, NaN during warm-up.

They are TA-Lib's own functions (the official wheel bundles the C library), so the numbers are
TA-Lib's exactly. Each value at bar t uses bars <= t only: TA-Lib's EMA, RSI and ATR are
recursive from the first bar, so a series cut at t gives the same values up to t.

>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2024-01-01", periods=5, freq="1min", tz="UTC")
>>> c = pd.DataFrame({k: np.arange(1.0, 6.0) for k in ("open", "high", "low", "close",
...                   "volume")}, index=idx)
>>> sma(c, 3).round(2).tolist()
[nan, nan, 2.0, 3.0, 4.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from engine.candles import CLOSE, HIGH, LOW


def _column(candles: pd.DataFrame, name: str) -> np.ndarray:
    return np.ascontiguousarray(candles[name].to_numpy(dtype=np.float64))


def sma(candles: pd.DataFrame, period: int) -> np.ndarray:
    """Simple moving average of closes over `period` bars."""
    return talib.SMA(_column(candles, CLOSE), timeperiod=period)


def ema(candles: pd.DataFrame, period: int) -> np.ndarray:
    """Exponential moving average of closes, alpha = 2 / (period + 1), seeded with the SMA of
    the first `period` closes (TA-Lib's convention)."""
    return talib.EMA(_column(candles, CLOSE), timeperiod=period)


def rsi(candles: pd.DataFrame, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index of closes (0..100)."""
    return talib.RSI(_column(candles, CLOSE), timeperiod=period)


def atr(candles: pd.DataFrame, period: int = 14) -> np.ndarray:
    """Wilder's average true range."""
    return talib.ATR(_column(candles, HIGH), _column(candles, LOW), _column(candles, CLOSE),
                     timeperiod=period)


INDICATORS = {"sma": sma, "ema": ema, "rsi": rsi, "atr": atr}
