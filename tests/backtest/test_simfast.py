"""The fast paths of the simulation wrapper give exactly what the plain ones gave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest import _kernel as k
from engine.backtest.simulate import Costs, Sizing, bar_positions, simulate
from engine.signals import conform_signals


def test_galloping_positions_equal_searchsorted() -> None:
    rng = np.random.default_rng(3)
    for trial in range(400):
        haystack = np.sort(rng.integers(0, 100, rng.integers(0, 120)))
        keys = rng.integers(-5, 110, rng.integers(0, 40))
        if trial % 2:  # signals come sorted by time; unsorted keys must work too
            keys = np.sort(keys)
        assert (k.positions_nb(haystack, keys) == np.searchsorted(haystack, keys)).all()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_bar_positions_in_any_unit_round_times_between_bars_up(unit) -> None:
    index = pd.date_range("2024-01-01", periods=5, freq="1min", tz="UTC").as_unit(unit)
    times = pd.DatetimeIndex(["2024-01-01 00:01", "2024-01-01 00:01:00.000000001",
                              "2023-12-31 23:00", "2024-01-01 00:04", "2024-01-01 00:09"],
                             tz="UTC").as_unit("ns")
    expected = np.searchsorted(index.as_unit("ns").asi8, times.asi8)
    assert bar_positions(index, pd.Series(times)).tolist() == expected.tolist() == [1, 2, 0, 4,
                                                                                     5]


@pytest.mark.parametrize("where", range(4))
def test_any_nan_finds_a_nan_in_each_array_at_any_bar(where) -> None:
    arrays = [np.ones(37) for _ in range(4)]
    assert not k.any_nan_nb(*arrays)
    for bar in (0, 17, 36):
        arrays[where][bar] = np.nan
        assert k.any_nan_nb(*arrays)
        arrays[where][bar] = np.inf  # infinite is not NaN
        assert not k.any_nan_nb(*arrays)
        arrays[where][bar] = 1.0


def _market() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    n = 3_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    index = pd.date_range("2024-03-29 20:00", periods=n, freq="5min", tz="UTC", name="time")
    candles = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                            "volume": 1.0}, index=index)
    bars = np.sort(rng.choice(n - 1, 400, replace=False))
    d = rng.choice([-1, 1], len(bars))
    entry = close[bars]
    signals = conform_signals(pd.DataFrame({
        "known_at": index[bars], "symbol": "X/Y", "direction": d,
        "entry_type": np.where(rng.random(len(bars)) < 0.3, "limit", "market"),
        "entry": entry * (1 - d * 0.001), "stop": entry * (1 - d * 0.004),
        "target": entry * (1 + d * 0.008), "r_planned": 2.0, "expiry_bars": 3,
        "time_exit_bars": np.where(rng.random(len(bars)) < 0.2, 5, 0), "breakeven_r": np.nan,
        "partial_r": np.nan, "partial_fraction": 0.0, "setup_id": "s", "setup_version": 2,
        "reasons": [f"why {i}" for i in range(len(bars))]}))
    return candles, signals


def test_text_columns_are_what_pandas_infers_from_the_python_objects() -> None:
    candles, signals = _market()
    trades = simulate(candles, signals, costs=Costs(5, 2), sizing=Sizing()).trades
    assert len(trades) > 50
    for column in ("symbol", "exit_reason", "ambiguous", "session", "entry_session", "weekday",
                   "setup_id", "reasons"):
        inferred = pd.Series(trades[column].to_numpy(object))
        pd.testing.assert_series_equal(trades[column].reset_index(drop=True), inferred,
                                       check_names=False)
    assert set(trades["session"]) | set(trades["entry_session"]) <= {"asia", "london",
                                                                      "new_york", "other"}
    weekday = trades["entry_time"].dt.day_name()
    assert (trades["weekday"] == weekday).all()


def test_no_trades_keep_their_empty_columns() -> None:
    candles, signals = _market()
    trades = simulate(candles, signals.iloc[:0], costs=Costs(5, 2), sizing=Sizing()).trades
    assert trades.empty and trades["exit_reason"].dtype == object


def _longest_below_peak(drawdown: pd.Series) -> pd.Timedelta:
    """The plain formula: stretches of bars below the peak, the longest first-to-last time."""
    under = drawdown.to_numpy(float) < 0
    if not under.any():
        return pd.Timedelta(0)
    edges = np.diff(np.r_[0, under.astype(np.int8), 0])
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    times = drawdown.index.as_unit("ns").asi8
    return pd.Timedelta(int((times[last] - times[first]).max()), unit="ns")


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("cut", [None, slice(0, 1), slice(100, 700), slice(2_000, None)])
def test_drawdown_metrics_equal_the_plain_formulas(unit, cut) -> None:
    from engine.backtest.metrics import compute_metrics

    candles, signals = _market()
    candles.index = candles.index.as_unit(unit)
    result = simulate(candles, signals, costs=Costs(5, 2), sizing=Sizing())
    equity = result.equity.iloc[cut] if cut else result.equity
    if cut == slice(100, 700):  # a stretch still below the peak at the end, and a NaN
        equity = equity.copy()
        equity.iloc[50, 1] = np.nan
    metrics = compute_metrics(result.trades, equity, timeframe="5m", candles=candles,
                              initial_equity=10_000.0)
    assert metrics["max_drawdown"] == -equity["drawdown"].min()
    assert metrics["max_drawdown_pct"] == -equity["drawdown_pct"].min()
    assert metrics["max_drawdown_duration"] == str(_longest_below_peak(equity["drawdown"]))
    if cut is None:
        assert metrics["max_drawdown"] > 0 and metrics["max_drawdown_duration"] != "0 days"
