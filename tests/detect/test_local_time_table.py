"""Local wall-clock minutes from the per-zone, per-year offset tables equal pandas' tz_convert
on every bar, across DST changes, year ends, zones with half-hour offsets, and gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.candles import local_minutes


def _pandas(index: pd.DatetimeIndex, tz: str) -> np.ndarray:
    wall = index.tz_convert(tz).tz_localize(None).as_unit("ns").asi8
    return wall // 60_000_000_000


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London", "Asia/Kolkata",
                                "Australia/Lord_Howe", "UTC"])
@pytest.mark.parametrize(("start", "periods", "freq"), [
    ("2022-12-20", 60 * 24 * 400, "1min"),  # two year ends, four DST changes
    ("2023-03-12 06:50", 30, "1min"),  # a few bars around New York's spring change
    ("2023-10-29 00:55", 20, "1min"),  # London's autumn change
    ("1999-12-31 23:00", 500, "5min"),  # across a year end (and a century's)
    ("2020-01-01", 1500, "1D"),  # sparse: daily bars over four years
])
def test_local_minutes_equal_pandas(tz, start, periods, freq):
    index = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    rng = np.random.default_rng(periods)
    index = index[rng.random(len(index)) < 0.9]  # gaps
    got = local_minutes(index, tz)
    np.testing.assert_array_equal(got, _pandas(index, tz))
    assert not got.flags.writeable


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_other_units(unit):
    index = pd.date_range("2024-03-30", periods=5000, freq="1min", tz="UTC").as_unit(unit)
    np.testing.assert_array_equal(local_minutes(index, "Europe/London"),
                                  _pandas(index, "Europe/London"))


def test_unsorted_index_outside_the_first_and_last_times():
    times = pd.to_datetime(["2023-06-01 10:00", "2021-01-05 03:00", "2025-02-01 12:00",
                            "2023-06-01 10:01"], utc=True)
    index = pd.DatetimeIndex(times).append(pd.date_range("2023-06-01 10:02", periods=50,
                                                          freq="1min", tz="UTC"))
    np.testing.assert_array_equal(local_minutes(index, "America/New_York"),
                                  _pandas(index, "America/New_York"))
