"""A position with only a stop and a target is held by a price scan up to the first bar that
reaches either (`engine.backtest._kernel._quiet_bars_nb`), every other plan by the bar-by-bar
loop. Both give the same trades, equity and counters: a breakeven level or a time exit that
is never reached changes nothing, so the same signals with one (bar-by-bar loop) and without
(scan) must simulate identically, for market and limit entries, longs and shorts, with and
without the target on the fill bar and with trades still open at the end of the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.setups import compile_setup, parse_setup

SETUPS = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))
NEVER = 1e9  # R or bars: never reached


def _same(candles, signals, **options) -> None:
    plain = signals.assign(breakeven_r=np.nan, time_exit_bars=0, partial_r=np.nan,
                           partial_fraction=0.0)
    looped = plain.assign(breakeven_r=NEVER)  # a level never reached: the bar-by-bar loop
    timed = plain.assign(time_exit_bars=np.int32(2**30))
    a = simulate(candles, plain, costs=Costs(5, 2), sizing=Sizing(), **options)
    for other in (looped, timed):
        b = simulate(candles, other, costs=Costs(5, 2), sizing=Sizing(), **options)
        pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
        pd.testing.assert_frame_equal(a.equity, b.equity, check_exact=True)
        assert a.counters == b.counters
    assert len(a.trades) > 0


@pytest.mark.parametrize("path", SETUPS, ids=lambda p: p.stem)
def test_stop_and_target_only_scan_equals_the_bar_by_bar_loop(path, demo_candles) -> None:
    candles = demo_candles.copy()
    signals = compile_setup(parse_setup(path.read_text()))(candles, symbol="BTC/USDT",
                                                          explain=False)
    if signals.empty:
        pytest.skip(f"{path.stem}: no signals on the demo candles")
    _same(candles, signals)
    _same(candles, signals, target_on_entry_bar=False, end_exit="open")


def test_limit_entries_and_an_open_trade_at_the_end(demo_candles) -> None:
    """Limit orders (the target is never taken on their fill bar, the stop is) on both sides,
    some stopped on their fill bar, and a last trade whose stop and target are never reached
    (closed at the end of the data)."""
    candles = demo_candles.iloc[:6_000].copy()
    close = candles["close"].to_numpy()
    bars = np.arange(40, 5_900, 97)
    direction = np.where(np.arange(len(bars)) % 2 == 0, 1, -1).astype(np.int8)
    entry = close[bars] * (1 - direction * 0.0005)
    width = np.where(np.arange(len(bars)) % 3 == 0, 0.0001, 0.004)  # tight: out on the fill bar
    stop = entry * (1 - direction * width)
    target = entry * (1 + direction * 1.5 * width)
    last = len(bars) - 1
    stop[last], target[last] = entry[last] * (1 - direction[last] * 0.9), entry[last] * (
        1 + direction[last] * 9.0)
    signals = pd.DataFrame({
        "known_at": candles.index[bars], "symbol": "BTC/USDT", "direction": direction,
        "entry_type": "limit", "entry": entry, "stop": stop, "target": target,
        "r_planned": 1.5, "expiry_bars": 20, "time_exit_bars": 0, "breakeven_r": np.nan,
        "partial_r": np.nan, "partial_fraction": 0.0, "setup_id": "t", "setup_version": 1,
        "reasons": "[]"})
    _same(candles, signals)
    trades = simulate(candles, signals, costs=Costs(5, 2), sizing=Sizing()).trades
    assert trades["exit_reason"].iloc[-1] == "end"
    assert {"stop", "target"} <= set(trades["exit_reason"])
    assert (trades["entry_time"] == trades["exit_time"]).sum() >= 5  # stopped on the fill bar
