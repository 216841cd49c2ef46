"""`ita backtest`, `ita runs ...`: backtests from the command line."""

from __future__ import annotations

import contextlib

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

console = Console()
runs_app = typer.Typer(help="List and query backtest runs.", no_args_is_help=True)


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _search_inputs(setup: str, symbol: str | None, start: str | None, end: str | None):
    """The setup version, its symbol and its candles, for optimise / sweep / walk-forward."""
    from engine.adapters.store import CandleStore
    from engine.pipeline import load_candles
    from engine.setups.store import SetupStore

    version = SetupStore.from_settings().load(setup)
    symbol = symbol or version.setup.market.symbols[0]
    candles = load_candles(CandleStore.from_settings(), symbol, version.setup.market.timeframe,
                           start=start, end=end)
    return version, symbol, candles


SCHEDULER_HELP = ("Run on Dask: 'local' (a cluster of this machine's cores) or tcp://HOST:8786 "
                  "(default: the setting ITA_DASK_SCHEDULER, else in this process)")


@contextlib.contextmanager
def _cluster(scheduler: str | None, workers: int | None):
    """A Dask client when `--scheduler` (or ITA_DASK_SCHEDULER) asks for one, else None."""
    from engine.backtest.distributed import client_for, worker_count

    with client_for(scheduler, workers=workers) as client:
        if client is not None:
            address = client.scheduler.address
            where = "this machine" if address.startswith("tcp://127.0.0.1:") else address
            console.print(f"Dask: {worker_count(client)} workers on {where}", style="dim")
        yield client


@contextlib.contextmanager
def _progress(description: str):
    """A transient rich bar; yields the `progress(fraction, message)` callback engines take."""
    with Progress(TextColumn("{task.description}"), BarColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(description, total=1.0)
        yield lambda fraction, message: bar.update(task, completed=fraction,
                                                   description=message)


def backtest_command(
    setup: str = typer.Argument(..., help="Setup id, or id@version"),
    symbol: str = typer.Option(None, help="Symbol (default: the setup's first)"),
    start: str = typer.Option(None, "--from", help="First bar (UTC)"),
    end: str = typer.Option(None, "--to", help="Stop before (UTC)"),
    fee_bps: float = typer.Option(None, help="Override the setup's fee (bps per side)"),
    slippage_bps: float = typer.Option(None, help="Override the setup's slippage (bps)"),
    sizing: str = typer.Option("risk_percent", help="risk_percent | fixed_size | fixed_cash"),
    size: float = typer.Option(None, help="Risk %, units or cash (default: the setup's risk)"),
    equity: float = typer.Option(10_000.0, help="Initial equity"),
    gap_entry: str = typer.Option("fill", help="An entry bar opening beyond the stop: fill "
                                               "(stopped out at that open) | skip"),
) -> None:
    """Backtest a setup version on stored candles; writes runs/<run-id>/."""
    from engine.adapters.runs import short_id
    from engine.backtest.run import run_backtest
    from engine.backtest.simulate import Costs, Sizing
    from engine.setups.store import SetupStore

    version = SetupStore.from_settings().load(setup)
    costs = Costs(fee_bps if fee_bps is not None else version.setup.costs.fee_bps,
                  slippage_bps if slippage_bps is not None else version.setup.costs.slippage_bps)
    chosen = Sizing(sizing, size if size is not None else version.setup.risk.percent)
    with _progress("backtest") as progress:
        result = run_backtest(setup, symbol=symbol, start=start, end=end, costs=costs,
                              sizing=chosen, initial_equity=equity, progress=progress,
                              gap_entry=gap_entry)
    console.print(_metrics_table(result.summary, title=f"run {short_id(result.run_id)} "
                                                      f"({result.run_id})"))
    console.print(f"run folder: {result.path}")


def _metrics_table(summary: dict, *, title: str) -> Table:
    """The run's metrics in their fixed order, then its counters, under their labels."""
    from engine.backtest import presentation as view

    table = Table("metric", "value", title=title)
    for name, label, kind in view.metric_rows(summary["metrics"]):
        table.add_row(label, view.format_value(summary["metrics"][name], kind))
    table.add_section()
    counters = summary["counters"]
    for name, label in view.counter_rows(counters):
        table.add_row(label, view.format_value(counters[name], "count"))
    return table


@runs_app.command("list")
def runs_list(wide: bool = typer.Option(False, "--wide", help="Also the full run ids, data "
                                                          "range and run time")) -> None:
    """Every run with its headline numbers, newest first. The id column is the short id that
    `ita report run` and `ita runs show` accept; it is never cut, even at 80 columns."""
    from engine.adapters.runs import RunStore
    from engine.backtest import presentation as view
    from engine.settings import get_settings

    tz = get_settings().display_zone
    frame = RunStore.from_settings().list()
    if frame.empty:
        console.print("No runs yet: run `ita backtest SETUP` first.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("setup", overflow="fold", min_width=12)
    table.add_column("market", overflow="fold")
    for name in ("trades", "win", "exp R", "PF", "return", "max DD"):
        table.add_column(name, justify="right", no_wrap=True)
    if wide:
        for name in ("from", "to", "run at", "run id"):
            table.add_column(name, no_wrap=True)
    for r in frame.itertuples():
        row = [r.short_id, f"{r.setup_id} v{r.setup_version}", f"{r.symbol} {r.timeframe}",
               view.format_value(r.trades, "count"), view.format_value(r.win_rate, "ratio"),
               view.format_value(r.expectancy_r, "number"),
               view.format_value(r.profit_factor, "number"),
               view.format_value(r.total_return_pct, "pct"),
               view.format_value(r.max_drawdown_pct, "pct")]
        if wide:
            row += [view.format_time(r.start, tz), view.format_time(r.end, tz),
                    view.format_time(r.created_at, tz), r.run_id]
        table.add_row(*row)
    console.print(table)
    console.print(f"`ita report run ID --html` writes a run's report; --wide shows the full ids"
                  f"{' and times (' + view.zone_name(tz) + ')' if wide else ''}.", style="dim")


@runs_app.command("show")
def runs_show(run_id: str = typer.Argument(..., help="Run id or short id")) -> None:
    """One run's metrics and counters."""
    from engine.adapters.runs import RunStore, short_id

    runs = RunStore.from_settings()
    run_id = runs.resolve(run_id)
    summary = runs.summary(run_id)
    console.print(_metrics_table(summary, title=f"{summary['setup_id']} "
                                                f"v{summary['setup_version']} on "
                                                f"{summary['symbol']} {summary['timeframe']} — "
                                                f"run {short_id(run_id)}"))
    console.print(f"run id: {run_id}")


@runs_app.command("query")
def runs_query(sql: str = typer.Argument(..., help="One SELECT over the views trades, equity, "
                                                   "signals, summaries (each has run_id)")) -> None:
    """Query every run at once with DuckDB, read-only: the SQL sees the runs folder only."""
    from engine.adapters.runs import RunStore

    console.print(RunStore.from_settings().query(sql).to_string(max_rows=200))




def optimise_command(
    setup: str = typer.Argument(..., help="Setup id or id@version"),
    symbol: str = typer.Option(None, help="Symbol (default: the setup's first)"),
    start: str = typer.Option(None, "--from"), end: str = typer.Option(None, "--to"),
    objective: str = typer.Option("expectancy_r", help="expectancy_r | profit_factor | "
                                                       "sharpe | sqn | total_return_pct"),
    trials: int = typer.Option(100, help="Number of Optuna trials"),
    min_trades: int = typer.Option(10, help="Fewer trades than this scores -inf"),
    jobs: int = typer.Option(2, help="Parallel trials (cores)"),
    study: str = typer.Option(None, help="Study name (default: one per setup version, "
                                         "objective and inputs); refused if it was run on "
                                         "other inputs"),
    save: bool = typer.Option(False, help="Save the best parameters as a new setup version"),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
    workers: int = typer.Option(0, help="Workers of a --scheduler local cluster (0 = every "
                                        "core)"),
) -> None:
    """Optimise the setup's `optimise:` ranges with Optuna.

    The study is kept under runs/optuna/ and resumes only on the same inputs: its default name
    carries a digest of the symbol, data range and content, costs, sizing, objective, minimum
    trades and rule, so changing any of them starts a new study.
    """
    from engine.backtest.optimise import (
        NO_SCORE,
        identity_digest,
        optimise,
        save_best_as_version,
        study_identity,
    )
    from engine.backtest.simulate import Costs, Sizing
    from engine.errors import DataError
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    version, symbol, candles = _search_inputs(setup, symbol, start, end)
    rule = version.setup
    costs = Costs(rule.costs.fee_bps, rule.costs.slippage_bps)
    sizing = Sizing("risk_percent", rule.risk.percent)
    if not study and len(candles):
        identity = study_identity(rule, candles, symbol=symbol, objective=objective,
                                  min_trades=min_trades, costs=costs, sizing=sizing)
        study = f"{version.id}-v{version.version}-{objective}-{identity_digest(identity)}"
    with _cluster(scheduler, workers or None) as client, _progress("optimising") as progress:
        result = optimise(rule, candles, symbol=symbol, objective=objective,
                          n_trials=trials, min_trades=min_trades, costs=costs, sizing=sizing,
                          n_jobs=jobs,
                          storage_dir=get_settings().runs_dir / "optuna", study_name=study,
                          progress=progress, client=client)
    resumed = f", resumed after {result.resumed_trials} trials" if result.resumed_trials else ""
    console.print(f"study {result.study_name}{resumed}")
    if result.best_value <= NO_SCORE:
        raise DataError(f"no trial reached {min_trades} trades on {len(candles):,} bars of "
                        f"{symbol}: lower --min-trades or widen --from/--to; nothing saved")
    console.print(f"best {objective}: {result.best_value:.4g} with {result.best_params}")
    if save:
        saved = save_best_as_version(SetupStore.from_settings(), rule, result.best_params)
        console.print(f"saved as {saved.id} v{saved.version}")


def sweep_command(
    setup: str = typer.Argument(..., help="Setup id or id@version"),
    symbol: str = typer.Option(None, help="Symbol (default: the setup's first)"),
    start: str = typer.Option(None, "--from"), end: str = typer.Option(None, "--to"),
    objective: str = typer.Option("expectancy_r", help="Rank variants by this metric"),
    min_trades: int = typer.Option(10, help="Fewer trades than this scores nothing"),
    workers: int = typer.Option(0, help="Processes, or workers of a --scheduler local "
                                        "cluster (0 = every core)"),
    top: int = typer.Option(20, help="Rows to print"),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
) -> None:
    """Backtest every combination of the setup's stepped `optimise:` ranges, best first."""
    from engine.backtest.optimise import sweep

    version, symbol, candles = _search_inputs(setup, symbol, start, end)
    with _cluster(scheduler, workers or None) as client, _progress("sweeping") as progress:
        table = sweep(version.setup, candles, symbol=symbol, objective=objective,
                      min_trades=min_trades, workers=workers or None, progress=progress,
                      client=client)
    console.print(table.drop(columns=["error"]).head(top).to_string(index=False))
    console.print(f"{len(table)} variants on {len(candles):,} bars of {symbol}")


def walkforward_command(
    setup: str = typer.Argument(..., help="Setup id or id@version"),
    symbol: str = typer.Option(None), start: str = typer.Option(None, "--from"),
    end: str = typer.Option(None, "--to"),
    train: int = typer.Option(2000, help="Bars per train window"),
    test: int = typer.Option(500, help="Bars per test window"),
    anchored: bool = typer.Option(False, help="Anchored (growing) train windows"),
    objective: str = typer.Option("expectancy_r"), trials: int = typer.Option(30),
    min_trades: int = typer.Option(5),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP),
    workers: int = typer.Option(0, help="Workers of a --scheduler local cluster (0 = every "
                                        "core)"),
) -> None:
    """Walk-forward: optimise on each train window, trade the next test window."""
    from engine.backtest.walkforward import walkforward

    version, symbol, candles = _search_inputs(setup, symbol, start, end)
    with _cluster(scheduler, workers or None) as client, \
            _progress("walking forward") as progress:
        result = walkforward(version.setup, candles, symbol=symbol, train_bars=train,
                             test_bars=test, anchored=anchored, objective=objective,
                             n_trials=trials, min_trades=min_trades, progress=progress,
                             client=client)
    console.print(result.windows.to_string(index=False))
    console.print(f"in-sample mean {objective}: {_fmt(result.in_sample_mean)}")
    metrics = dict(result.out_of_sample)
    counters = {"skipped_in_position": metrics.pop("skipped_in_position")}
    console.print(_metrics_table({"metrics": metrics, "counters": counters},
                                 title="out of sample, all test windows stitched"))


def grid_command(
    setups: list[str] = typer.Argument(..., help="Setup ids or id@version"),
    symbol: list[str] = typer.Option(None, help="Symbols (repeat; default: each setup's)"),
    start: str = typer.Option(None, "--from"), end: str = typer.Option(None, "--to"),
    windows: int = typer.Option(1, help="Consecutive windows of the range, each swept"),
    objective: str = typer.Option("expectancy_r", help="Rank variants by this metric"),
    min_trades: int = typer.Option(10, help="Fewer trades than this scores nothing"),
    scheduler: str = typer.Option(None, help=SCHEDULER_HELP.replace("else in this process",
                                                                    "else this machine")),
    workers: int = typer.Option(0, help="Workers of a local cluster (0 = every core)"),
    top: int = typer.Option(3, help="Rows to print per cell"),
) -> None:
    """Sweep setups x symbols x their stepped ranges x windows as one job on Dask; writes
    runs/grids/<job-id>/."""
    import datetime as dt
    import secrets

    from engine.backtest.research import ResearchStore, run_grid
    from engine.jobs.kinds import GridParams
    from engine.settings import get_settings

    params = GridParams(setups=setups, symbols=symbol or None, start=start, end=end,
                        windows=windows, objective=objective, min_trades=min_trades,
                        scheduler=scheduler, workers=workers or None)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # as the job bus names jobs
    job_id = f"{stamp}-grid-{secrets.token_hex(3)}"
    with _progress("grid") as progress:
        done = run_grid(params, progress, job_id=job_id)
    table = ResearchStore(get_settings().runs_dir / "grids").load(job_id).frames["trials"]
    best = table.groupby(["setup", "symbol", "window"], sort=False).head(top)
    console.print(best.drop(columns=["error"]).to_string(index=False))
    cells = f"{done['cells']} cell{'s' if done['cells'] != 1 else ''}"
    console.print(f"{done['variants']:,} variants in {cells}: "
                  f"runs/grids/{job_id}/")


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest_command)
    app.add_typer(runs_app, name="runs")
    app.command("optimise")(optimise_command)
    app.command("sweep")(sweep_command)
    app.command("walkforward")(walkforward_command)
    app.command("grid")(grid_command)
