"""Parameter search over a setup's declared ranges: Optuna studies and exhaustive grid sweeps
(walk-forward analysis is in `engine.backtest.walkforward`).

Each condition is detected once per distinct block (a cache kept for one search over one candle
frame): a trial that changes only the plan or one condition re-uses the other detections.
Trials and sweep variants run on the lean path (`engine.backtest.lean`): the objective's
numbers, equal to a full backtest's, without its signal, trade and equity frames. Studies live
in SQLite under ``runs/optuna/<study>.db`` and resume where they stopped; a sweep spreads its
variants, in chunks, over worker processes. The best parameters can be saved as a new setup
version (`evaluate` gives the full path's metrics of one parameter set).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from engine.backtest.lean import SWEEP_METRICS as SWEEP_METRICS  # importable from here too
from engine.backtest.lean import (
    LeanRunner,
    LeanSpec,
    chunked,
    fingerprint,
    forget,
    grouped,
    in_order,
    run_chunk,
    runner_for,
)
from engine.backtest.metrics import compute_metrics
from engine.backtest.simulate import Costs, Sizing, simulate
from engine.errors import ConfigurationError, DataError, SetupError
from engine.ids import checked_id
from engine.setups import apply_parameters, apply_setup, compile_setup, dump_setup, rule_hash
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


def data_hash(candles: pd.DataFrame) -> str:
    """A digest of the candles, index included (the same as a run summary's ``data_hash``)."""
    return fingerprint(candles)


def study_identity(setup: Setup, candles: pd.DataFrame, *, symbol: str, objective: str,
                   min_trades: int, costs: Costs, sizing: Sizing) -> dict[str, str]:
    """Everything a study's trial values depend on. A stored study resumes only when all of it
    is unchanged, so its best parameters are always the best on *these* inputs.

    >>> identity = study_identity(setup, candles, symbol="BTC/USDT", objective="sharpe",
    ...     min_trades=10, costs=Costs(), sizing=Sizing())  # doctest: +SKIP
    >>> identity["data_hash"]  # doctest: +SKIP
    '3f9c0a1d2e4b5c6d'
    """
    space = {path: r.model_dump(mode="json") for path, r in parameter_space(setup).items()}
    return {
        "setup": setup.id, "rule_hash": rule_hash(setup),
        "parameter_space": json.dumps(space, sort_keys=True),
        "symbol": symbol, "timeframe": setup.market.timeframe,
        "data_start": str(candles.index[0]), "data_end": str(candles.index[-1]),
        "data_bars": str(len(candles)), "data_hash": data_hash(candles),
        "costs": f"fee {costs.fee_bps:g} bps, slippage {costs.slippage_bps:g} bps",
        "sizing": f"{sizing.kind} {sizing.value:g}, max leverage {sizing.max_leverage:g}",
        "objective": objective, "min_trades": str(min_trades),
    }


def identity_digest(identity: dict[str, str]) -> str:
    """A short digest of a study identity: the CLI puts it in study names, so changed inputs
    start a new study instead of resuming one scored on other data."""
    text = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _check_identity(study: optuna.Study, identity: dict[str, str], where: str) -> None:
    """Record `identity` on a new study; refuse to resume one scored on other inputs."""
    recorded = study.user_attrs.get("identity")
    if recorded is None:
        if study.trials:
            raise ConfigurationError(
                f"study {study.study_name!r} in {where} does not record the data and costs its "
                f"{len(study.trials)} trials were scored on: delete it or use another study name")
        study.set_user_attr("identity", identity)
        return
    changed = [key for key in sorted(set(recorded) | set(identity), key=_field_order)
               if recorded.get(key) != identity.get(key)]
    if changed:
        key, more = changed[0], len(changed) - 1
        also = f" (and {more} more: {', '.join(changed[1:])})" if more else ""
        raise ConfigurationError(
            f"study {study.study_name!r} in {where} was scored on {key} "
            f"{recorded.get(key)!r}, not {identity.get(key)!r}{also}: resume it with the same "
            "inputs, or use another study name")


_FIELDS = ("symbol", "timeframe", "data_start", "data_end", "data_bars", "data_hash", "costs",
           "sizing", "objective", "min_trades", "setup", "parameter_space", "rule_hash")


def _field_order(key: str) -> int:
    return _FIELDS.index(key) if key in _FIELDS else len(_FIELDS)


def _repeat(trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
    """A finished trial of the same study with exactly these parameters, if any."""
    for previous in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if previous.params == trial.params:
            return previous
    return None


@dataclasses.dataclass
class OptimiseResult:
    best_params: dict
    best_value: float
    trials: pd.DataFrame
    study_name: str
    storage: str
    resumed_trials: int = 0  # finished trials the study already held


def optimise(setup: Setup, candles: pd.DataFrame, *, symbol: str, objective: str = "expectancy_r",
             n_trials: int = 100, min_trades: int = 10, costs: Costs | None = None,
             sizing: Sizing | None = None, storage_dir: Path | None = None,
             study_name: str | None = None, n_jobs: int = 1, seed: int = 7,
             progress: Progress | None = None, client=None) -> OptimiseResult:
    """Search the setup's `optimise:` ranges for the best `objective`.

    With `storage_dir` the study is kept in ``<storage_dir>/<study_name>.db`` and a later call
    with the same name resumes it: trial numbers continue, finished trials are not run again
    (a trial drawing parameters already scored re-uses that score), and the sampler is seeded
    past the trials already held so it does not replay them. A stored study records its
    `study_identity`; resuming it on any other input (symbol, data range or content, costs,
    sizing, objective, minimum trades, rule or ranges) raises `ConfigurationError`.

    With a Dask `client` the trials are scored on its workers and told back to this one study
    (`engine.backtest.distributed.trials_on`); `n_jobs` is then unused.
    """
    if objective not in OBJECTIVES:
        raise SetupError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    space = parameter_space(setup)
    if not space:
        raise SetupError(f"setup {setup.id} declares no `optimise:` ranges")
    if len(candles) == 0:
        raise DataError(f"no candles to optimise setup {setup.id} on")
    costs = costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    sizing = sizing or Sizing("risk_percent", setup.risk.percent)
    optuna.logging.set_verbosity(logging.WARNING)
    study, storage = _open_study(study_name or f"{setup.id}-{objective}", storage_dir,
                                 study_identity(setup, candles, symbol=symbol,
                                                objective=objective, min_trades=min_trades,
                                                costs=costs, sizing=sizing))
    resumed = len(study.trials)
    study.sampler = optuna.samplers.TPESampler(seed=seed + resumed,
                                               constant_liar=client is not None)
    done = [0]
    spec = LeanSpec(setup, candles, symbol, objective, min_trades, costs, sizing)
    if client is not None:
        from engine.backtest.distributed import trials_on

        runner_for(spec)  # the candles checked here, before anything is sent
        forget(spec)
        trials_on(client, study, spec, space, n_trials=n_trials, suggest=_suggest,
                  repeat=_repeat, no_score=NO_SCORE, progress=progress)
        return _result(study, storage, resumed)
    runner = LeanRunner(spec)

    def run(trial: optuna.Trial) -> float:
        values = {path: _suggest(trial, path, r) for path, r in space.items()}
        try:
            candidate = apply_parameters(runner.base, values)
        except SetupError:
            raise optuna.TrialPruned() from None
        previous = _repeat(trial)
        if previous is not None:
            trial.set_user_attr("trades", previous.user_attrs.get("trades"))
            trial.set_user_attr("repeat_of", previous.number)
            value = previous.value
        else:
            value, metrics = runner.evaluate(candidate, names=("trades",))  # lean: equal
            trial.set_user_attr("trades", metrics["trades"])
            value = value if np.isfinite(value) else NO_SCORE
        done[0] += 1
        if progress:
            progress(done[0] / n_trials, f"trial {done[0]}/{n_trials}")
        return value

    study.optimize(run, n_trials=n_trials, n_jobs=n_jobs)
    return _result(study, storage, resumed)


def _result(study: optuna.Study, storage: str, resumed: int) -> OptimiseResult:
    trials = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs", "state"))
    return OptimiseResult(study.best_params, study.best_value, trials, study.study_name,
                          storage, resumed)


NO_SCORE = -1e12  # the value of a trial with too few trades (Optuna stores no infinities)


def _open_study(name: str, storage_dir: Path | None, identity: dict[str, str]
                ) -> tuple[optuna.Study, str]:
    """A new in-memory study, or the stored study `name` (created, or resumed when `identity`
    matches the one it recorded), with its storage URL ("memory" for none)."""
    if storage_dir is None:
        return optuna.create_study(direction="maximize", study_name=name), "memory"
    checked_id(name, what="study name", error=ConfigurationError)
    Path(storage_dir).mkdir(parents=True, exist_ok=True)
    path = Path(storage_dir) / f"{name}.db"
    storage = f"sqlite:///{path}"
    study = optuna.create_study(direction="maximize", study_name=name, storage=storage,
                                load_if_exists=True)
    _check_identity(study, identity, str(path))
    return study, storage


def sweep(setup: Setup, candles: pd.DataFrame, *, symbol: str,
          values: dict[str, list[float]] | None = None, objective: str = "expectancy_r",
          min_trades: int = 10, costs: Costs | None = None, sizing: Sizing | None = None,
          workers: int | None = None, progress: Progress | None = None, client=None,
          cancelled: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Every combination of `values` (default: the grid of the setup's stepped ranges), best
    first: one row per variant with its parameters, objective value and main metrics.

    Variants are scored on the lean path (`engine.backtest.lean`: the same numbers as a full
    backtest, without building its frames), in chunks, variants sharing their detections
    together (`lean.grouped`). They run in `workers` processes: this one and `workers` - 1
    forked from it, so the candles are shared, not copied or pickled, and each process keeps
    its own detection cache; by default every core, but this process alone for a sweep too
    small to repay forking a worker (variants x bars under `PARALLEL_FROM`).

    With a Dask `client` the chunks run on its workers instead (`engine.backtest.distributed`;
    a sweep under `distributed.DASK_FROM` variants x bars still runs here), and
    `cancelled()`, asked after each chunk, cancels them.
    """
    if objective not in OBJECTIVES:
        raise SetupError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    variants = sweep_variants(setup, values)
    paths = list(variants[0])
    spec = LeanSpec(setup, candles, symbol, objective, min_trades,
                    costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                    sizing or Sizing("risk_percent", setup.risk.percent))
    runner_for(spec)  # candles checked once, before any worker is forked
    try:
        if client is not None and _on_cluster(len(variants), len(candles)):
            rows = _on_client(client, spec, variants, progress, cancelled)
        else:
            rows = _in_process(spec, variants, workers, len(candles), progress)
    finally:
        forget(spec)  # the detections cached for this sweep are not kept past it
    if len(rows) != len(variants) or any(
            {p: row[p] for p in paths} != variant for row, variant in zip(rows, variants,
                                                                           strict=True)):
        raise RuntimeError(f"the sweep of {len(variants)} variants returned {len(rows)} rows "
                           "that do not match them one to one")
    table = pd.DataFrame(rows)
    return table.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def sweep_variants(setup: Setup, values: dict[str, list[float]] | None = None) -> list[dict]:
    """Every combination of `values` (default: the grid of the setup's stepped ranges), as
    parameter dicts in grid order."""
    values = values or grid(parameter_space(setup))
    if not values:
        raise SetupError(f"setup {setup.id} declares no `optimise:` ranges")
    paths = list(values)
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*values.values())]


def _on_cluster(variants: int, bars: int) -> bool:
    from engine.backtest.distributed import DASK_FROM

    return variants * bars >= DASK_FROM


def _on_client(client, spec: LeanSpec, variants: list[dict], progress, cancelled) -> list[dict]:
    from engine.backtest.distributed import run_variants

    forget(spec)  # scored on the workers: nothing kept here
    return run_variants(client, spec, variants, progress=progress, cancelled=cancelled)


def _in_process(spec: LeanSpec, variants: list[dict], workers: int | None, bars: int,
                progress) -> list[dict]:
    order = grouped(variants)  # variants sharing their detections one after another
    rows: list[dict] = []
    for chunk in _chunks(spec, [variants[i] for i in order],
                         _workers(workers, len(variants), bars)):
        rows.extend(chunk)
        if progress:
            progress(len(rows) / len(variants), f"variant {len(rows)}/{len(variants)}")
    return in_order(order, rows)


PARALLEL_FROM = 20_000_000  # variants x bars: below this, forking workers costs more than
# it saves (a fork pool starts in about 0.1 s; a variant costs about 10 ns a bar on one core)


def _workers(workers: int | None, variants: int, bars: int) -> int:
    """Worker processes for `variants` variants on `bars` bars: `workers` (default: every
    core), but one (this process) when the default would fork workers for a sweep too small to
    repay their start (`PARALLEL_FROM`)."""
    if workers is None and variants * bars < PARALLEL_FROM:
        return 1
    return max(1, min(workers or os.cpu_count() or 1, variants))


def _chunks(spec: LeanSpec, variants: list[dict], workers: int):
    """`run_chunk` over `variants`, split in chunks, in order, on this process and
    `workers` - 1 processes forked from it (a forked worker inherits the spec and its prepared
    runner: nothing of the candles is pickled; and this process works too, instead of waiting
    for its workers). With workers, this process scores the first variant before forking
    them, so they inherit its compiled kernels instead of each loading them again (about
    20 ms). Every process takes the next chunk not yet taken, so a slow one holds none back."""
    forking = workers > 1 and "fork" in multiprocessing.get_all_start_methods()
    if forking:
        yield run_chunk(spec, variants[:1])
        variants = variants[1:]
    chunks = chunked(variants, workers)
    if not forking or len(chunks) < 2:
        yield from (run_chunk(spec, chunk) for chunk in chunks)
        return
    yield from _forked(spec, chunks, workers - 1)


def _forked(spec: LeanSpec, chunks: list[list[dict]], helpers: int):
    """The rows of each of `chunks`, in order, scored by this process and `helpers` forked
    ones, each taking the next chunk from a shared counter; a helper's error is raised here,
    a helper that dies without answering is a `RuntimeError`."""
    context = multiprocessing.get_context("fork")
    counter = context.Value("q", 0)
    readers, helpers_ = [], []
    done: dict[int, list[dict]] = {}
    following = 0
    try:
        for _ in range(helpers):
            reader, writer = context.Pipe(duplex=False)
            helper = context.Process(target=_help, args=(spec, chunks, counter, writer),
                                     daemon=True)
            helper.start()
            writer.close()
            readers.append(reader)
            helpers_.append(helper)
        while (i := _take(counter)) < len(chunks):
            done[i] = run_chunk(spec, chunks[i])
            _receive(readers, done, timeout=0)
            while following in done:
                yield done.pop(following)
                following += 1
        while following < len(chunks):
            if not readers:
                raise RuntimeError(f"a sweep worker process died before it returned chunk "
                                   f"{following + 1} of {len(chunks)}")
            _receive(readers, done, timeout=None)
            while following in done:
                yield done.pop(following)
                following += 1
    finally:
        for helper in helpers_:
            if helper.is_alive() and following < len(chunks):
                helper.terminate()
            helper.join()


def _take(counter) -> int:
    """The next chunk number not yet taken by any process of the sweep."""
    with counter.get_lock():
        taken = counter.value
        counter.value = taken + 1
    return taken


def _help(spec: LeanSpec, chunks: list[list[dict]], counter, writer) -> None:
    """A forked helper: score chunks until none is left, sending (number, rows) for each, or
    (-1, the error) on failure."""
    try:
        while (i := _take(counter)) < len(chunks):
            writer.send((i, run_chunk(spec, chunks[i])))
    except Exception as error:  # handed to the sweeping process, which raises it
        writer.send((-1, error))
    finally:
        writer.close()


def _receive(readers: list, done: dict, *, timeout: float | None) -> None:
    """Every answer ready within `timeout` from the helpers' `readers` into `done` (readers
    that reached their end are dropped)."""
    for reader in multiprocessing.connection.wait(readers, timeout):
        try:
            number, rows = reader.recv()
        except EOFError:
            readers.remove(reader)
            continue
        if number < 0:
            raise rows
        done[number] = rows


def save_best_as_version(store, setup, params: dict):
    """Write the optimised setup as a new version through the setup store, as an edit of the
    text it came from: only the optimised values' lines change; comments, order and fields
    left at their defaults stay (`engine.setups.edit.apply_setup`).

    `setup` is a `SetupVersion` (its text is edited) or a `Setup`: then the text edited is that
    of the stored version holding the same rule (the active one first, else the newest); with
    none, the rule is written out afresh.
    """
    rule: Setup = getattr(setup, "setup", setup)
    text = getattr(setup, "text", None) or _stored_text(store, rule)
    best = apply_parameters(rule, params)
    source = f"{rule.id} (optimised)"
    return store.save(apply_setup(text, best, source=source) if text else dump_setup(best),
                      source=source)


def _stored_text(store, setup: Setup) -> str | None:
    """Text of the stored version whose rule is `setup`'s: the active one first, else the
    newest."""
    active = store.active(setup.id)
    versions = sorted(store.versions(setup.id), key=lambda v: (v.version == active, v.version),
                      reverse=True)
    wanted = rule_hash(setup)
    return next((v.text for v in versions if v.rule_hash == wanted), None)
