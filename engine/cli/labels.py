"""`ita labels add|list|check`: the trader's labels and the detector checked against them
(`engine.learn.labels`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
labels_app = typer.Typer(help="Label bars as setup / not a setup and check the detector "
                              "against your labels.", no_args_is_help=True)


def _settings():
    from engine.settings import get_settings

    return get_settings()


@labels_app.command("add")
def add(setup: str = typer.Argument(..., help="Setup id (or id@version)"),
        symbol: str = typer.Option(None, "--symbol", help="Default: the setup's first symbol"),
        time: str = typer.Option(None, "--time", help="The bar's open time, UTC unless it has "
                                                      "an offset: '2023-03-07 15:20'"),
        label: str = typer.Option(None, "--label", help="setup | not"),
        timeframe: str = typer.Option(None, "--timeframe", help="Default: the setup's"),
        note: str = typer.Option("", "--note", help="Why (free text)"),
        screenshot: Path = typer.Option(None, "--screenshot", help="A PNG or JPEG (≤ 5 MB)"),
        folder: Path = typer.Option(None, "--folder", help="Import every <name>.png|jpg with "
                                                           "its <name>.yaml sidecar")) -> None:
    """Label one bar (--time, --label), or import a folder of screenshots with sidecars."""
    from engine.errors import DataError
    from engine.learn.labels import add_label, import_folder

    settings = _settings()
    if folder is not None:
        result = import_folder(settings, setup, folder)
        for error in result.errors:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        console.print(f"added {len(result.added)} labels from {folder}"
                      + (f"; {len(result.errors)} files skipped" if result.errors else ""))
        if result.errors:
            raise typer.Exit(1)
        return
    missing = [name for name, value in (("--time", time), ("--label", label)) if not value]
    if missing:
        raise DataError(f"{' and '.join(missing)}: required (or give --folder)")
    made = add_label(settings, setup, symbol=symbol, time=time, label=label,
                     timeframe=timeframe, note=note, screenshot=screenshot)
    console.print(f"labelled {made.symbol} {made.timeframe} {made.time} as {made.label} "
                  f"({made.label_id})", markup=False)


@labels_app.command("list")
def list_labels(setup: str = typer.Argument(None, help="Only this setup id")) -> None:
    """Your labels, by time."""
    from engine.learn.labels import LabelStore

    found = LabelStore.from_settings(_settings()).labels(setup)
    if not found:
        console.print("no labels" + (f" of {setup}" if setup else "") +
                      " (ita labels add SETUP --time ... --label setup|not)")
        return
    table = Table("id", "setup", "symbol", "tf", "time (UTC)", "label", "note", "screenshot")
    for x in found:
        table.add_row(x.label_id, x.setup_id, x.symbol, x.timeframe,
                      f"{x.timestamp:%Y-%m-%d %H:%M}", x.label, x.note, x.screenshot or "")
    console.print(table)


@labels_app.command("check")
def check(setup: str = typer.Argument(..., help="Setup id (or id@version)"),
          tolerance: int = typer.Option(3, "--tolerance", help="± bars a signal may be off"),
          pictures: Path = typer.Option(None, "--pictures", help="Write a chart PNG of each "
                                                                 "disagreement here")) -> None:
    """The detector's precision and recall against your labels, and every disagreement."""
    from engine.learn.labels import check_labels, write_pictures

    settings = _settings()
    result = check_labels(settings, setup, tolerance_bars=tolerance)
    if result.frame.empty:
        console.print(f"no labels of {result.setup_id} (ita labels add {result.setup_id} "
                      "--time ... --label setup|not)")
        return
    table = Table("time (UTC)", "symbol", "label", "ITA", "nearest signal", "bars", "note",
                  title=f"{result.setup_id} v{result.setup_version} · {result.timeframe} · "
                        f"{len(result.frame)} labels · {result.signals} signals")
    style = {"missed": "red", "false_positive": "red", "no_candles": "yellow"}
    for row in result.frame.itertuples():
        signal = "" if row.nearest_signal is None or str(row.nearest_signal) == "NaT" else \
            f"{row.nearest_signal:%Y-%m-%d %H:%M}"
        bars = "" if str(row.distance_bars) == "<NA>" else f"{int(row.distance_bars):+d}"
        table.add_row(f"{row.bar_time:%Y-%m-%d %H:%M}", row.symbol, row.label,
                      row.outcome.replace("_", " "), signal, bars, row.note,
                      style=style.get(row.outcome))
    console.print(table)
    console.print(result.summary(), markup=False)
    if pictures is not None:
        written = write_pictures(result, pictures, tz=settings.display_tz)
        console.print(f"wrote {len(written)} pictures to {pictures}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(labels_app, name="labels")
