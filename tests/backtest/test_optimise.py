"""Optuna optimisation over declared ranges (resumable) and walk-forward windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backtest.optimise import optimise, save_best_as_version, walkforward
from engine.errors import SetupError
from engine.setups import parse_setup
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


def test_walkforward_stitches_out_of_sample_windows(demo_candles) -> None:
    setup = parse_setup(EXAMPLE.read_text())
    result = walkforward(setup, demo_candles.iloc[:12000], symbol="X", train_bars=4000,
                         test_bars=2000, n_trials=4, min_trades=2)
    assert len(result.windows) == 4
    assert (result.windows["test_start"] > result.windows["train_end"]).all()
    assert result.out_of_sample["trades"] == len(result.out_of_sample_trades)
    assert set(result.out_of_sample_trades["window"]) <= set(range(4))
    with pytest.raises(SetupError, match="needs at least"):
        walkforward(setup, demo_candles.iloc[:100], symbol="X", train_bars=4000, test_bars=10)
