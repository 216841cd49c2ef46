"""No look-ahead, for every detector: what is known at bar t does not depend on later bars.

For any cut t, the rows with ``known_i <= t`` computed on ``candles.iloc[:t+1]`` equal the same
rows computed on the full data, once the columns that arrive later (fills, mitigation) are
masked to what was known at t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import detect
from tests.detect._candles import random_candles

DETECTORS = {
    "fvg": lambda c: detect.detect_fvg(c),
    "fvg_atr": lambda c: detect.detect_fvg(c, min_size_atr=0.5, atr_period=5),
    "swings": lambda c: detect.detect_swings(c, length=3),
    "sessions": lambda c: detect.detect_sessions(c, sessions=["asia", "london", "new_york",
                                                              "london_kz"]),
    "previous_day": lambda c: detect.detect_previous_levels(c, period="day"),
    "previous_week_fx": lambda c: detect.detect_previous_levels(
        c, period="week", boundary="17:00", tz="America/New_York"),
    "equal_levels": lambda c: detect.detect_equal_levels(c, length=2, tolerance_pct=0.5),
    "structure": lambda c: detect.detect_structure(c, length=3),
    "order_blocks": lambda c: detect.detect_order_blocks(c, length=3),
    "sweeps_of_swings": lambda c: detect.detect_sweeps(c, detect.detect_swings(c, length=3),
                                                       reclaim_bars=2),
    "sweeps_of_sessions": lambda c: detect.detect_sweeps(
        c, detect.detect_sessions(c, sessions=["asia"]), reclaim_bars=3),
}


def known_by(frame: pd.DataFrame, t: int) -> pd.DataFrame:
    """Rows known at bar t, with later-arriving event columns masked to t."""
    rows = frame[frame["known_i"] <= t].copy()
    for column in rows.columns:
        if column.endswith("_i") and column not in ("at_i", "known_i", "level_i", "swing_i",
                                                     "first_i", "period_start_i", "high_i",
                                                     "low_i"):
            late = rows[column] > t
            rows.loc[late, column] = -1
            rows.loc[late, column[:-2] + "_at"] = pd.NaT
    return rows.reset_index(drop=True)


def assert_no_lookahead(detector, candles: pd.DataFrame, cuts) -> None:
    full = detector(candles)
    for t in cuts:
        cut = detector(candles.iloc[: t + 1])
        pd.testing.assert_frame_equal(known_by(cut, t), known_by(full, t),
                                      check_dtype=False, obj=f"cut at bar {t}")


@pytest.mark.parametrize("name", sorted(DETECTORS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), bars=st.integers(3, 400),
       freq=st.sampled_from(["1min", "15min", "1h"]), cut=st.floats(0, 1))
def test_no_lookahead_property(name: str, seed: int, bars: int, freq: str, cut: float) -> None:
    candles = random_candles(seed, bars, freq=freq)
    t = min(bars - 1, int(cut * bars))
    assert_no_lookahead(DETECTORS[name], candles, [t])


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_replay_over_demo_candles_rewrites_nothing(name: str, demo_candles) -> None:
    """Bar-by-bar replay on the real candles, sampled: 40 cut points across 3 weeks."""
    candles = demo_candles.iloc[:12_000]
    cuts = np.linspace(50, len(candles) - 2, 40).astype(int)
    assert_no_lookahead(DETECTORS[name], candles, cuts)


def test_indicators_never_change_past_values(demo_candles) -> None:
    candles = demo_candles.iloc[:3000]
    for fn in (lambda c: detect.ema(c, 50), lambda c: detect.rsi(c, 14),
               lambda c: detect.atr(c, 14), lambda c: detect.sma(c, 30)):
        full = fn(candles)
        for t in (10, 100, 1500, 2999):
            np.testing.assert_array_equal(fn(candles.iloc[: t + 1]), full[: t + 1])
