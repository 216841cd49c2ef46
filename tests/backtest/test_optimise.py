"""Optuna optimisation over declared ranges (resumable only on the same inputs) and grid
sweeps."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from engine.backtest import optimise as optimise_module
from engine.backtest.optimise import (
    evaluate,
    optimise,
    save_best_as_version,
    sweep,
)
from engine.backtest.simulate import Costs, Sizing
from engine.errors import ConfigurationError, SetupError
from engine.setups import apply_parameters, compile_setup, parse_setup
from engine.setups.schema import ParamRange
from engine.setups.store import SetupStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "setups" / "sma-cross.yaml"


PARAMS = ["params_conditions.cross.fast", "params_conditions.cross.slow"]
COSTS = Costs(0.0, 0.0)  # the example's own costs and sizing: optimise's defaults
SIZING = Sizing("risk_percent", 1.0)


def _setup():
    return parse_setup(EXAMPLE.read_text())


def test_optimise_reports_its_best_trial_and_saves_it(demo_candles, tmp_path) -> None:
    setup, candles = _setup(), demo_candles.iloc[:8000]
    result = optimise(setup, candles, symbol="X", n_trials=12, min_trades=3)
    assert set(result.best_params) == {"conditions.cross.fast", "conditions.cross.slow"}
    assert result.best_params["conditions.cross.fast"] in (5, 10, 15, 20)
    assert result.best_params["conditions.cross.slow"] in (20, 30, 40, 50, 60)
    finished = result.trials[result.trials["state"] == "COMPLETE"]
    assert result.best_value == finished["value"].max()
    assert finished["value"].nunique() > 1  # the ranges matter on this data
    # the study's best is what a fresh backtest of those parameters scores (no cache, no reuse)
    value, metrics = evaluate(apply_parameters(setup, result.best_params), candles, symbol="X",
                              costs=COSTS, sizing=SIZING, min_trades=3, objective="expectancy_r")
    assert value == result.best_value and metrics["trades"] >= 3
    store = SetupStore(tmp_path / "setups")
    store.save(EXAMPLE.read_text())
    saved = save_best_as_version(store, setup, result.best_params)
    assert saved.version == 2
    assert saved.setup.conditions["cross"].fast == int(result.best_params["conditions.cross.fast"])
    assert saved.setup.conditions["cross"].slow == int(result.best_params["conditions.cross.slow"])


def test_a_resumed_study_continues_without_replaying_its_trials(demo_candles, tmp_path,
                                                                monkeypatch) -> None:
    setup, candles = _setup(), demo_candles.iloc[:6000]
    first = optimise(setup, candles, symbol="X", n_trials=4, min_trades=3,
                     storage_dir=tmp_path, study_name="s")
    scored = []
    real = optimise_module.LeanRunner.evaluate  # what a trial scores with (the lean path)
    monkeypatch.setattr(optimise_module.LeanRunner, "evaluate",
                        lambda self, candidate, **options: scored.append(candidate)
                        or real(self, candidate, **options))
    again = optimise(setup, candles, symbol="X", n_trials=4, min_trades=3,
                     storage_dir=tmp_path, study_name="s")
    assert list(again.trials["number"]) == list(range(8))
    kept = again.trials.iloc[:4][["number", "value", *PARAMS]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first.trials[["number", "value", *PARAMS]])
    old = [tuple(row) for row in first.trials[PARAMS].to_numpy()]
    new = [tuple(row) for row in again.trials.iloc[4:][PARAMS].to_numpy()]
    assert new != old  # the sampler does not replay the first run's draws
    unseen = {p for p in new if p not in old}
    assert len(scored) == len(unseen)  # only parameters never scored are backtested
    repeats = again.trials.iloc[4:]
    for row in repeats[repeats[PARAMS].apply(tuple, axis=1).isin(old)].itertuples():
        assert row.user_attrs_repeat_of < 4
    assert again.best_value == again.trials["value"].max() >= first.best_value
    assert (first.resumed_trials, again.resumed_trials) == (0, 4)


def _one_close_changed(candles: pd.DataFrame) -> pd.DataFrame:
    changed = candles.copy()
    bar = changed.index[100]
    changed.loc[bar, "close"] = (changed.loc[bar, "high"] + changed.loc[bar, "low"]) / 2 + 0.01
    return changed


CHANGES = {  # field reported -> how the resumed call differs from the first
    "symbol": lambda s, c: ({"symbol": "Y"}, s, c),
    "data_start": lambda s, c: ({}, s, c.iloc[1:]),
    "data_end": lambda s, c: ({}, s, c.iloc[:-1]),
    "data_hash": lambda s, c: ({}, s, _one_close_changed(c)),
    "costs": lambda s, c: ({"costs": Costs(5.0, 0.0)}, s, c),
    "sizing": lambda s, c: ({"sizing": Sizing("risk_percent", 2.0)}, s, c),
    "objective": lambda s, c: ({"objective": "sharpe"}, s, c),
    "min_trades": lambda s, c: ({"min_trades": 4}, s, c),
    "parameter_space": lambda s, c: ({}, s.model_copy(update={"optimise": {
        **s.optimise, "conditions.cross.slow": ParamRange(low=20, high=40, step=10)}}), c),
    "rule_hash": lambda s, c: ({}, apply_parameters(s, {"plan.target.percent": 3.0}), c),
}


@pytest.mark.parametrize("field", list(CHANGES))
def test_a_study_refuses_to_resume_on_other_inputs(demo_candles, tmp_path, field) -> None:
    setup, candles = _setup(), demo_candles.iloc[:3000]
    base = {"symbol": "X", "n_trials": 2, "min_trades": 3, "storage_dir": tmp_path,
            "study_name": "s", "objective": "expectancy_r"}
    optimise(setup, candles, **base)
    change, other_setup, other_candles = CHANGES[field](setup, candles)
    with pytest.raises(ConfigurationError, match=f"study 's' in .*s.db was scored on {field} "):
        optimise(other_setup, other_candles, **{**base, **change})
    stored = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert len(stored.trials) == 2  # refused before any trial ran


def test_a_study_without_recorded_inputs_is_not_resumed(demo_candles, tmp_path) -> None:
    legacy = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}",
                                 direction="maximize")
    legacy.enqueue_trial({"conditions.cross.fast": 10, "conditions.cross.slow": 30})
    legacy.optimize(lambda t: t.suggest_float("conditions.cross.fast", 5, 20, step=5), n_trials=1)
    with pytest.raises(ConfigurationError, match="does not record the data and costs"):
        optimise(_setup(), demo_candles.iloc[:2000], symbol="X", n_trials=1, min_trades=1,
                 storage_dir=tmp_path, study_name="s")
    with pytest.raises(ConfigurationError, match="study name '../s' is not allowed"):
        optimise(_setup(), demo_candles.iloc[:2000], symbol="X", n_trials=1, min_trades=1,
                 storage_dir=tmp_path, study_name="../s")


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
    assert serial[list(values)].drop_duplicates().shape[0] == 8  # every variant, once
    assert serial.equals(forked)
    assert serial["value"].notna().all() and serial["value"].nunique() > 1
    assert serial["value"].is_monotonic_decreasing
    for row in serial.to_dict("records"):  # each row is its own variant's fresh score
        params = {path: row[path] for path in values}
        value, metrics = evaluate(apply_parameters(setup, params), candles, symbol="X",
                                  costs=Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                                  sizing=Sizing("risk_percent", setup.risk.percent),
                                  min_trades=3, objective="expectancy_r")
        assert (row["value"], row["trades"]) == (value, metrics["trades"])


def test_cached_detections_give_the_same_signals(demo_candles) -> None:
    """Variants sharing a condition re-use its detection; the signals must not change."""
    setup = parse_setup(EXAMPLE.read_text())
    candles = demo_candles.iloc[:6000]
    cache: dict = {}
    for fast, target in ((10, 1.0), (5, 2.0), (10, 3.0), (5, 1.0)):
        variant = apply_parameters(setup, {"conditions.cross.fast": fast,
                                           "plan.target.percent": target})
        cached = compile_setup(variant)(candles, symbol="X", cache=cache)
        fresh = compile_setup(variant)(candles, symbol="X")
        assert len(fresh) > 0
        assert cached.equals(fresh)
    blocks = [key for key in cache if key[0] != "moving average"]
    assert len(blocks) == 2  # one detection per distinct `cross` block
    averages = sorted(key[2] for key in cache if key[0] == "moving average")
    assert averages == [5, 10, 30]  # and one moving average per period, shared by the blocks


def test_a_study_and_a_run_hash_the_same_candles_alike(demo_candles) -> None:
    """A study's `data_hash` can be compared with a run summary's."""
    from engine.backtest.run import data_hash as run_data_hash

    candles = demo_candles.iloc[:500]
    assert optimise_module.data_hash(candles) == run_data_hash(candles)
    assert optimise_module.data_hash(candles) != optimise_module.data_hash(candles.iloc[1:])
