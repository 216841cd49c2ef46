"""Every example setup trades on the demo BTC candles with stops a trader would take: the median
stop of its trades is at least 3 round trips of costs (at least 5 bps fee and 2 bps slippage a
side, whatever the example charges), so fees and slippage never eat most of 1 R."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.candles import resample
from engine.setups import compile_setup, parse_setup
from engine.setups.stops import RULE_OF_THUMB

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))
ROUND_TRIP_BPS = 2 * 5.0 + 2 * 2.0  # a taker on a crypto exchange pays at least this


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_stops_are_wider_than_three_round_trips(path, demo_candles) -> None:
    setup = parse_setup(path.read_text())
    candles = resample(demo_candles, setup.market.timeframe)
    signals = compile_setup(setup)(candles, symbol="BTC/USDT", explain=False)
    costs = Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    trades = simulate(candles, signals, costs=costs, sizing=Sizing("risk_percent",
                                                                    setup.risk.percent),
                      lower_candles=demo_candles).trades
    assert len(trades) >= 3, f"{setup.id}: {len(trades)} trades on the demo data"
    stop = (trades["entry_price"] - trades["stop_price"]).abs().to_numpy()
    bps = max(ROUND_TRIP_BPS, 2 * (costs.fee_bps + costs.slippage_bps))
    round_trip = trades["entry_price"].to_numpy() * bps / 1e4
    assert np.median(stop / round_trip) >= RULE_OF_THUMB, (
        f"{setup.id}: median stop {np.median(stop):.2f} is "
        f"{np.median(stop / round_trip):.1f} round trips")
