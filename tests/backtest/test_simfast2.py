"""The simulation refuses a NaN on a bar of any role, before other input errors; the two-pass
drawdowns equal the plain formula; signal times are looked up as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import _kernel as k
from engine.backtest.simulate import Costs, Sizing, simulate
from engine.errors import DataError
from tests.backtest.test_simfast import _market

PRICES = ("open", "high", "low", "close")


def _bars_to_check(candles, signals) -> list[int]:
    """Bars in every role: first and last, flat, a trade's fill, middle and exit bars, the
    fill bar of a trade entered beyond its stop."""
    trades = simulate(candles, signals, costs=Costs(5, 2), sizing=Sizing()).trades
    index = candles.index
    entry = index.get_indexer(trades["entry_time"])
    exit_ = index.get_indexer(trades["exit_time"])
    held = np.zeros(len(index), bool)
    for a, b in zip(entry, exit_, strict=True):
        held[a:b + 1] = True
    flat = np.flatnonzero(~held)
    long_ = np.flatnonzero(exit_ - entry >= 2)
    gapped = entry[(trades["exit_reason"] == "stop").to_numpy() & (exit_ == entry)]
    assert len(flat) > 3 and len(long_) > 3
    return sorted({0, len(index) - 1, *flat[:: len(flat) // 4], *entry[:5], *exit_[:5],
                   *(entry[long_[:5]] + 1), *gapped[:3]})


def test_a_nan_on_any_bar_of_any_role_is_refused() -> None:
    candles, signals = _market()
    bars = _bars_to_check(candles, signals)
    assert len(bars) > 15
    for j, bar in enumerate(bars):
        broken = candles.copy()
        broken.iloc[bar, broken.columns.get_loc(PRICES[j % 4])] = np.nan
        with pytest.raises(DataError, match="NaN prices"):
            simulate(broken, signals, costs=Costs(5, 2), sizing=Sizing())


def test_a_nan_is_still_reported_before_the_other_input_errors() -> None:
    candles, signals = _market()
    candles.iloc[1_000, 2] = np.nan
    with pytest.raises(DataError, match="NaN prices"):
        simulate(candles, signals, initial_equity=0.0)
    with pytest.raises(DataError, match="NaN prices"):
        simulate(candles, signals.drop(columns="stop"))
    candles.iloc[1_000, 2] = 1.0
    with pytest.raises(DataError, match="initial equity"):
        simulate(candles, signals, initial_equity=0.0)


@pytest.mark.parametrize("seed", range(6))
def test_two_pass_drawdowns_equal_the_plain_formula_bit_for_bit(seed) -> None:
    rng = np.random.default_rng(seed)
    equity = 1_000 + np.cumsum(rng.normal(0, 10, 5_000))
    if seed % 2:  # an account that goes through zero: no percent while the peak is not > 0
        equity -= 1_100
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(peak > 0, (equity / peak - 1.0) * 100.0, 0.0)
    money, got_pct = k.drawdowns_nb(equity)
    assert np.array_equal(money, equity - peak)
    assert np.array_equal(got_pct, pct)
    if seed % 2:
        assert (pct == 0).any() and (pct < 0).any()


@pytest.mark.parametrize("tz", ["UTC", None])
def test_bar_positions_of_a_known_at_column_equal_the_plain_lookup(tz) -> None:
    from engine.backtest.simulate import bar_positions

    index = pd.date_range("2024-01-01", periods=50, freq="1min", tz="UTC").as_unit("ms")
    times = pd.date_range("2023-12-31 23:58:30", periods=60, freq="53s", tz=tz).as_unit("ns")
    expected = np.searchsorted(index.as_unit("ns").asi8, times.as_unit("ns").asi8)
    for given in (pd.Series(times), times, list(times)):
        assert bar_positions(index, given).tolist() == expected.tolist()
