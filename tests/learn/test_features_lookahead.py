"""No look-ahead in the features: for a few random cuts t, the features of the signals known
by bar t are identical, bit for bit, when the candles after t are removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.candles import resample
from engine.learn.features import FEATURE_SET, signal_features
from engine.setups import compile_setup, parse_setup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"
CASES = {"sma-cross": 12000, "london-asia-sweep-fvg": None, "bos-order-block-retest": None,
         "pdh-sweep-reversal": None}


def features_of(setup, candles):
    compiled = compile_setup(setup, version=1)
    signals = compiled(candles, symbol="BTC/USDT", explain=False)
    return signals, signal_features(candles, signals, compiled)


@pytest.mark.parametrize("name", sorted(CASES))
def test_features_known_by_a_cut_do_not_change_when_later_bars_go(name, demo_candles) -> None:
    setup = parse_setup((EXAMPLES / f"{name}.yaml").read_text())
    candles = demo_candles if setup.market.timeframe == "1m" else resample(
        demo_candles, setup.market.timeframe)
    if CASES[name]:
        candles = candles.iloc[:CASES[name]]
    signals, full = features_of(setup, candles)
    assert len(signals) >= 3, "the case must have signals to compare"
    assert full.notna().any().all() or name != "sma-cross"
    rng = np.random.default_rng(13)
    bars = np.searchsorted(candles.index, signals["known_at"])
    # cuts on a signal bar (the edge), and at random places
    cuts = {int(bars[len(bars) // 2]), int(bars[-1])} | set(
        rng.integers(bars[0], len(candles), 3).tolist())
    for t in sorted(cuts):
        cut_signals, cut = features_of(setup, candles.iloc[:t + 1])
        known = (bars <= t)
        assert known.sum() == len(cut_signals), t
        pd.testing.assert_frame_equal(full[known].reset_index(drop=True), cut,
                                      check_exact=True, obj=f"{name} features at cut {t}")


def test_every_feature_is_a_float_and_the_set_is_named(demo_candles) -> None:
    setup = parse_setup((EXAMPLES / "london-asia-sweep-fvg.yaml").read_text())
    _, frame = features_of(setup, resample(demo_candles, "5m"))
    assert FEATURE_SET == "features_v1"
    assert all(str(t) == "float64" for t in frame.dtypes)
    for column in ("sweep_depth_atr", "session_london", "kill_zone", "prev_day_high_atr",
                   "htf_trend", "htf_slope_atr", "atr_percentile", "relative_volume",
                   "stop_atr", "r_planned", "weekday", "hour", "session_minutes"):
        assert any(c == column or c.endswith("_" + column) for c in frame.columns), column
    assert frame["prev_day_high_atr"].notna().sum() > 0
    assert frame["htf_trend"].dropna().isin([-1.0, 0.0, 1.0]).all()


RANDOM_SETUP = """
schema_version: 1
id: random-structure
name: Structure after a swing sweep, with a 1h context
market: {symbols: [SYN/USD], timeframe: 5m, context_timeframe: 1h}
conditions:
  sweep: {detector: sweep, of: swing, side: low, length: 3, reclaim_bars: 3}
  bos: {detector: structure, direction: bullish, length: 3}
  trend: {detector: ma_trend, period: 10, direction: bullish, timeframe: context}
signal: {all: [trend, {any: [sweep, bos]}]}
direction: long
plan:
  entry: {type: limit, level: bos.level, expiry_bars: 6}
  stop: {percent: 0.4}
  target: {r_multiple: 1.5}
risk: {percent: 0.5}
costs: {fee_bps: 5.0, slippage_bps: 2.0}
"""


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), where=st.lists(st.floats(0.05, 1.0), min_size=1,
                                                   max_size=3))
def test_random_markets_and_cuts(seed, where) -> None:
    from bench._common import synthetic_candles

    setup = parse_setup(RANDOM_SETUP)
    candles = resample(synthetic_candles(5 * 1440, seed=seed), "5m")
    signals, full = features_of(setup, candles)
    assert len(signals) >= 5 and full["htf_trend"].notna().any()
    bars = np.searchsorted(candles.index, signals["known_at"])
    for fraction in where:
        t = min(len(candles) - 1, int(fraction * len(candles)))
        _, cut = features_of(setup, candles.iloc[:t + 1])
        pd.testing.assert_frame_equal(full[bars <= t].reset_index(drop=True), cut,
                                      check_exact=True, obj=f"features at cut {t}")
