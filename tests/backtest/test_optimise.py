"""Optuna optimisation over declared ranges (resumable) and walk-forward windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backtest.optimise import (
    evaluate,
    optimise,
    save_best_as_version,
    sweep,
)
from engine.backtest.simulate import Costs, Sizing
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, parse_setup
from engine.setups.store import SetupStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "setups" / "sma-cross.yaml"


def test_optimise_finds_the_best_grid_point_and_resumes(demo_candles, tmp_path) -> None:
    setup = parse_setup(EXAMPLE.read_text())
    candles = demo_candles.iloc[:8000]
    first = optimise(setup, candles, symbol="X", n_trials=12, min_trades=3,
                     storage_dir=tmp_path, study_name="s")
    assert set(first.best_params) == {"conditions.cross.fast", "conditions.cross.slow"}
    assert first.best_params["conditions.cross.fast"] in (5, 10, 15, 20)
    again = optimise(setup, candles, symbol="X", n_trials=5, min_trades=3,
                     storage_dir=tmp_path, study_name="s")
    assert len(again.trials) == 17  # the study resumed from its SQLite file
    assert again.best_value >= first.best_value
    store = SetupStore(tmp_path / "setups")
    store.save(EXAMPLE.read_text())
    saved = save_best_as_version(store, setup, again.best_params)
    assert saved.version == 2
    assert saved.setup.conditions["cross"].fast == int(again.best_params["conditions.cross.fast"])


def test_optimise_needs_ranges_and_a_known_objective(demo_candles) -> None:
    setup = parse_setup(EXAMPLE.read_text())
    with pytest.raises(SetupError, match="objective 'pnl'"):
        optimise(setup, demo_candles.iloc[:500], symbol="X", objective="pnl")
    bare = setup.model_copy(update={"optimise": {}})
    with pytest.raises(SetupError, match="declares no `optimise:` ranges"):
        optimise(bare, demo_candles.iloc[:500], symbol="X")


def test_sweep_ranks_every_variant_the_same_on_two_processes(demo_candles) -> None:
    setup = parse_setup(EXAMPLE.read_text())
    candles = demo_candles.iloc[:6000]
    values = {"conditions.cross.fast": [5, 10], "conditions.cross.slow": [30, 50],
              "plan.target.percent": [1.0, 2.0]}
    serial = sweep(setup, candles, symbol="X", values=values, min_trades=3, workers=1)
    forked = sweep(setup, candles, symbol="X", values=values, min_trades=3, workers=2)
    assert len(serial) == 8
    assert serial.equals(forked)
    assert serial["value"].is_monotonic_decreasing
    best = serial.iloc[0]
    params = {path: best[path] for path in values}
    value, metrics = evaluate(apply_parameters(setup, params), candles, symbol="X",
                              costs=Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                              sizing=Sizing("risk_percent", setup.risk.percent), min_trades=3,
                              objective="expectancy_r")
    assert best["value"] == value and best["trades"] == metrics["trades"]


def test_cached_detections_give_the_same_signals(demo_candles) -> None:
    """Variants sharing a condition re-use its detection; the signals must not change."""
    setup = parse_setup(EXAMPLE.read_text())
    candles = demo_candles.iloc[:6000]
    cache: dict = {}
    for target in (1.0, 2.0, 3.0, 1.0):
        variant = apply_parameters(setup, {"plan.target.percent": target})
        cached = compile_setup(variant)(candles, symbol="X", cache=cache)
        fresh = compile_setup(variant)(candles, symbol="X")
        assert cached.equals(fresh)
    assert len(cache) == len(setup.conditions)
