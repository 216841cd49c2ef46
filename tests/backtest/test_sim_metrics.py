"""The drawdown statistics of `compute_metrics` equal a plain reading of the curve: the lowest
drawdown in money and in % with NaN skipped (NaN when every value is NaN), and the longest
time from the first to the last bar of one unbroken stretch below the peak."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.backtest.metrics import _drawdown_stats


def _plain(money: np.ndarray, pct: np.ndarray, times: pd.DatetimeIndex):
    known = [v for v in money if not math.isnan(v)]
    known_pct = [v for v in pct if not math.isnan(v)]
    longest, start = pd.Timedelta(0), None
    for i, value in enumerate(money):
        if value < 0 and start is None:
            start = i
        if start is not None and not value < 0:
            longest, start = max(longest, times[i - 1] - times[start]), None
    if start is not None:
        longest = max(longest, times[len(money) - 1] - times[start])
    return (min(known) if known else math.nan, min(known_pct) if known_pct else math.nan,
            longest)


def _same(got, expected) -> None:
    for a, b in zip(got[:2], expected[:2], strict=True):
        assert (math.isnan(a) and math.isnan(b)) or a == b
    assert got[2] == expected[2]


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
@pytest.mark.parametrize("seed", range(6))
def test_drawdown_stats_equal_the_plain_reading(seed, unit) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    money = np.where(rng.random(n) < 0.5, 0.0, -rng.random(n) * 100)
    money[rng.random(n) < 0.1] = np.nan  # curves read back from older runs may hold NaN
    pct = money / 10
    steps = rng.integers(1, 5, n).cumsum()  # uneven bars: the stretch is measured in time
    times = pd.DatetimeIndex(pd.to_datetime(steps, unit="m", utc=True)).as_unit(unit)
    got = _drawdown_stats(pd.Series(money, index=times), pd.Series(pct, index=times))
    _same(got, _plain(money, pct, times))


def test_drawdown_stats_of_a_curve_without_numbers_or_bars() -> None:
    times = pd.date_range("2024-01-01", periods=3, freq="1min", tz="UTC")
    nan = np.full(3, np.nan)
    _same(_drawdown_stats(pd.Series(nan, index=times), pd.Series(nan, index=times)),
          (math.nan, math.nan, pd.Timedelta(0)))
    empty = pd.DatetimeIndex([], tz="UTC")
    _same(_drawdown_stats(pd.Series([], index=empty, dtype=float),
                          pd.Series([], index=empty, dtype=float)),
          (math.nan, math.nan, pd.Timedelta(0)))
    below = np.array([-1.0, -2.0, -0.5])  # below the peak to the last bar
    _same(_drawdown_stats(pd.Series(below, index=times), pd.Series(below, index=times)),
          (-2.0, -2.0, pd.Timedelta(minutes=2)))
