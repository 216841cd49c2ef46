"""No look-ahead in the simulator: what has happened by bar t does not depend on later bars.

For random signals (market and limit, long and short, expiries, time exits, breakeven and
partial exits) on random bars with gaps, and any cut t: the trades begun by bar t are the same
(signal, entry bar and price, size, direction) when the candles stop at t, and the trades the
rules closed by bar t are the same in every field. Every signal is a trade or counted once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.signals import conform_signals

BEGUN = ["signal_time", "entry_time", "entry_price", "size", "direction"]
SKIPS = ("skipped_in_position", "skipped_order_working", "unfilled_or_invalid",
         "no_bar_to_fill", "known_after_data")


def random_bars(seed: int, n: int) -> pd.DataFrame:
    """A random walk whose opens sometimes gap far from the previous close."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    gaps = np.where(rng.random(n) < 0.15, rng.normal(0, 0.03, n), rng.normal(0, 0.002, n))
    open_ = np.r_[100.0, close[:-1]] * np.exp(gaps)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, n)))
    index = pd.date_range("2024-01-01", periods=n, freq="15min", tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": 1.0}, index=index)


ideas = st.lists(st.tuples(
    st.floats(0, 1),  # where in the data (fraction of the bars)
    st.sampled_from([1, -1]), st.booleans(),  # direction, limit?
    st.floats(0.0, 0.02), st.floats(0.002, 0.04), st.floats(0.004, 0.08),  # offsets
    st.integers(0, 10), st.integers(0, 5),  # expiry, time exit
    st.sampled_from([np.nan, 0.5, 1.0]), st.sampled_from([np.nan, 0.7]),  # breakeven, partial
), min_size=1, max_size=12)


def make_signals(candles: pd.DataFrame, drawn) -> pd.DataFrame:
    rows = []
    for where, d, limit, offset, stop, target, expiry, time_exit, be, partial in drawn:
        bar = min(int(where * len(candles)), len(candles) - 1)
        close = candles["close"].iloc[bar]
        entry = close * (1 - d * offset) if limit else close
        rows.append({"known_at": candles.index[bar], "symbol": "X", "direction": d,
                     "entry_type": "limit" if limit else "market", "entry": entry,
                     "stop": entry * (1 - d * stop), "target": entry * (1 + d * target),
                     "r_planned": target / stop, "expiry_bars": expiry if limit else 0,
                     "time_exit_bars": time_exit, "breakeven_r": be, "partial_r": partial,
                     "partial_fraction": 0.5, "setup_id": "p", "setup_version": 1,
                     "reasons": "[]"})
    return conform_signals(pd.DataFrame(rows))


def same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Equal row for row and bit for bit (two empty frames are equal whatever their dtypes)."""
    assert len(ours) == len(theirs)
    if len(ours):
        pd.testing.assert_frame_equal(ours.reset_index(drop=True),
                                      theirs.reset_index(drop=True), check_exact=True)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 40), drawn=ideas,
       gap_entry=st.sampled_from(["fill", "skip"]),
       sizing=st.sampled_from([Sizing("risk_percent", 2.0), Sizing("fixed_cash", 3_000),
                               Sizing("fixed_size", 1.0)]))
def test_trades_up_to_bar_t_do_not_depend_on_later_bars(seed, n, drawn, gap_entry,
                                                         sizing) -> None:
    candles = random_bars(seed, n)
    signals = make_signals(candles, drawn)
    options = {"costs": Costs(5, 3), "sizing": sizing, "gap_entry": gap_entry}
    full = simulate(candles, signals, **options)
    trades, index = full.trades, candles.index
    skipped = sum(full.counters[name] for name in SKIPS)
    gapped_skips = full.counters["gapped_past_stop"] if gap_entry == "skip" else 0
    assert len(trades) + skipped + gapped_skips == len(signals)
    for t in range(n):  # every cut
        part = simulate(candles.iloc[:t + 1], signals, **options).trades
        begun = trades[trades["entry_time"] <= index[t]].reset_index(drop=True)
        same(part[BEGUN], begun[BEGUN])
        closed = (trades["exit_time"] <= index[t]) & (trades["exit_reason"] != "end")
        same(part[part["exit_reason"] != "end"], trades[closed])
