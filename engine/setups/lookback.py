"""How many bars a compiled setup needs before a bar to decide that bar as on the whole data.

The live monitor evaluates a setup on a rolling window of recent closed bars instead of the
whole history. A signal at the window's last bar is the backtest's signal when the window
reaches far enough back for every condition; `setup_lookback(setup)` is that length, counted in
base bars and including the signal bar itself. Per condition:

- ATR and RSI (Wilder): 40 x period. They are recursive from the first bar; after 40
  periods the seed's weight is below e^-40, under a double's precision, so the value is the
  whole-data one to the last bit (checked on the demo candles).
- EMA: 20 x (period + 1), the same for alpha = 2 / (period + 1).
- SMA, swing, fvg formed, ma cross: the pattern's own width.
- session state, weekday and hour filters: 1 (a function of the bar's time).
- previous day / week levels: 2 days / 2 weeks, so the previous period is complete.
- context timeframe: the condition's lookback in context bars plus one, in base bars
  (context bars are resampled from the window, whose first, cut period is dropped).
- sequence: the longest step plus ``within_bars`` (the first step may lie that far back).

**Bounded horizon.** Some state can depend on arbitrarily old bars: an unfilled gap touched
weeks later (``fvg`` with ``event: touched``), an order block retested late, a level (swing,
session, previous day or week, equal highs/lows) that stays alive until price breaks it, the
prevailing structure behind BOS/CHoCH. For those the live path remembers `ZONE_HORIZON` (14
days) or `ZONE_HORIZON_BARS` (5,000) bars, whichever is longer (20,160 bars of 1m, 5,000 of
5m, 52 days of 15m), on top of what the level itself needs: a zone or level older than that is
forgotten live, while a backtest over longer data still sees it. Why 14 days: on the demo
candles a 3.5-day horizon missed real signals (an 11-day-old previous-day high swept on 13
March 2023; an Asia low days old swept on 7 March). Parity with the whole-data signals is
tested on the demo candles (tests/live/test_evaluate_parity.py). A longer window costs little
(the detectors are numba passes; a 5m example setup takes about as long on 4,000 bars as on
1,500).

Known limit: TA-Lib's SMA keeps a running sum, so on a window it can differ from the
whole-data SMA in the last bits; only an exact tie between two averages (or a close and an
average) could then decide differently.

>>> from engine.setups.schema import Setup
>>> setup = Setup.model_validate({"id": "x", "name": "X", "market": {"timeframe": "5m"},
...     "conditions": {"cross": {"detector": "ma_cross", "fast": 10, "slow": 30}},
...     "signal": "cross", "plan": {"stop": {"percent": 1.0}, "target": {"r_multiple": 2}}})
>>> setup_lookback(setup)
31
"""

from __future__ import annotations

import math

import pandas as pd

from engine.candles import timeframe_delta
from engine.setups import schema

ATR_PERIOD = 14
#: Periods after which a recursive indicator (Wilder's ATR/RSI) no longer depends on its seed.
WILDER_PERIODS = 40
#: Multiples of (period + 1) after which an EMA no longer depends on its seed.
EMA_SPANS = 20
#: Bars the live path remembers zones and levels that stay alive until price reaches them.
ZONE_HORIZON_BARS = 5000
#: ... or this long, whichever is more bars.
ZONE_HORIZON = pd.Timedelta(days=14)
DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(weeks=1)


def wilder_bars(period: int) -> int:
    return WILDER_PERIODS * period


def ema_bars(period: int) -> int:
    return EMA_SPANS * (period + 1)


def _ma_bars(kind: str, period: int) -> int:
    return ema_bars(period) if kind == "ema" else period


def _span(timeframe: str, length: pd.Timedelta) -> int:
    """Base bars covering `length` of time."""
    return math.ceil(length / timeframe_delta(timeframe))


def zone_horizon(timeframe: str) -> int:
    """Bars a zone or level alive until price reaches it is remembered."""
    return max(ZONE_HORIZON_BARS, _span(timeframe, ZONE_HORIZON))


def _atr_bars(min_size_atr: float) -> int:
    return wilder_bars(ATR_PERIOD) if min_size_atr > 0 else 0


def _level_bars(block: schema.SweepBlock, timeframe: str) -> int:
    """Bars that make the swept level itself."""
    if block.of in ("swing", "equal_levels"):
        return 2 * block.length + 1
    if block.of == "session":
        return _span(timeframe, DAY) + 1
    return _span(timeframe, 2 * (WEEK if block.of == "previous_week" else DAY)) + 1


def condition_lookback(block, market: schema.Market) -> int:
    """Base bars `block` needs before (and including) a bar; see the module table."""
    tf = market.timeframe
    zone = zone_horizon(tf)
    detector = block.detector
    if detector == "fvg":
        alive = zone if block.event == "touched" else 0
        return max(3 + alive, _atr_bars(block.min_size_atr))
    if detector == "swing":
        return 2 * block.length + 1
    if detector == "sweep":
        return _level_bars(block, tf) + zone + block.reclaim_bars
    if detector == "structure":
        return 2 * block.length + 1 + zone
    if detector == "order_block":
        alive = zone if block.event == "retest" else 0
        return 2 * block.length + 1 + zone + alive
    if detector == "equal_levels":
        return 2 * block.length + 1 + zone
    if detector == "ma_cross":
        return _ma_bars(block.kind, block.slow) + 1
    if detector == "ma_trend":
        bars = _ma_bars(block.kind, block.period)
        if block.timeframe == "context":
            ratio = math.ceil(timeframe_delta(market.context_timeframe) / timeframe_delta(tf))
            return (bars + 1) * ratio
        return bars
    if detector in ("rsi", "atr"):
        return wilder_bars(block.period) + 1
    return 1  # session: a function of the bar's time


def _node_lookback(node, lookbacks: dict[str, int]) -> int:
    if isinstance(node, str):
        return lookbacks[node]
    if isinstance(node, schema.NotOf):
        return _node_lookback(node.not_, lookbacks)
    if isinstance(node, schema.Sequence):
        return max(_node_lookback(step, lookbacks) for step in node.sequence) + node.within_bars
    children = node.all_ if isinstance(node, schema.AllOf) else node.any_
    return max(_node_lookback(child, lookbacks) for child in children)


def _plan_lookback(setup: schema.Setup) -> int:
    """ATR(14) of the signal bar, when the stop buffer, a stop guard or a filter reads it."""
    stop, filters = setup.plan.stop, setup.filters
    uses_atr = (stop.buffer_atr > 0 or stop.min_atr is not None
                or filters.min_atr_pct is not None or filters.max_atr_pct is not None)
    return wilder_bars(ATR_PERIOD) + 1 if uses_atr else 1


def setup_lookback(setup: schema.Setup) -> int:
    """Bars of the setup's timeframe a window must hold, ending at a bar, for that bar's
    signals to be those of the whole data (within the bounded horizon above)."""
    lookbacks = {name: condition_lookback(block, setup.market)
                 for name, block in setup.conditions.items()}
    return max(_node_lookback(setup.signal, lookbacks), _plan_lookback(setup))
