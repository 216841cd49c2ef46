"""The lean sweep path (engine.backtest.lean) gives, for every variant, exactly the numbers of
the full path (signals frame -> simulate -> compute_metrics), and never loses a variant."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.backtest import optimise as optimise_module
from engine.backtest.lean import (
    LEAN_METRICS,
    BoundedCache,
    LeanRunner,
    LeanSpec,
    grouped,
    prepared_count,
    run_chunk,
)
from engine.backtest.optimise import evaluate, sweep
from engine.backtest.simulate import Costs, Sizing
from engine.candles import resample
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, parse_setup

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"
SMA_TEXT = (EXAMPLES / "sma-cross.yaml").read_text()
PLANS = {  # the SMA rule under plans that take every branch of the kernel
    "market": "  entry: {type: market}\n  stop: {percent: 1.0}\n  target: {percent: 2.0}\n",
    "limit, breakeven": "  entry: {type: limit, level: pivot.level, expiry_bars: 5}\n"
                        "  stop: {percent: 0.5}\n  target: {r_multiple: 3.0}\n"
                        "  breakeven_at_r: 1.0\n",
    "partial, time exit": "  entry: {type: market}\n  stop: {percent: 0.4}\n"
                          "  target: {percent: 1.5}\n  partial: {at_r: 1.0, fraction: 0.5}\n"
                          "  time_exit_bars: 60\n",
}
GRID = {"conditions.cross.fast": [5, 10, 15], "conditions.cross.slow": [20, 40, 60, 90]}


def _sma(plan: str):
    """The SMA example under `plan`; a limit plan enters at the last 3-bar swing's level."""
    start = SMA_TEXT.index("  entry: {type: market}")
    end = SMA_TEXT.index("risk:")
    text = SMA_TEXT[:start] + PLANS[plan] + SMA_TEXT[end:]
    if "pivot" in PLANS[plan]:
        text = text.replace("signal: cross", "  pivot: {detector: swing, length: 3}\n"
                            "signal: cross")
    return parse_setup(text)


def _synthetic(bars: int = 12_000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 20_000.0 * np.exp(np.cumsum(rng.standard_t(4, size=bars) * 0.0008))
    open_ = np.r_[20_000.0, close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.0006, size=(2, bars))) * close
    index = pd.date_range("2024-01-01", periods=bars, freq="1min", tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + wick[0],
                         "low": np.minimum(open_, close) - wick[1], "close": close,
                         "volume": rng.uniform(1, 10, bars)}, index=index)


def _variants(values: dict[str, list]) -> list[dict]:
    return [dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())]


def _same(full: dict, lean: dict, where: str) -> None:
    assert lean["trades"] == full["trades"], where
    for name in LEAN_METRICS:
        a, b = full[name], lean[name]
        if a is None or b is None:
            assert a is None and b is None, f"{where}: {name} {a} vs {b}"
        else:
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {name} {a} vs {b}"


def _check_grid(setup, candles, variants, *, costs, sizing, objective="expectancy_r") -> int:
    """Every variant's lean metrics against the full path's; returns the trades seen."""
    runner = LeanRunner(LeanSpec(setup, candles, "X", objective, 1, costs, sizing))
    seen = 0
    for params in variants:
        candidate = apply_parameters(setup, params)
        value, full = evaluate(candidate, candles, symbol="X", costs=costs, sizing=sizing,
                               min_trades=1, objective=objective)
        lean_value, lean = runner.evaluate(candidate)
        _same(full, lean, f"{setup.id} {params}")
        assert lean_value == value or (math.isinf(value) and math.isinf(lean_value))
        seen += full["trades"]
    return seen


@pytest.mark.parametrize("plan", list(PLANS))
def test_lean_equals_full_path_on_synthetic_data(plan) -> None:
    setup, candles = _sma(plan), _synthetic()
    variants = _variants(GRID)  # 12 per plan, 36 over the three plans
    seen = _check_grid(setup, candles, variants, costs=Costs(5.0, 2.0),
                       sizing=Sizing("risk_percent", 1.0, max_leverage=3.0))
    assert seen > 100 * len(variants) // 12  # the grid trades: the check compares something


def test_lean_equals_full_path_with_other_sizings_and_no_costs() -> None:
    setup, candles = _sma("market"), _synthetic(6_000, seed=11)
    variants = _variants({"conditions.cross.fast": [4, 8], "conditions.cross.slow": [25, 50]})
    for sizing in (Sizing("fixed_size", 1.0), Sizing("fixed_cash", 5_000.0)):
        _check_grid(setup, candles, variants, costs=Costs(0.0, 0.0), sizing=sizing,
                    objective="sharpe")


def test_lean_equals_full_path_on_the_demo_data(demo_candles) -> None:
    """Real BTC/USDT: the London sweep + FVG setup (limit entries at a gap, stops at a sweep's
    extreme with an ATR buffer and a cost guard) on 5m, and the SMA rule on 1m."""
    setup = parse_setup((EXAMPLES / "london-asia-sweep-fvg.yaml").read_text())
    five = resample(demo_candles, "5m", source_timeframe="1m")
    variants = _variants({"conditions.bull_fvg.min_size_atr": [0.0, 0.2, 0.5],
                          "plan.target.r_multiple": [1.0, 2.0, 3.0]})
    costs = Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    seen = _check_grid(setup, five, variants, costs=costs, sizing=Sizing("risk_percent", 0.5))
    sma = _sma("market")
    seen += _check_grid(sma, demo_candles.iloc[:15_000], _variants(GRID), costs=costs,
                        sizing=Sizing("risk_percent", 1.0), objective="profit_factor")
    assert seen > 0


def test_a_variant_without_signals_scores_like_the_full_path() -> None:
    setup, candles = _sma("market"), _synthetic(400)
    _check_grid(setup, candles, [{"conditions.cross.fast": 150, "conditions.cross.slow": 390}],
                costs=Costs(), sizing=Sizing())


def test_the_sweep_table_is_the_full_paths_numbers_on_two_workers() -> None:
    setup, candles = _sma("limit, breakeven"), _synthetic(8_000, seed=5)
    costs, sizing = Costs(5.0, 2.0), Sizing("risk_percent", 1.0)
    table = sweep(setup, candles, symbol="X", values=GRID, costs=costs, sizing=sizing,
                  min_trades=5, workers=2, objective="sqn")
    assert len(table) == len(_variants(GRID))
    for row in table.to_dict("records"):
        params = {path: row[path] for path in GRID}
        value, full = evaluate(apply_parameters(setup, params), candles, symbol="X",
                               costs=costs, sizing=sizing, min_trades=5, objective="sqn")
        assert row["trades"] == full["trades"]
        assert (row["value"] is None or np.isnan(row["value"])) if math.isinf(value) \
            else math.isclose(row["value"], value, rel_tol=1e-9)
        for name in ("expectancy_r", "total_return_pct", "max_drawdown_pct"):
            assert full[name] is None and np.isnan(row[name]) or math.isclose(
                row[name], full[name], rel_tol=1e-9, abs_tol=1e-9), name


def test_every_variant_comes_back_once_invalid_ones_with_their_error() -> None:
    setup, candles = _sma("market"), _synthetic(3_000)
    values = {"conditions.cross.fast": [0, 5, 10], "conditions.cross.slow": [20, 30]}
    table = sweep(setup, candles, symbol="X", values=values, min_trades=1, workers=1)
    got = sorted(tuple(row) for row in table[list(values)].to_numpy().tolist())
    assert got == sorted(itertools.product(*values.values()))
    invalid = table[table["conditions.cross.fast"] == 0]
    assert len(invalid) == 2 and invalid["error"].str.contains("fast").all()
    assert invalid["value"].isna().all()


def test_run_chunk_gives_one_row_per_variant_in_order() -> None:
    setup, candles = _sma("market"), _synthetic(3_000)
    spec = LeanSpec(setup, candles, "X", "expectancy_r", 1, Costs(), Sizing())
    variants = _variants(GRID)[::-1]
    rows = run_chunk(spec, variants)
    assert [{p: row[p] for p in GRID} for row in rows] == variants


def test_a_sweep_that_loses_a_variant_fails_loudly(monkeypatch) -> None:
    setup, candles = _sma("market"), _synthetic(3_000)
    real = optimise_module.run_chunk
    monkeypatch.setattr(optimise_module, "run_chunk",
                        lambda spec, variants: real(spec, variants)[:-1])
    with pytest.raises(RuntimeError, match="12 variants returned 8 rows"):
        sweep(setup, candles, symbol="X", values=GRID, min_trades=1, workers=1)


def test_the_sweep_cache_keeps_its_moving_averages_while_blocks_pass_through() -> None:
    setup, candles = _sma("market"), _synthetic(2_000)
    runner = LeanRunner(LeanSpec(setup, candles, "X", "expectancy_r", 1, Costs(), Sizing()))
    variants = _variants({"conditions.cross.fast": [3, 4, 5, 6],
                          "conditions.cross.slow": list(range(20, 40))})
    for params in variants:  # 80 blocks: each slow period read again by every fast one
        runner.row(params)
    keys = list(runner.cache)
    averages = [key for key in keys if key[0] == "moving average"]
    assert len(keys) - len(averages) == BoundedCache.blocks
    assert sorted(key[2] for key in averages) == [3, 4, 5, 6, *range(20, 40)]


def test_a_setup_reading_no_atr_finds_its_signals_without_computing_it(monkeypatch) -> None:
    from engine.setups import compile as compile_module

    setup, candles = _sma("market"), _synthetic(3_000)
    expected = compile_setup(setup)(candles, symbol="X")
    with_buffer = setup.model_copy(update={"plan": setup.plan.model_copy(update={
        "stop": setup.plan.stop.model_copy(update={"buffer_atr": 0.5})})})

    def refuse(*args, **kwargs):
        raise AssertionError("the ATR was computed")

    monkeypatch.setattr(compile_module.detect, "atr", refuse)
    assert compile_setup(setup)(candles, symbol="X").equals(expected)
    assert len(expected) > 0
    with pytest.raises(AssertionError, match="the ATR was computed"):
        compile_setup(with_buffer)(candles, symbol="X")


def test_a_pickled_spec_scores_its_chunk_alike() -> None:
    """What a Dask worker or a spawned process gets: the spec and the variants, pickled."""
    import pickle

    setup, candles = _sma("partial, time exit"), _synthetic(3_000)
    spec = LeanSpec(setup, candles, "X", "sharpe", 1, Costs(5.0, 2.0), Sizing())
    variants = _variants(GRID)[:5]
    here = run_chunk(spec, variants)
    there = pickle.loads(pickle.dumps(run_chunk))(pickle.loads(pickle.dumps(spec)), variants)
    assert there == here


def test_the_deepest_drawdown_is_the_full_curves_exactly() -> None:
    from engine.backtest._kernel import drawdowns_nb
    from engine.backtest.lean import max_drawdown_pct_nb

    rng = np.random.default_rng(1)
    for trial in range(200):
        equity = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, int(rng.integers(1, 2000)))))
        if trial % 3 == 0:
            equity -= rng.uniform(500, 1500)  # peaks at or below zero: 0 % there
        assert max_drawdown_pct_nb(equity) == -drawdowns_nb(equity)[1].min(), trial


def test_a_default_sweep_forks_workers_only_when_they_repay_their_start(monkeypatch) -> None:
    monkeypatch.setattr(optimise_module.os, "cpu_count", lambda: 4)
    assert optimise_module._workers(None, 100, 43_800) == 1  # a month of 1m: ~40 ms of work
    assert optimise_module._workers(None, 100, 525_600) == 4  # a year: ~0.5 s of work
    assert optimise_module._workers(2, 10, 100) == 2  # asked for: given
    assert optimise_module._workers(8, 3, 525_600) == 3  # never more workers than variants


@pytest.mark.parametrize("want", [1, -1, 0])
def test_crosses_are_those_of_the_vectorised_rule(want) -> None:
    """`_crosses_nb` against the rule it replaced, on averages with NaN gaps and ties."""
    from engine.setups.compile import _crosses_nb

    rng = np.random.default_rng(want + 5)
    fast = np.round(rng.normal(0, 1, 5_000), 1)
    slow = np.round(rng.normal(0, 1, 5_000), 1)  # rounded: many exact ties (spread 0)
    fast[:30], slow[:50] = np.nan, np.nan
    fast[rng.integers(0, 5_000, 40)] = np.nan
    spread = fast - slow
    above, valid = spread > 0, ~np.isnan(spread)
    prev_above, prev_valid = np.r_[False, above[:-1]], np.r_[False, valid[:-1]]
    up = above & ~prev_above & valid & prev_valid
    down = ~above & prev_above & valid & prev_valid
    active = up if want == 1 else down if want == -1 else up | down
    positions, is_up = _crosses_nb(fast, slow, want)
    assert positions.tolist() == np.flatnonzero(active).tolist()
    assert is_up.tolist() == up[positions].tolist()


def test_candles_sent_apart_are_prepared_once_per_fingerprint() -> None:
    setup, candles = _sma("market"), _synthetic(3_000, seed=5)
    variants = _variants(GRID)
    spec = LeanSpec(setup, candles, "X", "expectancy_r", 1, Costs(), Sizing())
    local = run_chunk(spec, variants)
    before = prepared_count()
    light = spec.without_candles()
    assert light.candles is None and light.candles_key == spec.series_key()
    assert run_chunk(light, variants, candles.copy(deep=True)) == local
    # a later sweep (a new spec) on the same candles finds them prepared
    other = LeanSpec(setup, candles.copy(deep=True), "X", "expectancy_r", 1, Costs(), Sizing())
    assert run_chunk(other.without_candles(), variants[:2], candles) == local[:2]
    assert prepared_count() == before + 1
    changed = candles.copy(deep=True)
    changed.iloc[1_500, :4] *= 1.001
    newer = LeanSpec(setup, changed, "X", "expectancy_r", 1, Costs(), Sizing())
    assert newer.series_key() != spec.series_key()
    assert run_chunk(newer.without_candles(), variants, changed) == run_chunk(newer, variants)
    assert prepared_count() == before + 2


def test_variants_sharing_their_detections_run_one_after_another() -> None:
    variants = _variants({"plan.stop.percent": [0.5, 1.0],
                          "conditions.cross.fast": [5, 10], "conditions.cross.slow": [20, 40]})
    order = grouped(variants)
    ran = [variants[i] for i in order]
    blocks = [(v["conditions.cross.fast"], v["conditions.cross.slow"]) for v in ran]
    assert blocks == sorted(blocks) and sorted(order) == list(range(8))
    setup, candles = _sma("market"), _synthetic(3_000, seed=5)
    table = sweep(setup, candles, symbol="X", values={"plan.stop.percent": [0.5, 1.0],
                  **GRID}, min_trades=1, workers=1)
    alone = [LeanRunner(LeanSpec(setup, candles, "X", "expectancy_r", 1,
                                 Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                                 Sizing("risk_percent", setup.risk.percent))).row(v)
             for v in _variants({"plan.stop.percent": [0.5, 1.0], **GRID})]
    expected = pd.DataFrame(alone).sort_values("value", ascending=False, kind="stable")
    pd.testing.assert_frame_equal(table, expected.reset_index(drop=True))


def _tagged(real):
    """`run_chunk` whose rows say which process scored them."""
    import os

    return lambda spec, variants: [{**row, "pid": os.getpid()} for row in real(spec, variants)]


def test_the_sweeping_process_scores_chunks_beside_its_forked_worker(monkeypatch) -> None:
    import os

    monkeypatch.setattr(optimise_module, "run_chunk", _tagged(optimise_module.run_chunk))
    setup, candles = _sma("market"), _synthetic(3_000)
    table = sweep(setup, candles, symbol="X", values=GRID, min_trades=1, workers=2)
    here = sweep(setup, candles, symbol="X", values=GRID, min_trades=1, workers=1)
    pd.testing.assert_frame_equal(table.drop(columns="pid"), here.drop(columns="pid"))
    assert (table["pid"] == os.getpid()).sum() > 1  # not only the first variant


@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_forked_worker_that_fails_fails_the_sweep(monkeypatch, how) -> None:
    import os
    import time

    parent, real = os.getpid(), optimise_module.run_chunk

    def failing(spec, variants):
        if os.getpid() == parent:
            time.sleep(0.15)  # the worker gets chunks too
            return real(spec, variants)
        if how == "dies":
            os._exit(3)
        raise SetupError("broken in a worker")

    monkeypatch.setattr(optimise_module, "run_chunk", failing)
    expected = "broken in a worker" if how == "raises" else "a sweep worker process died"
    with pytest.raises((SetupError, RuntimeError), match=expected):
        sweep(_sma("market"), _synthetic(3_000), symbol="X", values=GRID, min_trades=1,
              workers=2)
