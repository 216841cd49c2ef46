"""Agreement with smartmoneyconcepts (test-only peer) on the real demo candles.

Where the definitions are equal the answers are equal. Where they differ, these tests show
exactly where and why: smartmoneyconcepts marks swings, structure breaks and order blocks with
bars that lie in the future of the mark; ITA marks them when they are known.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("SMC_CREDIT", "0")
smc = pytest.importorskip("smartmoneyconcepts").smc

from engine import detect  # noqa: E402

BARS = 6000
LENGTH = 5


@pytest.fixture(scope="module")
def candles(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[:BARS]


@pytest.fixture(scope="module")
def ohlc(candles) -> pd.DataFrame:
    return candles.reset_index(drop=True)


@pytest.fixture(scope="module")
def smc_swings(ohlc) -> pd.DataFrame:
    return smc.swing_highs_lows(ohlc, swing_length=LENGTH)


def test_fvg_equal_where_the_definitions_are_equal(candles, ohlc) -> None:
    """smc also requires the middle candle to close in the gap's direction; ITA records that
    as `middle_direction`. With that filter both find exactly the same gaps."""
    ours = detect.detect_fvg(candles)
    ours = ours[ours["middle_direction"] == ours["direction"]]
    theirs = smc.fvg(ohlc).dropna(subset=["FVG"])
    assert len(theirs) > 1000
    assert ours["at_i"].tolist() == theirs.index.tolist()
    assert ours["direction"].tolist() == theirs["FVG"].astype(int).tolist()
    np.testing.assert_array_equal(ours["top"].to_numpy(), theirs["Top"].to_numpy())
    np.testing.assert_array_equal(ours["bottom"].to_numpy(), theirs["Bottom"].to_numpy())
    # ...but smc reports each gap at the middle candle, one bar before it can be known
    assert (ours["known_i"] == ours["at_i"] + 1).all()


def test_previous_day_high_low_equal(candles, ohlc) -> None:
    theirs = smc.previous_high_low(ohlc.set_index(candles.index.tz_localize(None)),
                                    time_frame="1D")
    levels = detect.detect_previous_levels(candles, period="day")
    highs = levels[levels["kind"] == "pdh"]
    ours = pd.Series(np.nan, index=range(len(candles)))
    ours.iloc[highs["known_i"].to_numpy() + 1] = highs["top"].to_numpy()
    ours = ours.ffill()
    # smc looks up "the period before the previous start" at each day's first bar (it shows the
    # high of two days ago there); every other bar must agree (smc stores float32)
    not_day_start = (candles.index.hour != 0) | (candles.index.minute != 0)
    both = not_day_start & ours.notna().to_numpy()
    assert both.sum() > 4000
    np.testing.assert_allclose(theirs["PreviousHigh"].to_numpy()[both], ours.to_numpy()[both],
                               rtol=1e-6)


def test_swings_are_smc_pivots_known_length_bars_later(candles, ohlc, smc_swings) -> None:
    """Every ITA swing satisfies smc's own pivot condition (a centred window, ties allowed);
    ITA publishes it `length` bars after the pivot, when the window has closed. smc publishes
    it at the pivot bar, using the next bars, and later deletes the lower of two consecutive
    highs — a deletion that depends on pivots still to come."""
    ours = detect.detect_swings(candles, length=LENGTH)
    window = 2 * LENGTH
    raw_high = ohlc["high"] == ohlc["high"].shift(-LENGTH).rolling(window).max()
    raw_low = ohlc["low"] == ohlc["low"].shift(-LENGTH).rolling(window).min()
    full_window = (ours["at_i"] >= window) & (ours["at_i"] < len(ohlc) - LENGTH)
    highs = ours[full_window & (ours["kind"] == "swing_high")]["at_i"].to_numpy()
    lows = ours[full_window & (ours["kind"] == "swing_low")]["at_i"].to_numpy()
    assert raw_high.to_numpy()[highs].all() and raw_low.to_numpy()[lows].all()
    assert (ours["known_i"] - ours["at_i"] == LENGTH).all()
    final = set(np.flatnonzero(smc_swings["HighLow"].to_numpy() == 1))
    shared = final.intersection(highs)
    assert len(shared) / len(final) > 0.6


def test_structure_breaks_same_candle_but_smc_marks_the_swing(candles, ohlc,
                                                               smc_swings) -> None:
    theirs = smc.bos_choch(ohlc, smc_swings, close_break=True).dropna(subset=["BrokenIndex"])
    direction = theirs["BOS"].fillna(0) + theirs["CHOCH"].fillna(0)
    theirs = theirs[direction != 0]
    direction = direction[direction != 0]
    # smc writes each break on the row of the broken swing, before the break happened
    assert (theirs.index < theirs["BrokenIndex"]).all()
    ours = detect.detect_structure(candles, length=LENGTH)
    breaks = set(zip(ours["at_i"], ours["direction"], strict=True))
    same = [(int(b), int(d)) in breaks
            for b, d in zip(theirs["BrokenIndex"], direction, strict=True)]
    # the breaking candle agrees for most; the rest come from smc's different swing set
    assert np.mean(same) > 0.85
    assert (ours["at_i"] == ours["known_i"]).all()


def test_order_blocks_smc_marks_before_the_break(candles, ohlc, smc_swings) -> None:
    theirs = smc.ob(ohlc, smc_swings).dropna(subset=["OB"])
    ours = detect.detect_order_blocks(candles, length=LENGTH)
    # ITA's block is known at the structure break, after the block candle; smc shows its
    # blocks on the block candle itself
    assert (ours["known_i"] > ours["at_i"]).all()
    breaks = detect.detect_structure(candles, length=LENGTH)
    for index, row in theirs.iterrows():
        later = breaks[(breaks["at_i"] > index) & (breaks["direction"] == row["OB"])]
        assert not later.empty, f"smc order block at bar {index} has no later break"
