"""Research jobs: an Optuna search, a grid sweep or a walk-forward of one setup version, run by
the engine daemon (job kinds ``optimise``, ``sweep``, ``walkforward``) and kept as files the
Research page reads after any restart.

Each job calls the one implementation of its search (`engine.backtest.optimise.optimise` and
`sweep`, `engine.backtest.walkforward.walkforward`); this module only gathers the inputs (the
setup version, its candles, the `optimise:` ranges, optionally replaced for this run only) and
writes the answer:

``runs/research/<job-id>/``, written into a hidden temporary folder and renamed when complete:

- ``summary.json``: kind, setup ref, symbol, timeframe, data range, objective, ranges, best;
- ``trials.parquet`` (optimise, sweep): one row per scored parameter set, one column per
  path, ``value`` (NaN: too few trades) and ``trades``, best first;
- ``windows.parquet`` (walk-forward): per window its train and test range, the chosen
  ``param:<path>``, ``in_sample``, ``out_of_sample``, ``test_trades``;
- ``oos_equity.parquet``: the stitched out-of-sample equity; ``oos_trades.parquet`` its
  trades, with ``window``;
- ``is_equity.parquet``: each window's chosen parameters traded on its own train window
  (``window``, ``equity``): what the optimiser saw.

A job run again (the daemon re-queues one it was running when it stopped) starts over and
replaces its folder; an Optuna job resumes its study (``runs/optuna/job-<job-id>.db``) and runs
only the trials still missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine._io import atomic_dir
from engine.errors import DataError
from engine.ids import checked_id

Progress = Callable[[float, str], None]
RESEARCH_KINDS = ("optimise", "sweep", "walkforward")


@dataclasses.dataclass
class ResearchResult:
    job_id: str
    summary: dict
    frames: dict[str, pd.DataFrame]


class ResearchStore:
    """The finished research jobs under ``runs/research/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> ResearchStore:
        from engine.settings import get_settings

        return cls((settings or get_settings()).runs_dir / "research")

    def _folder(self, job_id: str) -> Path:
        return self.root / checked_id(job_id, what="job id", error=DataError)

    def ids(self) -> list[str]:
        """Finished research jobs, newest first."""
        if not self.root.exists():
            return []
        return sorted((p.name for p in self.root.iterdir() if not p.name.startswith(".")
                       and (p / "summary.json").exists()), reverse=True)

    def write(self, job_id: str, summary: dict, frames: dict[str, pd.DataFrame]) -> Path:
        """Write the job's folder atomically; a folder of an earlier attempt is replaced."""
        target = self._folder(job_id)
        old, new = target.with_name(f".{target.name}.old"), target.with_name(f".{target.name}.new")
        for leftover in (old, new):  # of an attempt killed while it renamed
            shutil.rmtree(leftover, ignore_errors=True)
        with atomic_dir(new) as tmp:
            for name, frame in frames.items():
                frame.to_parquet(tmp / f"{name}.parquet")
            (tmp / "summary.json").write_text(
                json.dumps(summary, indent=2, sort_keys=True, default=_plain) + "\n")
        if target.exists():
            os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    def summary(self, job_id: str) -> dict:
        path = self._folder(job_id) / "summary.json"
        if not path.exists():
            raise DataError(f"no research result {job_id!r} under {self.root}")
        return json.loads(path.read_text())

    def load(self, job_id: str) -> ResearchResult:
        folder = self._folder(job_id)
        path = folder / "summary.json"
        if not path.exists():
            raise DataError(f"no research result {job_id!r} under {self.root}")
        frames = {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}
        return ResearchResult(job_id, json.loads(path.read_text()), frames)


def _plain(value):
    """numpy scalars as Python numbers in JSON (an int64 count stays a number)."""
    return value.item() if hasattr(value, "item") else str(value)


@dataclasses.dataclass
class _Inputs:
    ref: str
    setup: object  # engine.setups.schema.Setup with this run's ranges
    symbol: str
    candles: pd.DataFrame
    costs: object
    sizing: object


def _inputs(params) -> _Inputs:
    from engine.adapters.store import CandleStore
    from engine.backtest.simulate import Costs, Sizing
    from engine.pipeline import load_candles
    from engine.setups.store import SetupStore

    version = SetupStore.from_settings().load(params.setup)
    setup = with_ranges(version.setup, params.ranges)
    symbol = params.symbol or setup.market.symbols[0]
    candles = load_candles(CandleStore.from_settings(), symbol, setup.market.timeframe,
                           start=params.start, end=params.end)
    if not len(candles):
        raise DataError(f"no {setup.market.timeframe} candles of {symbol} between "
                        f"{params.start or 'the first bar'} and {params.end or 'the last'}")
    return _Inputs(f"{version.id}@{version.version}", setup, symbol, candles,
                   Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                   Sizing("risk_percent", setup.risk.percent))


def with_ranges(setup, ranges: dict | None):
    """`setup` with its `optimise:` ranges replaced by `ranges` (None: unchanged), validated.

    >>> with_ranges(setup, {"plan.target.r_multiple": {"low": 1, "high": 3, "step": 1}})
    ... # doctest: +SKIP
    """
    if ranges is None:
        return setup
    from pydantic import ValidationError

    from engine.errors import SetupError
    from engine.setups.schema import Setup

    data = setup.model_dump(mode="json", by_alias=True)
    data["optimise"] = {path: dict(r) if isinstance(r, dict) else r.model_dump(mode="json")
                        for path, r in ranges.items()}
    try:  # the schema checks that every path names a parameter (with a did-you-mean)
        return Setup.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise SetupError(f"ranges: {first['msg'].removeprefix('Value error, ')}") from None


def _summary(kind: str, job_id: str, inputs: _Inputs, params) -> dict:
    import datetime as dt

    candles = inputs.candles
    return {"kind": kind, "job_id": job_id, "setup": inputs.ref,
            "setup_id": inputs.setup.id, "symbol": inputs.symbol,
            "timeframe": inputs.setup.market.timeframe,
            "data_start": str(candles.index[0]), "data_end": str(candles.index[-1]),
            "bars": len(candles), "objective": params.objective,
            "min_trades": params.min_trades,
            "ranges": {p: r.model_dump(mode="json") for p, r in inputs.setup.optimise.items()},
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def client_for(scheduler: str | None, *, workers: int | None = None):
    """The job's Dask client, or None (`engine.backtest.distributed.client_for`)."""
    from engine.backtest.distributed import client_for as connect

    return connect(scheduler, workers=workers)


def run_optimise(params, progress: Progress, *, job_id: str) -> dict:
    """An Optuna study of `params.trials` trials, resumable under its job id."""
    import optuna

    from engine.backtest.optimise import NO_SCORE, optimise
    from engine.settings import get_settings

    inputs = _inputs(params)
    storage_dir = get_settings().runs_dir / "optuna"
    study_name = f"job-{job_id}"
    held = _finished_trials(storage_dir / f"{study_name}.db", study_name)
    remaining = max(0, params.trials - held)

    def overall(fraction: float, message: str) -> None:
        done = held + round(fraction * remaining)
        progress(done / params.trials, f"trial {done}/{params.trials}")

    with client_for(params.scheduler) as client:
        result = optimise(inputs.setup, inputs.candles, symbol=inputs.symbol,
                          objective=params.objective, n_trials=remaining,
                          min_trades=params.min_trades, costs=inputs.costs,
                          sizing=inputs.sizing, storage_dir=storage_dir, study_name=study_name,
                          progress=overall, client=client)
    states = result.trials["state"]
    pruned = int((states == optuna.trial.TrialState.PRUNED.name).sum())  # invalid parameters
    trials = result.trials[states == optuna.trial.TrialState.COMPLETE.name]
    table = pd.DataFrame({"trial": trials["number"].astype("int64")})
    for path in inputs.setup.optimise:
        table[path] = trials[f"params_{path}"].to_numpy()
    value = trials["value"].astype("float64")
    table["value"] = value.where(value > NO_SCORE).to_numpy()
    table["trades"] = (trials["user_attrs_trades"].astype("float64").to_numpy()
                       if "user_attrs_trades" in trials else float("nan"))
    table = table.sort_values("value", ascending=False, kind="stable", na_position="last")
    best = result.best_value if result.best_value > NO_SCORE else None
    summary = {**_summary("optimise", job_id, inputs, params),
               "trials": int(len(table)) + pruned, "invalid_trials": pruned,
               "study": result.study_name, "best_params": result.best_params if best is not None
               else None, "best_value": best}
    ResearchStore.from_settings().write(job_id, summary, {"trials": table.reset_index(drop=True)})
    return {"research": job_id, "best_value": best, "trials": summary["trials"]}


def _finished_trials(path: Path, study_name: str) -> int:
    """Trials a stored study already finished (0 when there is no study yet)."""
    if not path.exists():
        return 0
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{path}")
    except KeyError:  # the file exists but holds no such study
        return 0
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def run_sweep(params, progress: Progress, *, job_id: str) -> dict:
    """Every combination of the stepped ranges (continuous ones give their two ends)."""
    from engine.backtest.optimise import sweep

    inputs = _inputs(params)
    with client_for(params.scheduler, workers=params.workers) as client:
        table = sweep(inputs.setup, inputs.candles, symbol=inputs.symbol,
                      objective=params.objective, min_trades=params.min_trades,
                      costs=inputs.costs, sizing=inputs.sizing, workers=params.workers,
                      progress=progress, client=client)
    table = table.astype({"value": "float64"})
    best = table.iloc[0] if len(table) and pd.notna(table["value"].iloc[0]) else None
    paths = list(inputs.setup.optimise)
    summary = {**_summary("sweep", job_id, inputs, params), "variants": int(len(table)),
               "best_params": None if best is None else {p: best[p] for p in paths},
               "best_value": None if best is None else float(best["value"])}
    ResearchStore.from_settings().write(job_id, summary, {"trials": table})
    return {"research": job_id, "best_value": summary["best_value"], "variants": len(table)}


def run_walkforward(params, progress: Progress, *, job_id: str) -> dict:
    """Walk-forward windows; besides the engine's answer, each window's chosen parameters are
    traded on their own train window (the in-sample equity the optimiser saw)."""
    from engine.backtest.walkforward import walkforward

    inputs = _inputs(params)
    with client_for(params.scheduler) as client:
        result = walkforward(inputs.setup, inputs.candles, symbol=inputs.symbol,
                             train_bars=params.train_bars, test_bars=params.test_bars,
                             anchored=params.anchored, objective=params.objective,
                             n_trials=params.trials, min_trades=params.min_trades,
                             costs=inputs.costs, sizing=inputs.sizing, progress=progress,
                             client=client)
    windows = result.windows.copy()
    for path in inputs.setup.optimise:
        windows[f"param:{path}"] = [p.get(path) for p in windows["params"]]
    windows = windows.drop(columns="params").astype({"in_sample": "float64",
                                                     "out_of_sample": "float64"})
    summary = {**_summary("walkforward", job_id, inputs, params),
               "train_bars": params.train_bars, "test_bars": params.test_bars,
               "anchored": params.anchored, "trials": params.trials,
               "windows": int(len(windows)), "in_sample_mean": result.in_sample_mean,
               "out_of_sample": result.out_of_sample,
               "best_params": result.windows["params"].iloc[-1],
               "best_value": result.windows["in_sample"].iloc[-1]}
    frames = {"windows": windows, "oos_equity": result.out_of_sample_equity,
              "is_equity": _in_sample_equity(inputs, result.windows),
              "oos_trades": result.out_of_sample_trades}
    ResearchStore.from_settings().write(job_id, summary, frames)
    return {"research": job_id, "windows": int(len(windows)),
            "out_of_sample_expectancy_r": result.out_of_sample.get("expectancy_r")}


def run_grid(params, progress: Progress, *, job_id: str) -> dict:
    """Setups x symbols x their stepped ranges x windows as one job on Dask (a local cluster
    when no scheduler is set): ``runs/grids/<job-id>/`` holds ``summary.json`` and
    ``trials.parquet`` (``setup``, ``symbol``, ``window``, the parameters, ``value``, the
    sweep metrics; best first within each cell)."""
    from engine.adapters.store import CandleStore
    from engine.backtest.distributed import GridCell, connect, grid, grid_cells
    from engine.pipeline import load_candles
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    setups, store, candles = SetupStore.from_settings(), CandleStore.from_settings(), {}
    cells: list[GridCell] = []
    refs = []
    for ref in params.setups:
        version = setups.load(ref)
        refs.append(f"{version.id}@{version.version}")
        setup = version.setup
        frames = {}
        for symbol in params.symbols or setup.market.symbols:
            key = (symbol, setup.market.timeframe)
            if key not in candles:
                candles[key] = load_candles(store, symbol, setup.market.timeframe,
                                            start=params.start, end=params.end)
            if not len(candles[key]):
                raise DataError(f"no {setup.market.timeframe} candles of {symbol} between "
                                f"{params.start or 'the first bar'} and "
                                f"{params.end or 'the last'}")
            frames[symbol] = candles[key]
        cells += grid_cells([setup], frames, windows=params.windows)
    with connect(params.scheduler, workers=params.workers) as client:  # else the setting, else here
        table = grid(client, cells, objective=params.objective, min_trades=params.min_trades,
                     progress=progress)
    table = table.astype({"value": "float64"})
    summary = {"kind": "grid", "job_id": job_id, "setups": refs,
               "symbols": sorted({cell.symbol for cell in cells}), "windows": params.windows,
               "cells": len(cells), "variants": int(len(table)), "objective": params.objective,
               "min_trades": params.min_trades, "start": params.start, "end": params.end}
    ResearchStore(get_settings().runs_dir / "grids").write(job_id, summary, {"trials": table})
    return {"grid": job_id, "cells": len(cells), "variants": int(len(table))}


def _in_sample_equity(inputs: _Inputs, windows: pd.DataFrame) -> pd.DataFrame:
    """Each window's chosen parameters simulated on its train window: ``window``, ``equity``
    (starting at the account's initial equity), indexed by bar time."""
    from engine.backtest.simulate import simulate
    from engine.setups import apply_parameters, compile_setup

    parts = []
    for row in windows.itertuples():
        train = inputs.candles.loc[row.train_start: row.train_end]
        chosen = apply_parameters(inputs.setup, row.params)
        signals = compile_setup(chosen)(train, symbol=inputs.symbol, explain=False)
        equity = simulate(train, signals, costs=inputs.costs, sizing=inputs.sizing).equity
        parts.append(pd.DataFrame({"window": row.window, "equity": equity["equity"]},
                                  index=equity.index))
    return pd.concat(parts) if parts else pd.DataFrame({"window": [], "equity": []})
