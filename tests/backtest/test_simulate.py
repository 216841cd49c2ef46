"""The simulator on hand-made bars whose right answer is obvious, and the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.metrics import breakdown, compute_metrics
from engine.backtest.simulate import Costs, Sizing, simulate
from engine.signals import conform_signals

NO_COSTS = Costs(0.0, 0.0)


def bars(rows, start="2024-01-01 10:00", freq="15min") -> pd.DataFrame:
    o, h, lo, c = (np.array(x, dtype=float) for x in zip(*rows, strict=True))
    index = pd.date_range(start, periods=len(rows), freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1.0},
                        index=index)


def signal(candles, bar, *, direction=1, entry=None, stop, target, entry_type="market",
           expiry=0, **extra) -> pd.DataFrame:
    row = {"known_at": candles.index[bar], "symbol": "X", "direction": direction,
           "entry_type": entry_type, "entry": entry or candles["close"].iloc[bar],
           "stop": stop, "target": target, "r_planned": 2.0, "expiry_bars": expiry,
           "time_exit_bars": 0, "breakeven_r": np.nan, "partial_r": np.nan,
           "partial_fraction": 0.0, "setup_id": "t", "setup_version": 1, "reasons": "[]"}
    row.update(extra)
    return conform_signals(pd.DataFrame([row]))


def test_market_entry_next_open_then_target() -> None:
    c = bars([(100, 101, 99, 100), (100.5, 102, 100, 101), (101, 106, 100.5, 105),
              (105, 106, 104, 105)])
    result = simulate(c, signal(c, 0, stop=98, target=105), costs=NO_COSTS,
                      sizing=Sizing("fixed_size", 1))
    t = result.trades.iloc[0]
    assert (t.entry_time, t.entry_price) == (c.index[1], 100.5)
    assert (t.exit_time, t.exit_price, t.exit_reason) == (c.index[2], 105, "target")
    assert t.pnl == pytest.approx(4.5) and t.r_multiple == pytest.approx(4.5 / 2.5)


def test_both_touched_is_stop_first_without_lower_bars() -> None:
    c = bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (100, 106, 97, 100)])
    result = simulate(c, signal(c, 0, stop=98, target=105), costs=NO_COSTS,
                      sizing=Sizing("fixed_size", 1))
    t = result.trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.ambiguous) == ("stop", 98, "stop_first")
    assert result.counters["ambiguous_stop_first"] == 1


def test_both_touched_resolved_with_1m_bars_inside() -> None:
    c = bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (100, 106, 97, 100)])
    minutes = pd.date_range(c.index[2], periods=15, freq="1min", tz="UTC", name="time")
    path = np.r_[np.linspace(100, 105.5, 5), np.linspace(105.5, 97.5, 10)]
    lower = pd.DataFrame({"open": path, "high": path + 0.5, "low": path - 0.5, "close": path,
                          "volume": 1.0}, index=minutes)
    result = simulate(c, signal(c, 0, stop=98, target=105), costs=NO_COSTS,
                      sizing=Sizing("fixed_size", 1), lower_candles=lower)
    t = result.trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.ambiguous) == ("target", 105, "lower_tf")
    assert result.counters["ambiguous_lower_tf"] == 1


def test_stop_gap_fills_at_the_open_with_slippage_and_fees() -> None:
    c = bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (95, 96, 94, 95)])
    result = simulate(c, signal(c, 0, stop=98, target=105), costs=Costs(10, 5),
                      sizing=Sizing("fixed_size", 2))
    t = result.trades.iloc[0]
    entry = 100 * (1 + 5e-4)
    exit_ = 95 * (1 - 5e-4)
    fees = 2 * entry * 1e-3 + 2 * exit_ * 1e-3
    assert t.entry_price == pytest.approx(entry) and t.exit_price == pytest.approx(exit_)
    assert t.fees == pytest.approx(fees) and t.pnl == pytest.approx(2 * (exit_ - entry) - fees)
    assert result.equity["equity"].iloc[-1] == pytest.approx(10_000 + t.pnl)


def test_limit_order_fill_expiry_and_no_target_on_fill_bar() -> None:
    c = bars([(100, 101, 99, 100), (100, 100.5, 99.6, 100), (99.8, 106, 98.9, 104),
              (104, 106, 103, 105)])
    sig = signal(c, 0, entry=99.0, stop=97, target=105, entry_type="limit", expiry=3)
    t = simulate(c, sig, costs=NO_COSTS, sizing=Sizing("fixed_size", 1)).trades.iloc[0]
    assert (t.entry_time, t.entry_price) == (c.index[2], 99.0)
    assert (t.exit_time, t.exit_reason) == (c.index[3], "target")  # not on the fill bar
    expired = signal(c, 0, entry=90.0, stop=88, target=95, entry_type="limit", expiry=2)
    result = simulate(c, expired, costs=NO_COSTS)
    assert result.trades.empty and result.counters["unfilled_or_invalid"] == 1


def test_risk_percent_sizing_and_one_position_at_a_time() -> None:
    c = bars([(100, 101, 99, 100)] * 3 + [(100, 100.5, 97.5, 98)] + [(98, 99, 97, 98)] * 2)
    sigs = pd.concat([signal(c, 0, stop=98, target=110), signal(c, 1, stop=98, target=110)])
    result = simulate(c, sigs, costs=NO_COSTS, sizing=Sizing("risk_percent", 1.0))
    assert len(result.trades) == 1 and result.counters["skipped_in_position"] == 1
    t = result.trades.iloc[0]
    assert t["size"] == pytest.approx(10_000 * 0.01 / 2) and t.pnl == pytest.approx(-100)
    assert t.r_multiple == pytest.approx(-1.0)


def test_breakeven_moves_the_stop_to_entry() -> None:
    c = bars([(100, 101, 99, 100), (100, 100.5, 99.5, 100), (100, 103, 100, 102.5),
              (102, 102.5, 99, 99.5)])
    sig = signal(c, 0, stop=98, target=110, breakeven_r=1.0)
    t = simulate(c, sig, costs=NO_COSTS, sizing=Sizing("fixed_size", 1)).trades.iloc[0]
    assert (t.exit_reason, t.exit_price, t.pnl) == ("breakeven", 100, 0)


def test_metrics_are_never_nan_and_empty_runs_are_honest() -> None:
    c = bars([(100, 101, 99, 100)] * 10)
    empty = simulate(c, signal(c, 0, stop=98, target=105).iloc[:0], costs=NO_COSTS)
    m = compute_metrics(empty.trades, empty.equity, timeframe="15m", candles=c,
                        initial_equity=10_000)
    assert m["trades"] == 0 and m["win_rate"] is None and m["profit_factor"] is None
    assert m["sharpe"] is None and m["total_return_pct"] == 0.0
    assert all(not (isinstance(v, float) and v != v) for v in m.values())
    assert breakdown(empty.trades, "session").empty


def test_nan_candles_are_refused() -> None:
    c = bars([(100, 101, 99, 100)] * 3)
    c.iloc[1, 0] = np.nan
    with pytest.raises(Exception, match="NaN"):
        simulate(c, signal(c, 0, stop=98, target=105))


def test_a_tight_stop_cannot_size_beyond_the_account_and_is_counted() -> None:
    c = bars([(100, 101, 99, 100), (100, 101, 99.5, 100), (100, 106, 99.95, 105)])
    result = simulate(c, signal(c, 0, stop=99.9, target=102), costs=NO_COSTS,
                      sizing=Sizing("risk_percent", 1.0), initial_equity=10_000)
    t = result.trades.iloc[0]
    # 1 % of 10,000 over a 0.1 stop would be 1,000 units (100,000 notional): capped at 1x
    assert t["size"] == pytest.approx(10_000 / 100)
    assert result.counters["size_capped_by_leverage"] == 1
    loose = simulate(c, signal(c, 0, stop=95, target=102), costs=NO_COSTS,
                     sizing=Sizing("risk_percent", 1.0), initial_equity=10_000)
    assert loose.counters["size_capped_by_leverage"] == 0


def _three_trades():
    """A target (+2.5 R), a stop (-1 R), then a winner still open at the end (+0.6 R)."""
    flat = (100, 101, 99, 100)
    c = bars([flat, flat, (100, 106, 99.5, 105), flat, flat, (99, 99.5, 97, 97.5), flat,
              (100, 103, 99.5, 102), (102, 104, 101, 103)])
    sigs = pd.concat([signal(c, 0, stop=98, target=105), signal(c, 3, stop=98, target=110),
                      signal(c, 6, stop=95, target=120)])
    return c, simulate(c, sigs, costs=NO_COSTS, sizing=Sizing("fixed_size", 1))


def test_trades_closed_by_the_end_of_the_data_are_reported_apart() -> None:
    c, result = _three_trades()
    assert result.trades["exit_reason"].tolist() == ["target", "stop", "end"]
    m = compute_metrics(result.trades, result.equity, timeframe="15m", candles=c,
                        initial_equity=10_000)
    assert (m["trades"], m["wins"], m["losses"], m["closed_at_data_end"]) == (3, 1, 1, 1)
    assert m["closed_at_window_end"] == 0
    assert m["win_rate"] == 0.5 and m["profit_factor"] == pytest.approx(5 / 2)
    assert m["avg_r"] == pytest.approx((2.5 - 1) / 2) == m["expectancy_r"]
    assert m["expectancy_money"] == pytest.approx(1.5)
    assert m["total_profit"] == pytest.approx(5 - 2 + 3)  # the open trade's P&L counts here
    table = breakdown(result.trades, "direction")
    assert table.loc["long", "trades"] == 3 and table.loc["long", "win_rate"] == 0.5
    assert table.loc["long", "pnl"] == pytest.approx(6)
    assert table.loc["long", "avg_r"] == pytest.approx(0.75)
    by_reason = breakdown(result.trades, "exit_reason")
    assert by_reason.loc["end", "win_rate"] == 1.0


def test_trades_closed_by_a_walk_forward_window_end_are_reported_apart() -> None:
    c, result = _three_trades()
    trades = result.trades.assign(exit_reason=["target", "stop", "window_end"])
    m = compute_metrics(trades, result.equity, timeframe="15m", candles=c,
                        initial_equity=10_000)
    assert (m["closed_at_window_end"], m["closed_at_data_end"], m["win_rate"]) == (1, 0, 0.5)
