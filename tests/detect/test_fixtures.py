"""Tiny hand-made cases whose answer is obvious on paper, one or more per detector."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from engine import detect
from tests.detect._candles import candles_from


def test_bullish_fvg_zone_and_fills() -> None:
    # bar0 high 10, bar2 low 12 -> gap [10, 12]; bar4 touches 12, bar5 reaches 11, bar6 fills 10
    high = [10, 13, 14, 15, 14, 13, 12]
    low = [9, 10.5, 12, 13, 11.9, 11, 9.5]
    found = detect.detect_fvg(candles_from(high, low))
    row = found[found["at_i"] == 1].iloc[0]
    assert (row["direction"], row["bottom"], row["top"], row["known_i"]) == (1, 10, 12, 2)
    assert (row["touched_i"], row["half_filled_i"], row["filled_i"]) == (4, 5, 6)


def test_bearish_fvg_and_minimum_size() -> None:
    high = [20, 19, 17, 16]
    low = [18, 16, 15, 14]
    found = detect.detect_fvg(candles_from(high, low))
    row = found.iloc[0]
    assert (row["direction"], row["top"], row["bottom"], row["at_i"]) == (-1, 18, 17, 1)
    assert detect.detect_fvg(candles_from(high, low), min_size=1.5).empty


def test_fvg_unfilled_stays_open() -> None:
    found = detect.detect_fvg(candles_from([1, 2, 3, 4, 5], [0.5, 1.5, 2.5, 3.5, 4.5]))
    assert (found["filled_i"] == -1).all() and found["filled_at"].isna().all()


def test_swing_high_known_k_bars_after_pivot() -> None:
    high = [1, 2, 5, 3, 2, 1, 0.5]
    low = [h - 0.5 for h in high]
    swings = detect.detect_swings(candles_from(high, low), length=2)
    top = swings[swings["kind"] == "swing_high"].iloc[0]
    assert (top["at_i"], top["known_i"], top["top"]) == (2, 4, 5)


def test_swing_tie_rule_left_strict_right_inclusive() -> None:
    # equal highs at bars 2 and 3: bar 2 is a pivot (later equal allowed), bar 3 is not
    high = [1, 2, 5, 5, 2, 1, 1]
    swings = detect.detect_swings(candles_from(high, [h - 1 for h in high]), length=2)
    assert swings[swings["kind"] == "swing_high"]["at_i"].tolist() == [2]


def _zigzag() -> pd.DataFrame:
    """Closes along a zigzag, wicks of 0.5: highs at bars 2 (10), 9 (12), 13 (11); lows at
    bars 5 (5) and 11 (8)."""
    path = np.array([7, 8, 10, 8, 6, 5, 6, 8, 11, 12, 10, 8, 9, 11, 9, 7, 4, 3.0])
    return candles_from(path + 0.5, path - 0.5, close=path, open_=np.r_[path[0], path[:-1]])


def test_bos_then_choch_at_the_breaking_candle() -> None:
    breaks = detect.detect_structure(_zigzag(), length=2)
    rows = breaks[["at_i", "known_i", "kind", "direction", "top", "swing_i"]]
    # bar 8 closes at 11 above the swing high 10.5 (pivot bar 2): bullish break of structure;
    # bar 15 closes at 7 below the swing low 7.5 (pivot 11, known at 13): change of character
    assert rows.values.tolist() == [[8, 8, "bos", 1, 10.5, 2], [15, 15, "choch", -1, 7.5, 11]]


def test_order_blocks_last_opposite_candle_with_mitigation() -> None:
    blocks = detect.detect_order_blocks(_zigzag(), length=2)
    rows = blocks[["at_i", "known_i", "direction", "top", "bottom", "mitigated_i",
                   "invalidated_i"]]
    # bullish: the down candle at bar 5 (the low of the leg), traded into again at bar 16,
    # which also closes below it; bearish: the up candle at bar 13, never revisited
    assert rows.values.tolist() == [[5, 8, 1, 5.5, 4.5, 16, 16],
                                    [13, 15, -1, 11.5, 10.5, -1, -1]]


def test_london_session_moves_with_uk_daylight_saving() -> None:
    # UK clocks moved on Sunday 26 March 2023: London opens 08:00 UTC before, 07:00 UTC after
    index = pd.date_range("2023-03-24", "2023-03-29", freq="15min", tz="UTC", inclusive="left")
    c = candles_from(np.full(len(index), 2.0), np.full(len(index), 1.0), start=index[0],
                     freq="15min")
    london = detect.detect_sessions(c, sessions=["london"])
    starts = [t.strftime("%m-%d %H:%M") for t in london["at"]]
    assert starts == ["03-24 08:00", "03-25 08:00", "03-26 07:00", "03-27 07:00", "03-28 07:00"]
    assert london["known_at"].iloc[0] == pd.Timestamp("2023-03-24 16:15", tz="UTC")


def test_new_york_and_asia_follow_us_daylight_saving() -> None:
    # US clocks moved on 12 March 2023: New York 08:00 local is 13:00 UTC before, 12:00 after
    index = pd.date_range("2023-03-09 12:00", periods=4 * 24 * 5, freq="15min", tz="UTC")
    mask = detect.session_mask(index, "new_york")
    opens = index[mask & ~np.r_[False, mask[:-1]]]
    assert [t.strftime("%m-%d %H:%M") for t in opens] == [
        "03-09 13:00", "03-10 13:00", "03-11 13:00", "03-12 12:00", "03-13 12:00"]
    asia = detect.session_mask(pd.DatetimeIndex(["2023-03-10 01:00", "2023-03-14 00:00",
                                                 "2023-03-14 04:00"], tz="UTC"), "asia")
    assert asia.tolist() == [True, True, False]  # 20:00-24:00 NY = 01-05 UTC, then 00-04 UTC


def test_session_with_a_gap_is_known_at_the_next_bar() -> None:
    index = pd.DatetimeIndex(["2024-01-02 08:00", "2024-01-02 09:00", "2024-01-02 18:00"],
                             tz="UTC")
    c = candles_from([2, 3, 1], [1, 2, 0.5], start=index[0]).set_axis(index.rename("time"))
    london = detect.detect_sessions(c, sessions=["london"], bar_length=60)
    assert london[["at_i", "known_i", "top", "bottom"]].values.tolist() == [[0, 2, 3, 1]]


def test_previous_day_high_low_known_at_day_close() -> None:
    c = candles_from([5, 7, 6, 4, 9, 3], [4, 5, 5, 2, 8, 2], start="2024-01-01 00:00",
                     freq="8h")
    levels = detect.detect_previous_levels(c, period="day")
    rows = levels[["kind", "top", "at_i", "known_i"]].values.tolist()
    assert rows == [["pdl", 4, 0, 2], ["pdh", 7, 1, 2], ["pdl", 2, 3, 5], ["pdh", 9, 4, 5]]


def test_fx_day_starts_at_five_pm_new_york() -> None:
    # 16:00 and 17:00 NY (21:00 and 22:00 UTC in January) belong to different FX days
    c = candles_from([1, 2, 3], [0, 1, 2], start="2024-01-08 21:00", freq="1h")
    levels = detect.detect_previous_levels(c, period="day", boundary="17:00",
                                           tz="America/New_York")
    assert levels.empty  # the day ending 17:00 began before the data: not a complete day
    c = candles_from(np.arange(1.0, 27.0), np.arange(0.0, 26.0), start="2024-01-08 22:00",
                     freq="1h")
    levels = detect.detect_previous_levels(c, period="day", boundary="17:00",
                                           tz="America/New_York")
    assert levels["known_at"].iloc[0] == pd.Timestamp("2024-01-09 21:00", tz="UTC")
    assert levels[levels["kind"] == "pdh"]["top"].iloc[0] == 24.0


def test_equal_highs_within_tolerance() -> None:
    high = [1, 2, 10, 3, 2, 3, 10.004, 2, 1, 0.5]
    levels = detect.detect_equal_levels(candles_from(high, [h - 0.5 for h in high]), length=2,
                                        tolerance_pct=0.1)
    row = levels[levels["kind"] == "equal_highs"].iloc[0]
    assert (row["first_i"], row["at_i"], row["known_i"], row["top"]) == (2, 6, 8, 10.004)
    strict = detect.detect_equal_levels(candles_from(high, [h - 0.5 for h in high]), length=2,
                                        tolerance_pct=0.01)
    assert (strict["kind"] == "equal_highs").sum() == 0


def test_sweep_of_a_swing_low_needs_a_close_back_above() -> None:
    # swing low 5 at bar 2 (known at bar 4); bar 6 trades to 4.5 and closes 5.5: swept
    low = [7, 6, 5, 6, 6.5, 6.2, 4.5, 6]
    high = [8, 7, 6, 7, 7.5, 7, 6, 7]
    close = [7.5, 6.5, 5.5, 6.5, 7, 6.5, 5.5, 6.5]
    c = candles_from(high, low, close=close, open_=close)
    levels = detect.detect_swings(c, length=2)
    sweeps = detect.detect_sweeps(c, levels[levels["kind"] == "swing_low"], reclaim_bars=1)
    row = sweeps.iloc[0]
    assert (row["direction"], row["bottom"], row["extreme"], row["known_i"]) == (1, 5, 4.5, 6)
    close_below = [7.5, 6.5, 5.5, 6.5, 7, 6.5, 4.8, 4.6]
    c = candles_from(high, low, close=close_below, open_=close_below)
    assert detect.detect_sweeps(c, levels[levels["kind"] == "swing_low"]).empty


def test_sweep_reclaim_window_and_consumed_level() -> None:
    levels = pd.DataFrame({"known_i": [0], "at_i": [0], "direction": [1], "top": [10.0],
                           "bottom": [10.0], "kind": ["pdh"]})
    # bar 1 breaks 10 and closes above; bar 2 closes back below: a sweep within 2 bars only
    c = candles_from([9, 11, 10.5, 12], [8, 9.5, 9, 9], close=[8.5, 10.5, 9.5, 9.5])
    assert detect.detect_sweeps(c, levels, reclaim_bars=1).empty
    swept = detect.detect_sweeps(c, levels, reclaim_bars=2)
    assert swept[["at_i", "known_i", "direction", "extreme"]].values.tolist() == [[1, 2, -1, 11]]


@pytest.mark.parametrize("name,reference", [
    ("ema", lambda c: talib.EMA(c["close"].to_numpy(), 50)),
    ("sma", lambda c: talib.SMA(c["close"].to_numpy(), 50)),
    ("rsi", lambda c: talib.RSI(c["close"].to_numpy(), 50)),
    ("atr", lambda c: talib.ATR(c["high"].to_numpy(), c["low"].to_numpy(),
                                c["close"].to_numpy(), 50)),
])
def test_indicators_equal_talib(name, reference, demo_candles) -> None:
    ours = getattr(detect, name)(demo_candles, 50)
    np.testing.assert_allclose(ours, reference(demo_candles), rtol=0, atol=1e-9)
    assert np.isnan(ours[:10]).all() and not np.isnan(ours[-1])


def test_ema_by_hand() -> None:
    c = candles_from([1, 2, 3, 4], [1, 2, 3, 4], close=[1, 2, 3, 4])
    # seed = SMA(3) of 1, 2, 3 = 2; next = 2 + 0.5 * (4 - 2) = 3
    np.testing.assert_allclose(detect.ema(c, 3), [np.nan, np.nan, 2, 3])
