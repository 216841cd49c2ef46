"""Higher timeframes are built only from periods the source covers completely: the hour still
forming and an hour cut at the start are left out (or flagged with ``partial=True``), and a
complete bar never changes when more source bars arrive."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.adapters.store import CandleStore
from engine.candles import COLUMNS, PARTIAL, resample


def _minutes(start: str, count: int) -> pd.DataFrame:
    index = pd.date_range(start, periods=count, freq="1min", tz="UTC", name="time")
    price = np.arange(count, dtype=np.float64) + 100
    return pd.DataFrame({"open": price, "high": price + 1, "low": price - 1, "close": price,
                         "volume": 1.0}, index=index.as_unit("ns"))


def test_the_forming_hour_is_not_a_bar() -> None:
    candles = _minutes("2024-01-01 09:00", 67)  # 09:00 .. 10:06: the 10:00 hour has 7 minutes
    hourly = resample(candles, "1h")
    assert hourly.index.tolist() == [pd.Timestamp("2024-01-01 09:00", tz="UTC")]
    assert list(hourly.columns) == list(COLUMNS)
    flagged = resample(candles, "1h", partial=True)
    assert flagged[PARTIAL].tolist() == [False, True]
    assert flagged[PARTIAL].dtype == bool
    assert flagged["volume"].tolist() == [60.0, 7.0]


def test_an_hour_cut_at_the_start_is_not_a_bar() -> None:
    candles = _minutes("2024-01-01 09:30", 90)  # 09:30 .. 10:59
    assert resample(candles, "1h").index.tolist() == [pd.Timestamp("2024-01-01 10:00",
                                                                   tz="UTC")]
    assert resample(candles, "1h", partial=True)[PARTIAL].tolist() == [True, False]


def test_a_gap_inside_a_period_keeps_it_a_bar_but_a_gap_at_the_end_does_not() -> None:
    candles = _minutes("2024-01-01 09:00", 180).drop(
        pd.date_range("2024-01-01 09:40", "2024-01-01 10:20", freq="1min", tz="UTC"))
    # 09:00 ends in an outage, 10:00 starts in it: both are closed, the data goes on after
    assert len(resample(candles, "1h", source_timeframe="1m")) == 3
    ends_in_gap = candles[candles.index < "2024-01-01 11:45"]
    assert resample(ends_in_gap, "1h", source_timeframe="1m", partial=True)[
        PARTIAL].tolist() == [False, False, True]


def test_a_gap_makes_the_inferred_bar_length_too_long_so_it_can_be_given() -> None:
    candles = _minutes("2024-01-01 09:00", 60).iloc[[0, 30]]  # 1m bars, 30 minutes apart
    assert resample(candles, "1h", partial=True)[PARTIAL].tolist() == [False]  # 30m guessed
    assert resample(candles, "1h", source_timeframe="1m", partial=True)[
        PARTIAL].tolist() == [True]
    assert len(resample(candles.iloc[:1], "1h")) == 0  # one bar of unknown length


def test_a_daily_bar_in_new_york_needs_the_whole_day(demo_candles) -> None:
    candles = demo_candles.loc["2023-03-10 12:00":"2023-03-14 21:59"]  # ends 17:59 New York
    daily = resample(candles, "1d", day_boundary="17:00", day_tz="America/New_York",
                     partial=True)
    # the first day started at 17:00 on the 9th, the last one (from 17:00 on the 14th) has
    # one hour; the 12th, the DST day, is 23 hours and complete
    assert daily[PARTIAL].tolist() == [True, False, False, False, False, True]
    assert daily.index[1] == pd.Timestamp("2023-03-10 22:00", tz="UTC")
    assert daily["volume"].iloc[1:-1].gt(0).all()


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(1, 3000), timeframe=st.sampled_from(["5m", "15m", "1h", "4h"]))
def test_a_complete_bar_never_changes_when_more_bars_arrive(cut, timeframe,
                                                            demo_candles) -> None:
    full = resample(demo_candles.iloc[:3000], timeframe)
    part = resample(demo_candles.iloc[:cut], timeframe)
    pd.testing.assert_frame_equal(part, full.loc[part.index])
    period = pd.Timedelta(timeframe)
    assert (part.index + period <= demo_candles.index[cut - 1] + pd.Timedelta("1min")).all()


def test_store_reads_of_a_higher_timeframe_leave_out_the_forming_bar(tmp_path,
                                                                     demo_candles) -> None:
    store = CandleStore(tmp_path)
    store.upsert(demo_candles.iloc[:127], source="x", symbol="S", timeframe="1m")  # 2h 7m
    hourly = store.read("S", "1h")
    assert len(hourly) == 2 and PARTIAL not in hourly.columns
    flagged = store.read("S", "1h", partial=True)
    assert flagged[PARTIAL].tolist() == [False, False, True]
    assert len(store.read("S", "1h", start=demo_candles.index[30])) == 1  # 00:30 cuts hour 0
    assert store.read("S", "1m", partial=True)[PARTIAL].eq(False).all()
