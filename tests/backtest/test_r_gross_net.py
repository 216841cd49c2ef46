"""R gross (price move over planned risk) and R net (after fees and slippage), per trade and in
the metrics; a trade's session is its signal's. Hand-checked on tiny bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.metrics import breakdown, compute_metrics
from engine.backtest.simulate import Costs, Sizing, simulate
from tests.backtest.test_simulate import bars, signal

COSTS = Costs(fee_bps=5.0, slippage_bps=2.0)


def test_gross_r_is_two_at_the_target_and_net_r_is_two_minus_costs_over_risk() -> None:
    # a limit long at 100, stop 99 (1 R = 1.00 per unit), target 102: no slippage anywhere
    c = bars([(100, 101, 99.5, 100.5), (100.5, 100.8, 99.9, 100.2),
              (100.2, 102.5, 100.1, 102.2), (102, 102, 102, 102)])
    sig = signal(c, 0, entry=100.0, stop=99.0, target=102.0, entry_type="limit", expiry=5)
    t = simulate(c, sig, costs=COSTS, sizing=Sizing("fixed_size", 1)).trades.iloc[0]
    assert (t.entry_price, t.exit_price, t.exit_reason) == (100.0, 102.0, "target")
    fees = (100 + 102) * 5 / 1e4  # 0.101
    assert t.risk == pytest.approx(1.0) and t.fees == pytest.approx(fees)
    assert t.slippage == pytest.approx(0.0)
    assert t.r_gross == pytest.approx(2.0)
    assert t.r_net == pytest.approx(2.0 - fees / 1.0) == t.r_multiple
    assert t.costs_r == pytest.approx(fees)
    assert t.r_net * t.risk == pytest.approx(t.pnl)


def test_slippage_is_a_cost_in_money_and_in_r() -> None:
    # a market short: signal close 100, fills at the next open 100 worsened to 99.98; stopped
    # at 101 worsened to 101.0202
    c = bars([(100, 100.5, 99.5, 100), (100, 101.5, 99.8, 101.2), (101, 101, 101, 101)])
    sig = signal(c, 0, direction=-1, stop=101.0, target=98.0)
    t = simulate(c, sig, costs=COSTS, sizing=Sizing("fixed_size", 1)).trades.iloc[0]
    fill, out = 100 * (1 - 0.0002), 101 * (1 + 0.0002)
    assert (t.entry_price, t.exit_price) == (pytest.approx(fill), pytest.approx(out))
    risk = 101 - fill
    assert t.risk == pytest.approx(risk)
    assert t.slippage == pytest.approx((100 - fill) + (out - 101))
    assert t.r_gross == pytest.approx(-(101 - 100) / risk)  # the raw move, 100 -> 101
    fees = (fill + out) * 5 / 1e4
    assert t.pnl == pytest.approx(-(out - fill) - fees)
    assert t.r_net == pytest.approx(t.pnl / risk)
    assert t.costs_r == pytest.approx((fees + t.slippage) / risk)


def _trades(rows) -> pd.DataFrame:
    """Trades closed by their rules: (risk, pnl, r_gross)."""
    risk, pnl, gross = (np.array(x, dtype=float) for x in zip(*rows, strict=True))
    return pd.DataFrame({"risk": risk, "pnl": pnl, "r_multiple": pnl / risk,
                         "r_net": pnl / risk, "r_gross": gross, "fees": 1.0,
                         "exit_reason": "target", "bars_held": 1, "r_planned": 2.0,
                         "direction": np.int8(1), "entry_time": pd.Timestamp("2024-01-01",
                                                                             tz="UTC")})


def test_money_weighted_expectancy_agrees_with_the_money() -> None:
    """A full-risk winner (+2 R) and a trade capped by the leverage limit that risked 1.00 and
    lost 5.00 to fees (-5 R): the plain mean is -1.5 R, yet the account made 195 on 101 risked."""
    c = bars([(100, 101, 99, 100)] * 3)
    equity = pd.DataFrame({"equity": [10_000.0, 10_200, 10_195], "drawdown": [0.0, 0, -5],
                           "drawdown_pct": [0.0, 0, -0.05]}, index=c.index)
    m = compute_metrics(_trades([(100, 200, 2.1), (1, -5, -1.0)]), equity, timeframe="15m",
                        candles=c, initial_equity=10_000)
    assert m["avg_r_net"] == pytest.approx(-1.5) == m["avg_r"]
    assert m["avg_r_gross"] == pytest.approx((2.1 - 1.0) / 2)
    assert m["expectancy_r_net"] == pytest.approx(195 / 101) == m["expectancy_r"]
    assert m["expectancy_r_gross"] == pytest.approx((210 - 1) / 101)
    assert m["costs_r"] == pytest.approx(((2.1 - 2) + (-1 + 5)) / 2)
    assert m["profit_factor"] == pytest.approx(40) and m["expectancy_r_net"] > 0


def test_breakdowns_show_gross_beside_net_r() -> None:
    table = breakdown(_trades([(100, 200, 2.1), (1, -5, -1.0)]), "direction")
    assert table.loc["long", "avg_r"] == pytest.approx(-1.5)
    assert table.loc["long", "avg_r_gross"] == pytest.approx(0.55)


def test_a_trade_is_in_the_session_of_its_signal_and_records_its_fill_session() -> None:
    # 15m bars from 16:00 London (winter: UTC): the 16:15 bar is London's last (16:30 end),
    # the 16:30 fill bar is outside London; New York (08:00-17:00 New York = 13:00-22:00 UTC)
    # covers both, and wins where sessions overlap, so use a time outside New York: Asia ends
    # at 00:00 New York = 05:00 UTC; the 04:45 bar is Asia's last, the 05:00 bar is 'other'
    c = bars([(100, 101, 99, 100)] * 4 + [(100, 103, 99.5, 102.5), (102, 102, 102, 102)],
             start="2024-01-10 04:15")
    sig = signal(c, 2, stop=98.0, target=102.0)  # known at the 04:45 bar, fills at 05:00
    t = simulate(c, sig, costs=Costs(0, 0), sizing=Sizing("fixed_size", 1)).trades.iloc[0]
    assert (t.signal_time, t.entry_time) == (c.index[2], c.index[3])
    assert (t.session, t.entry_session) == ("asia", "other")
    assert breakdown(simulate(c, sig, costs=Costs(0, 0)).trades, "session").index.tolist() == [
        "asia"]
