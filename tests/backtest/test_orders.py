"""Orders on hand-made bars: a working limit order blocks later signals, entries that open
beyond the stop, and signals that cannot be traded are counted, never dropped silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.errors import ConfigurationError
from tests.backtest.test_simulate import NO_COSTS, bars, signal

UNIT = Sizing("fixed_size", 1)
FLAT = (100, 101, 99, 100)


def test_a_working_limit_order_blocks_a_later_signal_whether_or_not_it_fills() -> None:
    # the limit (buy 95, works bars 1-3) never fills here; the market signal of bar 1 arrives
    # while it works and is skipped; the signal of bar 3 (its last working bar) trades
    c = bars([FLAT] * 7)
    sigs = pd.concat([signal(c, 0, entry=95.0, stop=93, target=110, entry_type="limit",
                             expiry=3),
                      signal(c, 1, stop=98, target=110), signal(c, 3, stop=98, target=110)])
    result = simulate(c, sigs, costs=NO_COSTS, sizing=UNIT)
    assert result.trades["signal_time"].tolist() == [c.index[3]]
    assert result.trades["entry_time"].tolist() == [c.index[4]]
    assert result.counters["skipped_order_working"] == 1
    assert result.counters["unfilled_or_invalid"] == 1
    # the same signals on bars that fill the limit on bar 3: the bar-1 signal is still skipped
    filled = bars([FLAT] * 3 + [(100, 100, 94, 96)] + [FLAT] * 3)
    other = simulate(filled, sigs, costs=NO_COSTS, sizing=UNIT)
    assert other.trades["signal_time"].tolist() == [c.index[0]]
    assert other.trades["entry_price"].tolist() == [95.0]
    assert other.counters["skipped_order_working"] == 1
    assert other.counters["skipped_in_position"] == 1  # bar 3's signal: the limit filled


def test_a_market_entry_that_gaps_through_the_stop_is_a_loss_at_the_open_by_default() -> None:
    c = bars([FLAT, (95, 96, 94, 95), FLAT])  # long, stop 98: bar 1 opens at 95
    sig = signal(c, 0, stop=98, target=105)  # planned entry 100 (the signal bar's close)
    result = simulate(c, sig, costs=Costs(10, 5), sizing=Sizing("risk_percent", 1.0))
    t = result.trades.iloc[0]
    entry, exit_ = 95 * (1 + 5e-4), 95 * (1 - 5e-4)
    size = 10_000 * 0.01 / 2  # sized on the planned risk: 100 -> 98
    fees = size * (entry + exit_) * 1e-3
    assert (t.entry_time, t.exit_time, t.exit_reason) == (c.index[1], c.index[1], "stop")
    assert (t.entry_price, t.exit_price) == pytest.approx((entry, exit_))
    assert t["size"] == pytest.approx(size) and t.risk == pytest.approx(size * 2)
    assert t.pnl == pytest.approx(size * (exit_ - entry) - fees)
    assert t.r_multiple == pytest.approx(t.pnl / (size * 2))
    assert t.bars_held == 1 and t.mfe_r == 0
    assert result.counters["gapped_past_stop"] == 1
    assert result.counters["unfilled_or_invalid"] == 0
    assert result.equity["equity"].iloc[1] == pytest.approx(10_000 + t.pnl)


def test_gap_entry_skip_does_not_trade_it_but_counts_it() -> None:
    c = bars([FLAT, (95, 96, 94, 95), FLAT])
    result = simulate(c, signal(c, 0, stop=98, target=105), costs=NO_COSTS, gap_entry="skip")
    assert result.trades.empty
    assert result.counters["gapped_past_stop"] == 1
    assert result.counters["unfilled_or_invalid"] == 0
    with pytest.raises(ConfigurationError, match="gap_entry"):
        simulate(c, signal(c, 0, stop=98, target=105), gap_entry="maybe")  # type: ignore


def test_a_short_limit_filled_at_an_open_beyond_its_stop_exits_at_that_open() -> None:
    # sell limit 105, stop 107; bar 2 opens at 108: filled at 108 (better than 105), and the
    # buy stop at 107 fires at once: out at 108 worsened by slippage
    c = bars([FLAT, FLAT, (108, 109, 104, 106), FLAT])
    sig = signal(c, 0, direction=-1, entry=105.0, stop=107, target=95, entry_type="limit",
                 expiry=3)
    result = simulate(c, sig, costs=Costs(0, 10), sizing=Sizing("fixed_cash", 1_000))
    t = result.trades.iloc[0]
    assert (t.entry_time, t.exit_time, t.exit_reason) == (c.index[2], c.index[2], "stop")
    assert t.entry_price == 108 and t.exit_price == pytest.approx(108 * 1.001)
    assert t["size"] == pytest.approx(1_000 / 108)
    assert t.r_multiple == pytest.approx(-108 * 0.001 / 2)  # planned risk 105 -> 107
    assert result.counters["gapped_past_stop"] == 1


def test_a_short_stopped_by_a_gap_during_the_trade_exits_at_the_open() -> None:
    c = bars([FLAT, FLAT, (100, 101, 99.5, 100.5), (104, 105, 103, 104)])
    sig = signal(c, 0, direction=-1, stop=102, target=95)
    result = simulate(c, sig, costs=Costs(0, 10), sizing=UNIT)
    t = result.trades.iloc[0]
    assert (t.exit_time, t.exit_reason) == (c.index[3], "stop")
    assert t.exit_price == pytest.approx(104 * 1.001)
    assert t.pnl == pytest.approx(100 * 0.999 - 104 * 1.001)
    assert result.counters["gapped_past_stop"] == 0


def test_signals_with_no_bar_to_fill_on_are_counted() -> None:
    c = bars([FLAT] * 3)
    late = signal(c, 2, stop=98, target=105)
    after = late.assign(known_at=c.index[-1] + pd.Timedelta("1h"))
    limit = signal(c, 2, entry=99.5, stop=98, target=105, entry_type="limit", expiry=2)
    result = simulate(c, pd.concat([late, limit, after]), costs=NO_COSTS)
    assert result.trades.empty
    assert result.counters["no_bar_to_fill"] == 2
    assert result.counters["known_after_data"] == 1
    assert result.counters["unfilled_or_invalid"] == 0


def test_partial_exit_then_target_hand_checked() -> None:
    # long at 100 (bar 1 open), stop 98 (risk 2), half off at 1 R = 102, rest at target 106
    c = bars([FLAT, (100, 101, 99, 100.5), (101, 103, 100.5, 102.5), (102.5, 106.5, 102, 106)])
    sig = signal(c, 0, stop=98, target=106, partial_r=1.0, partial_fraction=0.5)
    result = simulate(c, sig, costs=Costs(10, 0), sizing=Sizing("fixed_size", 2))
    t = result.trades.iloc[0]
    fees = (2 * 100 + 1 * 102 + 1 * 106) * 1e-3
    assert (t.partial_price, t.exit_price, t.exit_reason) == (102, 106, "target")
    assert t.fees == pytest.approx(fees) and t.pnl == pytest.approx(2 + 6 - fees)
    assert t.r_multiple == pytest.approx((8 - fees) / 4)
    equity = result.equity["equity"]
    # bar 2 marks the open half at the close, after the partial's gain and fees
    assert equity.iloc[2] == pytest.approx(10_000 - 0.2 - 0.102 + 2 + 1 * 2.5)
    assert equity.iloc[-1] == pytest.approx(10_000 + t.pnl)


def test_time_exit_at_the_close_of_the_nth_bar_held() -> None:
    c = bars([FLAT, (100, 101, 99, 100.5), (100.5, 101.5, 100, 101), FLAT])
    sig = signal(c, 0, stop=98, target=110, time_exit_bars=2)
    t = simulate(c, sig, costs=Costs(0, 10), sizing=UNIT).trades.iloc[0]
    assert (t.exit_time, t.exit_reason, t.bars_held) == (c.index[2], "time", 2)
    assert t.exit_price == pytest.approx(101 * 0.999)
    assert t.pnl == pytest.approx(101 * 0.999 - 100 * 1.001)


def test_fixed_cash_sizing_buys_that_notional_at_the_fill() -> None:
    c = bars([FLAT, (100.5, 101, 99, 100), FLAT])
    t = simulate(c, signal(c, 0, stop=98, target=110), costs=NO_COSTS,
                 sizing=Sizing("fixed_cash", 1_000)).trades.iloc[0]
    assert t["size"] == pytest.approx(1_000 / 100.5)
    assert t.exit_reason == "end" and t.pnl == pytest.approx(1_000 / 100.5 * -0.5)
    assert np.isclose(t.r_multiple, -0.5 / 2.5)


def test_a_market_entry_that_opens_beyond_its_target_takes_profit_at_that_open() -> None:
    # long, target 105: bar 1 opens at 106; the take-profit (a limit) fills at 106, not at 105
    c = bars([FLAT, (106, 107, 105.5, 106.5), FLAT])
    t = simulate(c, signal(c, 0, stop=98, target=105), costs=Costs(0, 10),
                 sizing=UNIT).trades.iloc[0]
    assert (t.exit_time, t.exit_reason, t.exit_price) == (c.index[1], "target", 106)
    assert t.pnl == pytest.approx(106 - 106 * 1.001)


@pytest.mark.parametrize("kind, value", [("kelly", 1.0), ("risk_percent", 0.0),
                                         ("fixed_size", -1.0)])
def test_an_unknown_or_non_positive_sizing_is_refused_up_front(kind, value) -> None:
    with pytest.raises(ConfigurationError, match="sizing"):
        Sizing(kind, value)
