"""Parameter search over a setup's declared ranges: Optuna studies and exhaustive grid sweeps
(walk-forward analysis is in `engine.backtest.walkforward`).

Each condition is detected once per distinct block (a cache kept for one search over one candle
frame): a trial that changes only the plan or one condition re-uses the other detections.
Trials skip the per-signal explanations. Studies live in SQLite under ``runs/optuna/<study>.db``
and resume where they stopped; a sweep spreads its variants over worker processes. The best
parameters can be saved as a new setup version.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from engine.backtest.metrics import compute_metrics
from engine.backtest.simulate import Costs, Sizing, simulate
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, dump_setup
from engine.setups.params import grid, parameter_space
from engine.setups.schema import Setup

OBJECTIVES = ("expectancy_r", "profit_factor", "sharpe", "sqn", "total_return_pct")
Progress = Callable[[float, str], None]


def evaluate(setup: Setup, candles: pd.DataFrame, *, symbol: str, costs: Costs,
             sizing: Sizing, min_trades: int, objective: str, cache: dict | None = None
             ) -> tuple[float, dict]:
    """Objective value of one parameter set on one candle window (-inf when too few trades).
    `cache`: detections kept across calls on the same `candles` (see `CompiledSetup`)."""
    signals = compile_setup(setup)(candles, symbol=symbol, explain=False, cache=cache)
    result = simulate(candles, signals, costs=costs, sizing=sizing)
    metrics = compute_metrics(result.trades, result.equity, timeframe=setup.market.timeframe,
                              candles=candles, initial_equity=result.initial_equity)
    value = metrics.get(objective)
    if metrics["trades"] < min_trades or value is None:
        return float("-inf"), metrics
    return float(value), metrics


def _suggest(trial: optuna.Trial, path: str, r) -> float:
    if r.step:
        return trial.suggest_float(path, r.low, r.high, step=r.step)
    return trial.suggest_float(path, r.low, r.high)


@dataclasses.dataclass
class OptimiseResult:
    best_params: dict
    best_value: float
    trials: pd.DataFrame
    study_name: str
    storage: str


def optimise(setup: Setup, candles: pd.DataFrame, *, symbol: str, objective: str = "expectancy_r",
             n_trials: int = 100, min_trades: int = 10, costs: Costs | None = None,
             sizing: Sizing | None = None, storage_dir: Path | None = None,
             study_name: str | None = None, n_jobs: int = 1, seed: int = 7,
             progress: Progress | None = None) -> OptimiseResult:
    """Search the setup's `optimise:` ranges for the best `objective`."""
    if objective not in OBJECTIVES:
        raise SetupError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    space = parameter_space(setup)
    if not space:
        raise SetupError(f"setup {setup.id} declares no `optimise:` ranges")
    costs = costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    sizing = sizing or Sizing("risk_percent", setup.risk.percent)
    optuna.logging.set_verbosity(logging.WARNING)
    storage = None
    name = study_name or f"{setup.id}-{objective}"
    if storage_dir is not None:
        Path(storage_dir).mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{Path(storage_dir) / (name + '.db')}"
    study = optuna.create_study(direction="maximize", study_name=name, storage=storage,
                                load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed))
    done = [0]
    cache: dict = {}

    def run(trial: optuna.Trial) -> float:
        values = {path: _suggest(trial, path, r) for path, r in space.items()}
        try:
            candidate = apply_parameters(setup, values)
        except SetupError:
            raise optuna.TrialPruned() from None
        value, metrics = evaluate(candidate, candles, symbol=symbol, costs=costs, sizing=sizing,
                                  min_trades=min_trades, objective=objective, cache=cache)
        trial.set_user_attr("trades", metrics["trades"])
        done[0] += 1
        if progress:
            progress(done[0] / n_trials, f"trial {done[0]}/{n_trials}")
        return value if np.isfinite(value) else -1e12

    study.optimize(run, n_trials=n_trials, n_jobs=n_jobs)
    trials = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "state"))
    return OptimiseResult(study.best_params, study.best_value, trials, name, storage or "memory")


def sweep(setup: Setup, candles: pd.DataFrame, *, symbol: str,
          values: dict[str, list[float]] | None = None, objective: str = "expectancy_r",
          min_trades: int = 10, costs: Costs | None = None, sizing: Sizing | None = None,
          workers: int | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Every combination of `values` (default: the grid of the setup's stepped ranges), best
    first: one row per variant with its parameters, objective value and main metrics.

    Variants run in `workers` processes (default: every core) forked from this one, so the
    candles are shared, not copied or pickled; each worker keeps its own detection cache.
    """
    if objective not in OBJECTIVES:
        raise SetupError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    values = values or grid(parameter_space(setup))
    if not values:
        raise SetupError(f"setup {setup.id} declares no `optimise:` ranges")
    paths = list(values)
    variants = [dict(zip(paths, combo, strict=True))
                for combo in itertools.product(*values.values())]
    job = _SweepJob(setup, candles, symbol, objective, min_trades,
                    costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                    sizing or Sizing("risk_percent", setup.risk.percent))
    workers = max(1, min(workers or os.cpu_count() or 1, len(variants)))
    rows = []
    for number, row in enumerate(_map(job, variants, workers), start=1):
        rows.append(row)
        if progress:
            progress(number / len(variants), f"variant {number}/{len(variants)}")
    table = pd.DataFrame(rows)
    return table.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def _map(job: _SweepJob, variants: list[dict], workers: int):
    """`job(variant)` for every variant, in order, on `workers` forked processes (a forked
    worker inherits the job, candles included, without pickling it)."""
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(job, variants)
        return
    with multiprocessing.get_context("fork").Pool(workers, initializer=_install,
                                                  initargs=(job,)) as pool:
        yield from pool.imap(_run_installed, variants,
                             chunksize=max(1, len(variants) // (8 * workers)))


@dataclasses.dataclass
class _SweepJob:
    setup: Setup
    candles: pd.DataFrame
    symbol: str
    objective: str
    min_trades: int
    costs: Costs
    sizing: Sizing
    cache: dict = dataclasses.field(default_factory=dict)

    def __call__(self, params: dict) -> dict:
        try:
            candidate = apply_parameters(self.setup, params)
        except SetupError as error:
            return {**params, "value": None, "trades": 0, "error": str(error)}
        value, metrics = evaluate(candidate, self.candles, symbol=self.symbol, costs=self.costs,
                                  sizing=self.sizing, min_trades=self.min_trades,
                                  objective=self.objective, cache=self.cache)
        return {**params, "value": value if np.isfinite(value) else None,
                **{k: metrics.get(k) for k in SWEEP_METRICS}, "error": ""}


SWEEP_METRICS = ("trades", "win_rate", "expectancy_r", "profit_factor", "total_return_pct",
                 "max_drawdown_pct")


_installed: _SweepJob | None = None  # set in each sweep worker process


def _install(job: _SweepJob) -> None:
    global _installed
    _installed = job


def _run_installed(params: dict) -> dict:
    return _installed(params)


def save_best_as_version(store, setup: Setup, params: dict):
    """Write the optimised setup as a new version through the setup store."""
    return store.save(dump_setup(apply_parameters(setup, params)),
                      source=f"{setup.id} (optimised)")
