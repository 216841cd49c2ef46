"""What every benchmark section shares: synthetic candles, the one timer (`measure`) that ITA
and its peers go through alike, and the result row."""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

MINUTES_PER_YEAR = 525_600
T = TypeVar("T")


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


def quick() -> bool:
    """`python -m bench --quick` (or ITA_BENCH_QUICK=1): a smoke run of the harness on one
    month of data with at most two timed calls per measurement; BENCHMARKS.md is not written."""
    return os.environ.get("ITA_BENCH_QUICK", "") not in ("", "0")


def measure(fn: Callable[[T], object], *, make_input: Callable[[], T], warmup: int,
            repeat: int) -> float:
    """Best wall time, in seconds, of `repeat` timed calls `fn(make_input())` after `warmup`
    untimed ones. ITA and its peers are all measured through this one function, each pair of a
    comparison with the same `warmup` and `repeat`.

    Every call, warm-up or timed, gets an input of its own, built by `make_input` before the
    timer starts (see `fresh_copy`), so no cache keyed on a frame or its index is carried from
    one repetition to the next. Garbage is collected before each timed call, and `fn`'s result
    is released only after the timer stops. Imports belong in the caller, before this is
    called; the warm-up takes any first-call compilation (numba) out of the timed calls.

    >>> measure(sorted, make_input=lambda: [3, 1, 2], warmup=1, repeat=3) < 1.0
    True
    """
    if quick():
        repeat = min(repeat, 2)
    for _ in range(warmup):
        fn(make_input())
    best = math.inf
    for _ in range(repeat):
        given = make_input()
        gc.collect()
        start = time.perf_counter()
        result = fn(given)
        elapsed = time.perf_counter() - start
        del result, given
        best = min(best, elapsed)
    return best


def fresh_copy(frame: pd.DataFrame) -> pd.DataFrame:
    """A deep copy of `frame` with a new index object: new column arrays, and a datetime index
    rebuilt from a copy of its int64 times, so that neither pandas' caches on the index (which
    `DataFrame.copy(deep=True)` shares with the original) nor ITA's (local times kept per index
    in `engine.candles`) see the original. The rebuilt index has no `freq`, like candles read
    from the store."""
    index = frame.index
    if isinstance(index, pd.DatetimeIndex):
        times = index.asi8.copy().view(f"M8[{index.unit}]")
        rebuilt = pd.DatetimeIndex(times, name=index.name)
        if index.tz is not None:
            rebuilt = rebuilt.tz_localize("UTC").tz_convert(index.tz)
    else:
        rebuilt = index.copy(deep=True)
    copy = frame.copy(deep=True)
    copy.index = rebuilt
    return copy


def fresh(frame: pd.DataFrame) -> Callable[[], pd.DataFrame]:
    """`make_input` for `measure`: a new `fresh_copy` of `frame` on every call."""
    return lambda: fresh_copy(frame)


def year_bars() -> int:
    """One year of 1m bars, or one month of them in a quick run."""
    return MINUTES_PER_YEAR // 12 if quick() else MINUTES_PER_YEAR


def synthetic_candles(bars: int | None = None, *, seed: int = 7,
                      start: str = "2023-01-01", freq: str = "1min") -> pd.DataFrame:
    """A seeded random-walk market with realistic 1m ranges (BTC-like price, ~0.05 % per bar),
    some flat zero-volume bars, satisfying the candle contract; `bars` defaults to
    `year_bars()`."""
    bars = year_bars() if bars is None else bars
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
