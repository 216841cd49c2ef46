"""The features mean what their names say: recomputed by hand for real demo signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine import detect
from engine.candles import resample
from engine.learn.features import higher_timeframe, setup_parameters, signal_features
from engine.setups import compile_setup, parse_setup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"


def test_context_and_plan_features_by_hand(demo_candles) -> None:
    setup = parse_setup((EXAMPLES / "london-asia-sweep-fvg.yaml").read_text())
    candles = resample(demo_candles, "5m")
    compiled = compile_setup(setup, version=1)
    signals = compiled(candles, symbol="BTC/USDT")
    frame = signal_features(candles, signals, compiled)
    atr = detect.atr(candles, 14)
    checked = 0
    for i, signal in signals.iterrows():
        t = signal["known_at"]
        bar = candles.index.get_loc(t)
        row = frame.iloc[i]
        close = candles["close"].iloc[bar]
        day = t.normalize()
        previous = candles[(candles.index >= day - pd.Timedelta(days=1)) & (candles.index < day)]
        if len(previous):
            expected = (close - previous["high"].max()) / atr[bar]
            assert np.isclose(row["prev_day_high_atr"], expected, rtol=1e-12)
            expected = (close - previous["low"].min()) / atr[bar]
            assert np.isclose(row["prev_day_low_atr"], expected, rtol=1e-12)
            checked += 1
        assert row["weekday"] == t.weekday() and row["hour"] == t.hour
        assert np.isclose(row["stop_atr"], abs(signal["entry"] - signal["stop"]) / atr[bar])
        assert row["r_planned"] == signal["r_planned"] and row["direction"] == 1
        window = candles.iloc[max(0, bar - 19):bar + 1]
        assert np.isclose(row["range_atr"], (window["high"].max() - window["low"].min())
                          / atr[bar])
        # the 1h bar closed by this 5m bar's close, against its EMA(20)
        hourly = resample(candles, higher_timeframe("5m", None))
        closed = hourly[hourly.index + pd.Timedelta(hours=1) <= t + pd.Timedelta(minutes=5)]
        ema = detect.ema(hourly, 20)[len(closed) - 1]
        if np.isfinite(ema):
            assert row["htf_trend"] == np.sign(closed["close"].iloc[-1] - ema)
        # the last Asia-low sweep known at the signal: its depth below the level, in ATR
        sweeps = compiled.detections(candles)["asia_low_sweep"]
        known = sweeps[sweeps["known_at"] <= t].iloc[-1]
        depth = (known["bottom"] - known["extreme"]) / atr[bar]
        assert np.isclose(row["asia_low_sweep_depth_atr"], depth, rtol=1e-12)
        since = bar - candles.index.get_loc(known["known_at"])
        assert row["asia_low_sweep_bars_since"] == since
        assert row["asia_low_sweep_direction"] == 1  # a swept low: bullish
    assert checked >= 3


def test_the_setups_own_numbers_are_constant_columns() -> None:
    setup = parse_setup((EXAMPLES / "london-asia-sweep-fvg.yaml").read_text())
    params = setup_parameters(compile_setup(setup))
    assert params["param_bull_fvg_min_size_atr"] == 0.2
    assert params["param_asia_low_sweep_reclaim_bars"] == 3
    assert all(isinstance(v, float) for v in params.values())
