"""The lookback a live window needs, condition by condition, against numbers worked out by
hand from the rules in engine/setups/lookback.py."""

from __future__ import annotations

import pytest

from engine.setups.compile import compile_setup
from engine.setups.lookback import setup_lookback, zone_horizon
from engine.setups.schema import Setup

PLAN = {"stop": {"percent": 1.0}, "target": {"r_multiple": 2}}


def _setup(conditions, signal, *, timeframe="5m", context=None, plan=PLAN, filters=None):
    market = {"timeframe": timeframe, "context_timeframe": context}
    return Setup.model_validate({"id": "x", "name": "X", "market": market,
                                 "conditions": conditions, "signal": signal, "plan": plan,
                                 "filters": filters or {}})


@pytest.mark.parametrize(("block", "bars"), [
    ({"detector": "swing", "length": 5}, 11),
    ({"detector": "fvg"}, 3),
    ({"detector": "fvg", "min_size_atr": 0.2}, 560),  # ATR(14) to the last bit: 40 x 14
    ({"detector": "fvg", "event": "touched"}, 5003),  # a gap alive until touched
    ({"detector": "rsi", "period": 14}, 561),
    ({"detector": "ma_cross", "kind": "sma", "fast": 10, "slow": 30}, 31),
    ({"detector": "ma_cross", "kind": "ema", "fast": 10, "slow": 30}, 20 * 31 + 1),
    ({"detector": "ma_trend", "kind": "ema", "period": 50}, 1020),
    ({"detector": "session", "session": "london"}, 1),
    ({"detector": "sweep", "of": "previous_day", "reclaim_bars": 2}, 577 + 5000 + 2),
    ({"detector": "sweep", "of": "previous_week"}, 4033 + 5000 + 1),
])
def test_each_condition(block, bars):
    assert setup_lookback(_setup({"c": block}, "c")) == bars


def test_the_zone_horizon_is_14_days_or_5000_bars_whichever_is_longer():
    assert zone_horizon("5m") == 5000  # 14 days are 4,032 bars
    assert zone_horizon("1m") == 14 * 1440
    assert zone_horizon("1h") == 5000


def test_context_sequence_and_plan():
    context = _setup({"t": {"detector": "ma_trend", "kind": "ema", "period": 50,
                            "timeframe": "context"}}, "t", context="1h")
    assert setup_lookback(context) == (20 * 51 + 1) * 12
    sequence = _setup({"a": {"detector": "swing", "length": 5}, "b": {"detector": "fvg"}},
                      {"sequence": ["a", "b"], "within_bars": 30})
    assert setup_lookback(sequence) == 11 + 30
    atr_stop = {"stop": {"percent": 1.0, "buffer_atr": 0.5}, "target": {"r_multiple": 2}}
    assert setup_lookback(_setup({"b": {"detector": "fvg"}}, "b", plan=atr_stop)) == 561
    atr_filter = _setup({"b": {"detector": "fvg"}}, "b", filters={"min_atr_pct": 0.1})
    assert compile_setup(atr_filter).lookback == 561
