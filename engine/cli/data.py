"""`ita data ...` and `ita demo`: the candle store from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
data_app = typer.Typer(help="Import, download and inspect candles.", no_args_is_help=True)


def _store():
    from engine.adapters.store import CandleStore

    return CandleStore.from_settings()


def _progress_bar(label: str):
    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn(), console=console, transient=True)
    task = bar.add_task("", total=1.0)

    def update(fraction: float, message: str) -> None:
        bar.update(task, completed=fraction, description=message)

    return bar, update


@data_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV file: Binance klines, MT5 'Export bars', "
                                              "or any CSV with a time column")],
    symbol: str = typer.Option(..., help="Symbol to store it as, e.g. BTC/USDT or EURUSD"),
    timeframe: str = typer.Option(..., help="Bar length: 1m, 5m, 15m, 1h, 4h, 1d, ..."),
    tz: str = typer.Option(None, help="Time zone of the file's times (required for MT5: the "
                                      "broker server zone, e.g. Europe/Athens or +02:00)"),
    format: str = typer.Option("auto", help="auto | binance | mt5 | csv"),
    source: str = typer.Option(None, help="Name of the source (default: csv or mt5)"),
) -> None:
    """Import a candle file into the store (idempotent; atomic)."""
    from engine.adapters.importers import import_file

    bar, update = _progress_bar(f"importing {file.name}")
    with bar:
        report = import_file(file, symbol=symbol, timeframe=timeframe, store=_store(),
                             source=source, tz=tz, format=format, progress=update)
    console.print(f"[green]{report.rows:,} bars[/] {report.symbol} {report.timeframe} from "
                  f"{report.first} to {report.last}: {report.added:,} added, "
                  f"{report.replaced:,} corrected, {report.unchanged:,} unchanged "
                  f"(source {report.source})")


@data_app.command("fetch")
def fetch_command(
    symbol: str = typer.Option(..., help="Market symbol, e.g. BTC/USDT or EURUSD"),
    since: str = typer.Option(..., help="First bar to download (UTC date or time)"),
    timeframe: str = typer.Option("1m", help="Bar length"),
    until: str = typer.Option(None, help="Stop before this time (default: now)"),
    source: str = typer.Option(None, help="mt5 (a MetaTrader 5 terminal, Windows only) or a "
                                          "ccxt exchange id (default: --exchange)"),
    exchange: str = typer.Option("binance", help="ccxt exchange id"),
    tz: str = typer.Option(None, help="mt5 only: the broker server time zone, e.g. "
                                      "Europe/Athens or +02:00 (default: ITA_MT5_SERVER_TZ)"),
) -> None:
    """Download history (ccxt exchange or MT5 terminal), resuming from the last stored bar."""
    if source == "mt5":
        _fetch_mt5(symbol, timeframe, since=since, until=until, tz=tz)
        return
    from engine.adapters.ccxt_source import download_history

    exchange = source or exchange
    bar, update = _progress_bar(f"{exchange} {symbol} {timeframe}")
    with bar:
        report = download_history(exchange, symbol, timeframe, since=since, until=until,
                                  store=_store(), progress=update)
    console.print(f"[green]{report.bars:,} bars[/] downloaded in {report.requests} requests; "
                  f"{report.added:,} new, {report.replaced:,} corrected")


def _fetch_mt5(symbol: str, timeframe: str, *, since: str, until: str | None,
               tz: str | None) -> None:
    from engine.adapters import mt5_source
    from engine.settings import get_settings

    module = mt5_source.load_module()  # off Windows: one line pointing to the CSV export
    server_tz = tz or get_settings().mt5_server_tz
    bar, update = _progress_bar(f"mt5 {symbol} {timeframe}")
    with bar:
        report = mt5_source.download_history(symbol, timeframe, since=since, until=until,
                                             store=_store(), server_tz=server_tz,
                                             module=module, progress=update)
    console.print(f"[green]{report.bars:,} bars[/] copied from MetaTrader 5 in "
                  f"{report.requests} requests; {report.added:,} new, "
                  f"{report.replaced:,} corrected")


@data_app.command("list")
def list_command() -> None:
    """What is in the store: one line per series."""
    table = Table("source", "symbol", "tf", "first", "last", "bars", "missing")
    for s in _store().series():
        table.add_row(s.source, s.symbol, s.timeframe, str(s.first), str(s.last),
                      f"{s.bars:,}", f"{s.missing_bars:,}")
    console.print(table)


@data_app.command("gaps")
def gaps_command(symbol: str = typer.Option(None, help="Only this symbol"),
                 timeframe: str = typer.Option(None, help="Only this timeframe")) -> None:
    """Missing bars per series."""
    store = _store()
    for s in store.series():
        if (symbol and s.symbol != symbol) or (timeframe and s.timeframe != timeframe):
            continue
        gaps = store.gaps(s.symbol, s.timeframe, source=s.source)
        console.print(f"{s.source} {s.symbol} {s.timeframe}: {len(gaps)} gap(s), "
                      f"{int(gaps['missing_bars'].sum()) if len(gaps) else 0} missing bars")
        for row in gaps.head(20).itertuples():
            console.print(f"  {row.start} .. {row.end}  ({row.missing_bars} bars)")


def _can_ask() -> bool:
    """A person can answer a prompt: standard input and output are a terminal."""
    return sys.stdin.isatty() and sys.stdout.isatty()


@data_app.command("delete")
def delete_command(
    symbol: str = typer.Option(..., help="Symbol of the series, e.g. BTC/USDT"),
    timeframe: str = typer.Option(..., help="Timeframe of the series, e.g. 1m"),
    source: str = typer.Option(None, help="Source (needed when the symbol has several)"),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking"),
) -> None:
    """Delete one stored series (asks first; --yes to skip the question)."""
    from engine.errors import DataError

    store = _store()
    source = store.resolve_source(symbol, source)
    label = f"{symbol} {timeframe} ({source})"
    if not yes:
        if not _can_ask():
            raise DataError(f"not deleting {label} without a confirmation: no terminal to ask "
                            "on; add --yes")
        if not typer.confirm(f"Delete {label} for good?", default=False):
            console.print("nothing deleted")
            return
    store.delete(symbol=symbol, timeframe=timeframe, source=source)
    console.print(f"[green]deleted[/] {label}")


@data_app.command("rename")
def rename_command(
    symbol: str = typer.Option(..., help="Current symbol name"),
    to: str = typer.Option(..., help="New symbol name (must not be stored yet)"),
    source: str = typer.Option(None, help="Source (needed when the symbol has several)"),
) -> None:
    """Rename a symbol: every stored timeframe moves to the new name (never overwrites)."""
    source, moved = _store().rename(symbol, to=to, source=source)
    console.print(f"[green]renamed[/] {symbol} to {to} ({source}): {', '.join(moved)}")


def demo_command() -> None:
    """Import the bundled demo candles and example setups (only what is missing)."""
    from engine.demo import run_demo

    done = run_demo()
    for report in done["candles"]:
        console.print(f"imported {report.rows:,} demo bars of {report.symbol}")
    for version in done["setups"]:
        console.print(f"added example setup {version.id} v{version.version}")
    if not done["candles"] and not done["setups"]:
        console.print("demo data already in place")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
    app.command("demo")(demo_command)
