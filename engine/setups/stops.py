"""Are a setup's stops wide enough to carry its costs? (pure)

A trade's costs — fees on both sides and slippage on both sides — come out of its result
whatever the stop, so a stop a few times the round trip leaves most of 1 R to the costs: a
BTC trade with a $10 stop at $25,000 pays about $35 in costs (5 bps fee, 2 bps slippage per
side), 3.5 R lost before price moves. `check_stop_costs` compiles the setup on candles and
compares the median stop distance of its signals with the round-trip cost at their entry.

>>> RULE_OF_THUMB  # median stop at least this many round trips
3.0
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from engine.setups import schema
from engine.setups.compile import compile_setup, round_trip_cost

RULE_OF_THUMB = 3.0


@dataclasses.dataclass(frozen=True)
class StopCheck:
    """The median stop of a setup's signals against its round-trip costs."""

    signals: int
    median_stop: float | None  # |entry - stop| in price
    median_cost: float | None  # round-trip costs in price at the entry
    median_multiple: float | None  # median of stop / round trip, per signal (inf: no costs)
    multiple: float = RULE_OF_THUMB

    @property
    def too_tight(self) -> bool:
        return self.median_multiple is not None and self.median_multiple < self.multiple

    def message(self, symbol: str, timeframe: str) -> str:
        if self.median_multiple is None:
            return f"no signals on the stored {symbol} {timeframe} candles: stops not checked"
        costs = (f"{self.median_multiple:.1f}x its round-trip costs ({self.median_cost:,.2f})"
                 if np.isfinite(self.median_multiple) else "with no costs set")
        verdict = (f"within {self.multiple:g}x the costs: fees and slippage take a large part "
                   "of 1 R; widen the stop or set plan.stop.min_cost_multiple"
                   if self.too_tight else "fine")
        return (f"median stop {self.median_stop:,.2f} over {self.signals} signals on {symbol} "
                f"{timeframe} is {costs}: {verdict}")


def check_stop_costs(setup: schema.Setup, candles: pd.DataFrame, *, symbol: str,
                     multiple: float = RULE_OF_THUMB) -> StopCheck:
    """Median stop distance of the setup's signals on `candles` against its round-trip costs.

    Uses the setup's own ``costs`` and the signals its compiled rule keeps (after its stop
    guards), so a setup with ``plan.stop.min_cost_multiple: 3`` passes by construction."""
    signals = compile_setup(setup)(candles, symbol=symbol, explain=False)
    if signals.empty:
        return StopCheck(0, None, None, None, multiple)
    entry = signals["entry"].to_numpy(float)
    distance = np.abs(entry - signals["stop"].to_numpy(float))
    cost = round_trip_cost(setup.costs, entry)
    with np.errstate(divide="ignore"):
        ratio = np.where(cost > 0, distance / np.where(cost > 0, cost, 1.0), np.inf)
    return StopCheck(len(signals), float(np.median(distance)), float(np.median(cost)),
                     float(np.median(ratio)), multiple)
