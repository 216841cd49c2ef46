"""What every benchmark section shares: synthetic candles, a timer and the result row."""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

MINUTES_PER_YEAR = 525_600


@dataclasses.dataclass(frozen=True)
class Result:
    """One measured line of BENCHMARKS.md."""

    section: str
    name: str
    seconds: float
    target: float | None = None  # seconds; None = no target, reported for information
    peer: str | None = None
    peer_seconds: float | None = None
    note: str = ""
    min_ratio: float | None = None  # ITA must be at least this many times faster than the peer

    @property
    def met(self) -> bool | None:
        checks = []
        if self.target is not None:
            checks.append(self.seconds <= self.target)
        if self.min_ratio is not None and self.ratio is not None:
            checks.append(self.ratio >= self.min_ratio)
        return all(checks) if checks else None

    @property
    def ratio(self) -> float | None:
        if self.peer_seconds is None or self.seconds <= 0:
            return None
        return self.peer_seconds / self.seconds


def best_of(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Best wall time of `repeat` calls after `warmup` calls, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def synthetic_candles(bars: int = MINUTES_PER_YEAR, *, seed: int = 7,
                      start: str = "2023-01-01", freq: str = "1min") -> pd.DataFrame:
    """A seeded random-walk market with realistic 1m ranges (BTC-like price, ~0.05 % per bar),
    some flat zero-volume bars, satisfying the candle contract."""
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(4, size=bars) * 0.0005
    close = 20_000.0 * np.exp(np.cumsum(returns))
    open_ = np.empty(bars)
    open_[0] = 20_000.0
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, 0.0003, size=(2, bars))) * close
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.gamma(2.0, 1.5, size=bars)
    flat = rng.random(bars) < 0.02
    volume[flat] = 0.0
    index = pd.date_range(start, periods=bars, freq=freq, tz="UTC", name="time")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
