"""The benchmark harness times ITA and its peers alike: every call gets a candle frame of its
own, built outside the timer, so no cache keyed on a frame or its index survives a repetition."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench._common import fresh, fresh_copy, measure, synthetic_candles


def test_every_call_gets_a_freshly_built_frame():
    candles = synthetic_candles(500)
    seen: list[pd.DataFrame] = []
    measure(seen.append, make_input=fresh(candles), warmup=2, repeat=3)
    assert len(seen) == 5
    for i, frame in enumerate(seen):
        pd.testing.assert_frame_equal(frame, candles, check_freq=False)
        for other in [candles, *seen[:i]]:
            assert frame.index is not other.index
            assert not np.shares_memory(frame.index.asi8, other.index.asi8)
            assert not np.shares_memory(frame.to_numpy(), other.to_numpy())


def test_building_the_input_is_not_timed():
    def slow_input():
        time.sleep(0.2)
        return 1

    assert measure(lambda x: x, make_input=slow_input, warmup=1, repeat=2) < 0.1


def test_a_fresh_copy_shares_no_cache_with_the_original():
    candles = synthetic_candles(500)
    assert candles.index.is_monotonic_increasing  # fills pandas' cache on the index
    copy = fresh_copy(candles)
    assert copy.index._cache is not candles.index._cache
    assert str(copy.index.tz) == "UTC" and copy.index.name == candles.index.name


def test_a_fresh_copy_keeps_a_zone_and_a_naive_index():
    candles = synthetic_candles(100)
    for index in (candles.index.tz_convert("America/New_York"), candles.index.tz_localize(None)):
        frame = candles.set_axis(index)
        assert fresh_copy(frame).index.equals(frame.index)
        assert fresh_copy(frame).index.tz == frame.index.tz
