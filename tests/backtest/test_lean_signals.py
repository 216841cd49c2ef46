"""The signal route of sweep variants (`CompiledSetup._event_bars`: the signal tree read at the
bars where its events fire, no per-bar array) gives exactly the signals of the per-bar route
(`_active_bars`), for every variant of the sweeps and of every example setup's `optimise:`
ranges, and for signal trees and filters of every kind."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.backtest.lean import BoundedCache
from engine.backtest.optimise import sweep_variants
from engine.candles import resample
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, parse_setup
from engine.setups.compile import FrameCache
from tests.backtest.test_lean import SMA_TEXT, _synthetic

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"
FIELDS = ("bars", "direction", "entry", "stop", "target", "risk")


def _both_routes(setup, candles, *, cache=None, since=0, context=None):
    """(the event route's signals and counters, the per-bar route's), on one compiled setup;
    asserts the event route was taken."""
    compiled = compile_setup(setup)
    taken = []
    event_bars = compiled._event_bars

    def spy(*args):
        found = event_bars(*args)
        taken.append(found is not None)
        return found

    compiled._event_bars = spy
    sparse = compiled.signal_arrays(candles, cache=cache, since=since, context=context)
    sparse_counters = dict(compiled.counters, dropped=compiled.dropped)
    assert taken == [True], f"{setup.id}: the event route was not taken"
    compiled._event_bars = lambda *args: None
    dense = compiled.signal_arrays(candles, cache=cache, since=since, context=context)
    return (sparse, sparse_counters), (dense, dict(compiled.counters, dropped=compiled.dropped))


def _same(setup, candles, where: str, **kwargs) -> int:
    (sparse, sparse_counters), (dense, dense_counters) = _both_routes(setup, candles, **kwargs)
    assert sparse_counters == dense_counters, where
    if dense is None:
        assert sparse is None, where
        return 0
    assert sparse is not None, where
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(sparse, name), getattr(dense, name),
                                      err_msg=f"{where}: {name}")
    return len(dense.bars)


def test_every_sma_sweep_variant_has_the_per_bar_routes_signals() -> None:
    setup, candles = parse_setup(SMA_TEXT), _synthetic(20_000, seed=9)
    cache = BoundedCache()
    cache.validated = True
    values = {"conditions.cross.fast": list(range(5, 25, 2)),
              "conditions.cross.slow": list(range(30, 80, 5))}  # bench/backtest.py's SWEEP
    seen = 0
    for params in sweep_variants(setup, values):
        seen += _same(apply_parameters(setup, params), candles, str(params), cache=cache)
    assert seen > 10_000  # the variants trade: the comparison compares something


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_setups_optimise_ranges_give_the_per_bar_routes_signals(
        path, demo_candles) -> None:
    setup = parse_setup(path.read_text())
    timeframe = setup.market.timeframe
    candles = demo_candles if timeframe == "1m" else resample(demo_candles, timeframe,
                                                              source_timeframe="1m")
    if timeframe == "1m":
        candles = candles.iloc[:8_000]
    cache = FrameCache()
    variants = sweep_variants(setup)
    seen = 0
    for params in variants[::max(1, len(variants) // 40)]:  # at most ~40 spread over the grid
        try:
            variant = apply_parameters(setup, params)
        except SetupError:  # an invalid corner of the grid (fast not shorter than slow)
            continue
        seen += _same(variant, candles, f"{path.stem} {params}", cache=cache)
    assert seen > 0


CROSS = ("  cross: {detector: ma_cross, kind: sma, fast: 8, slow: 21}\n"
         "  slow_cross: {detector: ma_cross, kind: ema, fast: 20, slow: 50}\n"
         "  trend: {detector: ma_trend, kind: ema, period: 100, direction: bullish}\n"
         "  calm: {detector: rsi, period: 14, above: 30, below: 70}\n"
         "  swing: {detector: swing, length: 3}\n")
TREES = {
    "all of an event and states": "signal:\n  all: [cross, trend, calm]\n",
    "all with a not": "signal:\n  all: [cross, {not: calm}]\n",
    "any of events": "signal:\n  any: [cross, slow_cross]\n",
    "all of two events": "signal:\n  all: [cross, swing]\n",
    "sequence": "signal:\n  sequence: [swing, cross]\n  within_bars: 20\n",
    "nested": "signal:\n  any: [{all: [cross, trend]}, {sequence: [swing, slow_cross], "
              "within_bars: 40}]\n",
}
FILTERS = {
    "none": "",
    "time": "filters:\n  sessions: [london, new_york]\n  weekdays: [mon, tue, wed, thu]\n"
            "  hours: {start: '06:30', end: '20:00', tz: Europe/London}\n",
    "atr": "filters:\n  min_atr_pct: 0.02\n  max_atr_pct: 0.2\n",
}


def _tree_setup(tree: str, filters: str, direction: str, plan: str = ""):
    start, end = SMA_TEXT.index("conditions:"), SMA_TEXT.index("plan:")
    used = "".join(line + "\n" for line in CROSS.splitlines()
                   if re.search(rf"\b{line.split(':')[0].strip()}\b", TREES[tree] + plan))
    text = SMA_TEXT[:start] + "conditions:\n" + used + TREES[tree] + FILTERS[filters] + \
        f"direction: {direction}\n" + SMA_TEXT[end:]
    if plan:
        text = text.replace("  stop: {percent: 1.0}", plan)
    return parse_setup(text)


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("filters", list(FILTERS))
def test_signal_trees_and_filters_give_the_per_bar_routes_signals(tree, filters) -> None:
    candles = _synthetic(12_000, seed=4)
    seen = 0
    for direction in ("both", "long", "short"):
        setup = _tree_setup(tree, filters, direction)
        for cache in (None, FrameCache()):
            seen += _same(setup, candles, f"{tree} {filters} {direction}", cache=cache)
        seen += _same(setup, candles, f"{tree} {filters} {direction} since", since=9_000)
    assert seen > 0


def test_stops_at_levels_with_atr_guards_give_the_per_bar_routes_signals() -> None:
    plan = "  stop: {level: swing.extreme, buffer_atr: 0.5, min_atr: 1.0, min_cost_multiple: 2}"
    setup = _tree_setup("all of two events", "atr", "both", plan)
    assert _same(setup, _synthetic(12_000, seed=2), "levels", cache=FrameCache()) >= 0
    setup = _tree_setup("sequence", "time", "both", plan)
    assert _same(setup, _synthetic(12_000, seed=2), "levels") > 0


def test_a_signal_true_beyond_its_events_keeps_the_per_bar_route() -> None:
    TREES["any with a not"] = "signal:\n  any: [cross, {not: calm}]\n"
    try:
        compiled = compile_setup(_tree_setup("any with a not", "none", "long"))
    finally:
        del TREES["any with a not"]
    candles = _synthetic(2_000)
    assert compiled._event_bars(candles, compiled.evaluate(candles), None, 0) is None
    crosses = compiled.evaluate(candles)["cross"].positions
    assert len(compiled.signal_arrays(candles).bars) > len(crosses)  # bars beyond the events


def test_a_sweeps_variants_share_one_time_filter_mask(monkeypatch) -> None:
    """The time filters are computed once per candle frame and filters, not per variant."""
    from engine.setups import compile as compile_module

    calls = []
    real = compile_module.time_filters_allow
    monkeypatch.setattr(compile_module, "time_filters_allow",
                        lambda *args: calls.append(1) or real(*args))
    setup, candles = _tree_setup("all of an event and states", "time", "both"), _synthetic()
    cache = BoundedCache()
    for fast in range(2, 21):  # more variants than the cache keeps blocks
        variant = apply_parameters(setup, {"conditions.cross.fast": fast})
        compile_setup(variant).signal_arrays(candles, cache=cache)
    assert len(calls) == 1


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_setups_optimise_ranges_score_as_the_full_path(path, demo_candles) -> None:
    """The lean path's numbers (signals on the event route) equal the full backtest's for a
    spread of each example setup's `optimise:` variants on real candles."""
    from engine.backtest.simulate import Costs, Sizing
    from tests.backtest.test_lean import _check_grid

    setup = parse_setup(path.read_text())
    timeframe = setup.market.timeframe
    candles = demo_candles.iloc[:10_000] if timeframe == "1m" else resample(
        demo_candles, timeframe, source_timeframe="1m")
    valid = []
    for params in sweep_variants(setup):
        try:
            apply_parameters(setup, params)
        except SetupError:
            continue
        valid.append(params)
    spread = valid[::max(1, len(valid) // 6)]
    costs = Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    seen = _check_grid(setup, candles, spread, costs=costs, sizing=Sizing("risk_percent", 0.5))
    assert seen > 0, "no variant traded: nothing compared"
