"""Labels: each signal simulated alone equals the backtester's trade wherever the one-position
rule let the signal through; the signals it skipped get their own outcome too."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.alone import simulate_alone
from engine.backtest.simulate import Costs, Sizing, simulate
from tests.backtest.test_no_lookahead import ideas, make_signals, random_bars


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 60), drawn=ideas,
       gap_entry=st.sampled_from(["fill", "skip"]))
def test_alone_equals_the_backtesters_trades(seed, n, drawn, gap_entry) -> None:
    candles = random_bars(seed, n)
    signals = make_signals(candles, drawn)
    costs = Costs(5, 3)
    taken = simulate(candles, signals, costs=costs, sizing=Sizing("risk_percent", 1.0),
                     gap_entry=gap_entry).trades
    alone = simulate_alone(candles, signals, costs=costs, gap_entry=gap_entry)
    assert len(alone) == len(signals)
    # a signal the backtester traded is the first signal on its bar that trades alone
    bars = signals["known_at"]
    for _, trade in taken.iterrows():
        rows = alone[(bars == trade["signal_time"]).to_numpy() & (alone["status"] == "trade")]
        row = rows.iloc[0]
        assert row["entry_time"] == trade["entry_time"]
        assert row["exit_time"] == trade["exit_time"]
        assert row["exit_reason"] == trade["exit_reason"]
        assert np.isclose(row["r_net"], trade["r_net"], rtol=1e-9, atol=1e-12)
        assert np.isclose(row["r_gross"], trade["r_gross"], rtol=1e-9, atol=1e-12)
    assert (alone["status"] == "trade").sum() >= len(taken)


def test_a_skipped_signal_gets_its_own_outcome() -> None:
    candles = random_bars(3, 40)
    drawn = [(0.1, 1, False, 0.0, 0.5, 0.9, 0, 0, np.nan, np.nan),
             (0.2, 1, False, 0.0, 0.5, 0.9, 0, 0, np.nan, np.nan)]
    signals = make_signals(candles, drawn)
    taken = simulate(candles, signals).trades
    alone = simulate_alone(candles, signals)
    assert len(taken) == 1  # the second arrived while the first was open
    assert list(alone["status"]) == ["trade", "trade"]
    assert alone["entry_time"].iloc[1] > alone["entry_time"].iloc[0]
