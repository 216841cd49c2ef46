"""Sweeps, Optuna studies, walk-forward and grids on a Dask cluster: this machine's
`LocalCluster` or an existing one (``--scheduler tcp://HOST:8786``, ``ITA_DASK_SCHEDULER``),
through the same code.

- **Where.** `connect(scheduler, workers=)` yields a `distributed.Client`: to the scheduler at
  `scheduler` (else the setting ``ITA_DASK_SCHEDULER``), or, for ``"local"`` / none, to a
  `LocalCluster` of `workers` processes (one thread each) on 127.0.0.1 with the dashboard off,
  so nothing listens beyond this machine. A cluster's workers need the same Python environment
  and ITA version as the caller (the task functions are imported from ``engine`` there).
- **Small jobs stay here.** `sweep(..., client=)` sends a sweep to the cluster only from
  `DASK_FROM` variants x bars on (below it, starting the tasks and shipping the candles cost
  more than they save: see ``bench/scale.py``); `sweep` then runs in this process as before.
- **Candles travel once.** A sweep's candles are scattered once to every worker
  (`Client.scatter(broadcast=True)`), named by their fingerprint (`lean.fingerprint`, a digest of
  their content), and stay there for later jobs: the client keeps the `KEEP` series it shipped
  most recently (`shipped`), so a second sweep, study or grid on the same candles ships only
  its spec (setup, costs, objective) and its variants, a few hundred per task (`CHUNK`). A
  worker checks the candles and builds their arrays once per fingerprint
  (`lean.series_for`); candles that changed in any value have a new fingerprint and are
  shipped and prepared afresh. Scattering, not reading Parquet on the workers, because a
  cluster of other machines does not share ITA's data folder, and a year of 1m bars is ~25 MB:
  shipped once per worker in well under a second on a LAN.
- **Detections shared.** The variants of a sweep are ordered by their condition and filter
  parameters before they are cut into chunks (`grouped`), so variants that differ only in the
  plan land together, on one worker, and re-use its cached detections.
- **Compiled once.** Every numba kernel of the lean path is ``cache=True``: a worker loads the
  compiled code from ``__pycache__`` instead of compiling it (on another machine: after its
  first run there).
- **One study.** An Optuna study run on a cluster stays in this process's storage (its SQLite
  file, resumable as ever): trials are asked here, scored on the workers, told back here
  (Optuna's ask-and-tell). SQLite is not safe across machines and Optuna 5.0 ships no Dask
  storage (that is in optuna-integration, not installed), so the study never leaves.
  The TPE sampler uses the "constant liar" for trials in flight, so workers do not all draw
  the same point.
- **Walk-forward.** Each window's study runs as one task (windows are independent; each study
  is seeded, so the result equals the in-process one); stitching and scoring happen here.
- **Grids.** `grid` scores setups x symbols x parameter sets x windows as one job: every chunk
  of every cell is submitted at once, one progress over all variants, one cancel.
- **Cancel.** `cancelled()` is asked after every finished task; when it answers true, or this
  process is interrupted, every future of the job is cancelled on the cluster
  (`Client.cancel`) and `Cancelled` is raised. A job process the daemon kills drops its
  client; the scheduler then releases its tasks (a running chunk finishes first).

>>> with connect("local", workers=2) as client:  # doctest: +SKIP
...     table = sweep(setup, candles, symbol="BTC/USDT", client=client)
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator

import pandas as pd

from engine.backtest.lean import LeanSpec, chunked, grouped, in_order, run_chunk
from engine.errors import ConfigurationError, JobError, SourceUnavailable

Progress = Callable[[float, str], None]
Cancelled_ = Callable[[], bool]
LOCAL = "local"
DASK_FROM = 20_000_000  # variants x bars from which a sweep goes to the cluster (bench/scale.py)
IN_FLIGHT = 2  # Optuna trials in flight per worker
# Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which turns glibc's adaptive
# mmap threshold off: every array of a year of bars (4 MB) is then mapped and zeroed afresh,
# and a sweep variant costs about 1.5x the CPU it costs here. This machine's workers keep the
# allocator's defaults (on a cluster of other machines: start `dask worker` without it).
NATIVE_MALLOC = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
KEEP = 2  # candle series kept scattered on a cluster, per client (most recent first)
_SHIPPED: collections.OrderedDict = collections.OrderedDict()  # (client, fingerprint) -> future


class Cancelled(JobError):
    """The job was cancelled; its tasks on the cluster are cancelled too."""


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: `scheduler`, else the setting ``ITA_DASK_SCHEDULER``; None or
    ``"local"``: a `LocalCluster` on this machine."""
    if not scheduler:
        from engine.settings import get_settings

        scheduler = get_settings().dask_scheduler
    if not scheduler or scheduler == LOCAL:
        return None
    if not scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        raise ConfigurationError(f"Dask scheduler {scheduler!r}: give an address like "
                                 "tcp://HOST:8786 (or 'local' for this machine)")
    return scheduler


@contextlib.contextmanager
def connect(scheduler: str | None = None, *, workers: int | None = None) -> Iterator:
    """A `distributed.Client` to `scheduler` (see `scheduler_address`) or to a new
    `LocalCluster` of `workers` processes (default: every core) on 127.0.0.1, dashboard off;
    closed (and the local cluster stopped) on exit."""
    import dask
    from dask.distributed import Client, LocalCluster

    address = scheduler_address(scheduler)
    if address:
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": "10s"}):
                client = Client(address)
        except (OSError, TimeoutError) as error:
            raise SourceUnavailable(f"cannot reach the Dask scheduler at {address}: "
                                    f"{error}; is `dask scheduler` running there?") from None
        with client, _kept_while(client):
            yield client
        return
    # the scheduler always serves its health check over HTTP (8787 by default): on a free
    # loopback port here, with the dashboard off
    loopback = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
    workers = max(1, workers or os.cpu_count() or 1)
    with dask.config.set(NATIVE_MALLOC), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         host="127.0.0.1", dashboard_address=None, scheduler_kwargs=loopback,
                         silence_logs=logging.WARNING) as cluster, \
            Client(cluster) as client, _kept_while(client):
        yield client


@contextlib.contextmanager
def _kept_while(client) -> Iterator:
    """The candles shipped to `client`'s cluster are kept while it is open, not past it."""
    try:
        yield
    finally:
        forget_shipped(client)


@contextlib.contextmanager
def client_for(scheduler: str | None = None, *, workers: int | None = None) -> Iterator:
    """`connect(scheduler, workers=)` when `scheduler` (else the setting
    ``ITA_DASK_SCHEDULER``) names one, else None: the work stays in this process."""
    if not scheduler:
        from engine.settings import get_settings

        scheduler = get_settings().dask_scheduler
    if not scheduler:
        yield None
        return
    with connect(scheduler, workers=workers) as client:
        yield client


def worker_count(client) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1)["workers"]))


def gather(client, futures: list, weights: list[int], *, progress: Progress | None = None,
           cancelled: Cancelled_ | None = None, what: str = "variant") -> list:
    """The results of `futures`, in order, reporting progress by `weights` as each finishes;
    on `cancelled()` (or any interruption) every future is cancelled and `Cancelled` raised."""
    from dask.distributed import as_completed

    position = {future.key: i for i, future in enumerate(futures)}
    results: list = [None] * len(futures)
    total, done = sum(weights) or 1, 0
    try:
        for future in as_completed(futures):
            i = position[future.key]
            results[i] = future.result()
            done += weights[i]
            if progress:
                progress(done / total, f"{what} {done}/{total}")
            _check(cancelled, done, total, what)
    except BaseException:
        client.cancel(futures)
        raise
    return results


def _check(cancelled: Cancelled_ | None, done: int, total: int, what: str) -> None:
    if cancelled is not None and done < total and cancelled():
        raise Cancelled(f"cancelled after {done} of {total} {what}s")


def shipped(client, spec: LeanSpec) -> tuple[LeanSpec, object]:
    """(`spec` without its candles, the future of its candles on every worker of `client`):
    scattered now unless this client shipped the same candles (by fingerprint) before and they
    are still there. The `KEEP` most recent series stay; older ones are released once no job
    holds their future."""
    key = (client.id, spec.series_key())
    future = _SHIPPED.pop(key, None)
    if future is None or future.status != "finished":
        future = client.scatter(spec.candles, broadcast=True, hash=False)
    _SHIPPED[key] = future
    while len(_SHIPPED) > KEEP:
        _SHIPPED.popitem(last=False)  # the last reference gone, the cluster releases it
    return spec.without_candles(), future


def forget_shipped(client=None) -> None:
    """Release the candles kept on the cluster of `client` (every client's: None)."""
    for key in [key for key in _SHIPPED if client is None or key[0] == client.id]:
        del _SHIPPED[key]


def run_variants(client, spec: LeanSpec, variants: list[dict], *,
                 progress: Progress | None = None,
                 cancelled: Cancelled_ | None = None) -> list[dict]:
    """`run_chunk` over `variants` on the cluster, in order: the candles shipped once
    (`shipped`), variants sharing their detections together (`grouped`), chunks of at most
    `CHUNK` variants per task."""
    light, candles = shipped(client, spec)
    order = grouped(variants)
    chunks = chunked([variants[i] for i in order], worker_count(client))
    futures = [client.submit(run_chunk, light, chunk, candles, pure=False) for chunk in chunks]
    parts = gather(client, futures, [len(c) for c in chunks], progress=progress,
                   cancelled=cancelled)
    return in_order(order, [row for part in parts for row in part])


def trials_on(client, study, spec: LeanSpec, space: dict, *, n_trials: int,
              suggest, repeat, no_score: float, progress: Progress | None = None,
              cancelled: Cancelled_ | None = None) -> None:
    """`n_trials` trials of `study` (ask here, score on the workers, tell here): up to
    `IN_FLIGHT` per worker at a time. Invalid parameter sets are told as pruned; a parameter
    set the study scored before re-uses that score (`repeat`)."""
    import optuna
    from dask.distributed import as_completed

    from engine.errors import SetupError
    from engine.setups import apply_parameters

    light, candles = shipped(client, spec)
    limit = IN_FLIGHT * worker_count(client)
    running: dict = {}  # future key -> trial
    queue = as_completed()
    asked = told = 0

    def tell(trial, value=None, trades=None, state=None) -> None:
        nonlocal told
        if state is None:
            trial.set_user_attr("trades", trades)
            study.tell(trial, value)
        else:
            study.tell(trial, state=state)
        told += 1
        if progress:
            progress(told / n_trials, f"trial {told}/{n_trials}")

    def ask() -> None:
        nonlocal asked
        asked += 1
        trial = study.ask()
        values = {path: suggest(trial, path, r) for path, r in space.items()}
        try:
            apply_parameters(spec.setup, values)
        except SetupError:
            return tell(trial, state=optuna.trial.TrialState.PRUNED)
        previous = repeat(trial)
        if previous is not None:
            trial.set_user_attr("repeat_of", previous.number)
            return tell(trial, previous.value, previous.user_attrs.get("trades"))
        future = client.submit(run_chunk, light, [values], candles, pure=False)
        running[future.key] = trial
        queue.add(future)

    def fill() -> None:
        while asked < n_trials and len(running) < limit:
            ask()

    try:
        fill()
        for future in queue:
            row = future.result()[0]
            trial = running.pop(future.key)
            tell(trial, no_score if row["value"] is None else row["value"], row["trades"])
            _check(cancelled, told, n_trials, "trial")
            fill()
    except BaseException:
        client.cancel(list(queue.futures))
        for trial in running.values():
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise


@dataclasses.dataclass
class GridCell:
    """One sweep of a grid: a setup on one symbol's candles (a walk-forward window's slice, or
    the whole range), over `values` (None: the setup's stepped ranges)."""

    setup: object  # engine.setups.schema.Setup
    symbol: str
    candles: pd.DataFrame
    window: str = "all"
    values: dict[str, list[float]] | None = None


def grid_cells(setups: list, candles: dict[str, pd.DataFrame], *,
               windows: int = 1) -> list[GridCell]:
    """Every setup on every symbol of `candles`, the range cut into `windows` consecutive
    windows of equal bars (1: the whole range)."""
    cells = []
    for setup in setups:
        for symbol, frame in candles.items():
            edges = [round(i * len(frame) / windows) for i in range(windows + 1)]
            for number, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
                label = "all" if windows == 1 else f"w{number}"
                cells.append(GridCell(setup, symbol, frame.iloc[lo:hi], label))
    return cells


def grid(client, cells: list[GridCell], *, objective: str = "expectancy_r",
         min_trades: int = 10, progress: Progress | None = None,
         cancelled: Cancelled_ | None = None) -> pd.DataFrame:
    """Every variant of every cell as one job: a table with ``setup``, ``symbol``, ``window``,
    the parameters, ``value`` and the sweep metrics, best first within each cell (cells in
    the order given)."""
    from engine.backtest.optimise import OBJECTIVES, sweep_variants
    from engine.backtest.simulate import Costs, Sizing
    from engine.errors import SetupError

    if objective not in OBJECTIVES:
        raise SetupError(f"objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    workers = worker_count(client)
    futures, weights, owners, shared = [], [], [], []
    for number, cell in enumerate(cells):
        setup = cell.setup
        variants = sweep_variants(setup, cell.values)
        spec = LeanSpec(setup, cell.candles, cell.symbol, objective, min_trades,
                        Costs(setup.costs.fee_bps, setup.costs.slippage_bps),
                        Sizing("risk_percent", setup.risk.percent))
        light, candles = shipped(client, spec)
        shared.append(candles)  # held until the job ends, whatever `shipped` keeps
        order = grouped(variants)
        for chunk in chunked([variants[i] for i in order], workers):
            futures.append(client.submit(run_chunk, light, chunk, candles, pure=False))
            weights.append(len(chunk))
            owners.append((number, order))
    parts = gather(client, futures, weights, progress=progress, cancelled=cancelled)
    tables = []
    for number, cell in enumerate(cells):
        ran = [row for part, (owner, _) in zip(parts, owners, strict=True) if owner == number
               for row in part]
        order = next(order for owner, order in owners if owner == number)
        table = pd.DataFrame(in_order(order, ran)).sort_values("value", ascending=False,
                                                               kind="stable")
        tables.append(table.assign(setup=cell.setup.id, symbol=cell.symbol,
                                   window=cell.window))
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    first = ["setup", "symbol", "window"]
    return table[first + [c for c in table.columns if c not in first]]


def best_of_windows(client, setup, windows: list[pd.DataFrame], *, progress: Progress | None,
                    cancelled: Cancelled_ | None = None, **study) -> list:
    """`optimise(setup, window, **study)` of each train window, each as one task (in-memory,
    seeded studies: the same answers as in this process), in order."""
    from engine.backtest.optimise import optimise

    futures = [client.submit(optimise, setup, window, pure=False, **study)
               for window in windows]
    return gather(client, futures, [1] * len(futures), progress=progress, cancelled=cancelled,
                  what="window")
