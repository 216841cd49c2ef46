"""`ita report period|run`: the period report across setups (backtest against live, the drift)
and a run's report with its random-sample check (`engine.reports`, the same objects Notion and
the weekly summary use)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
report_app = typer.Typer(help="Reports: a period across setups (backtest against live), a run "
                              "with its random-sample check.", no_args_is_help=True)


def report_period(
        start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD, UTC), included"),
        end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD, UTC), included"),
        setup: str = typer.Option(None, "--setup", help="Only this setup (its id)"),
        csv: Path = typer.Option(None, "--csv", help="Also write the table to this CSV file"),
        html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML "
                                                       "report to this file")) -> None:
    """Per setup version: its backtest and its live trades side by side, and the drift."""
    import pandas as pd

    from engine.backtest.presentation import format_value
    from engine.reports.drift import period_report
    from engine.settings import get_settings

    first, last = _day(start, "--from"), _day(end, "--to") + pd.Timedelta(days=1)
    report = period_report(get_settings(), start=first, end=last, setup=setup)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, padding=(0, 1))
    for name in ("setup", "backtest trades", "backtest exp.", "live signals", "taken",
                 "outcomes", "live exp.", "drift"):
        table.add_column(name, no_wrap=True)
    for line in report.lines:
        bt = line.backtest or {}
        table.add_row(escape(f"{line.setup_id} v{line.version}"),
                      format_value(bt.get("trades"), "count"),
                      format_value(bt.get("expectancy_r_net"), "r"),
                      str(line.live["signals"]), str(line.live["taken"]),
                      str(line.live["outcomes"]), format_value(line.live["expectancy_r"], "r"),
                      format_value(line.drift, "r"))
    console.print(table)
    for line in report.lines:
        console.print(f"{line.setup_id} v{line.version}: {line.verdict}", markup=False,
                      highlight=False)
    for path, write in ((csv, report.write_csv), (html, report.write_html)):
        if path is not None:
            console.print(f"wrote {write(path)}", markup=False)


def _day(text: str, option: str):
    import datetime as dt

    import pandas as pd

    from engine.errors import ConfigurationError

    try:
        return pd.Timestamp(dt.date.fromisoformat(text), tz="UTC")
    except ValueError:
        raise ConfigurationError(f"{option} {text!r}: write a day as YYYY-MM-DD") from None


def report_run(run_id: str = typer.Argument(..., help="Run id or short id (ita runs list)"),
               html: bool = typer.Option(False, "--html", help="Also write the run's HTML "
                                                               "report (self-contained)"),
               csv: bool = typer.Option(False, "--csv", help="Also write its CSV files"),
               out: Path = typer.Option(None, help="Output file (HTML) or folder (CSV)"),
               sample: int = typer.Option(5, "--sample", min=0, max=100,
                                          help="Trades drawn for the random-sample check"),
               seed: int = typer.Option(0, "--seed", help="Seed of the draw (the same seed "
                                                          "draws the same trades)"),
               charts: Path = typer.Option(None, "--charts", help="Write each sampled trade's "
                                                                  "chart (PNG) into this folder")
               ) -> None:
    """A run's headline numbers and N random trades to check by eye on a chart; with --html
    or --csv, its report files too."""
    from engine.adapters.runs import RunStore
    from engine.backtest import presentation as view
    from engine.reports.period import run_report
    from engine.settings import get_settings

    tz = get_settings().display_zone
    runs = RunStore.from_settings()
    run_id = runs.resolve(run_id)
    report = run_report(runs, run_id, sample=sample, seed=seed, tz=tz)
    console.print(report.title, markup=False, highlight=False)
    for name, text, kind in view.metric_rows(report.metrics):
        console.print(f"  {text}: {view.format_value(report.metrics[name], kind, tz=tz)}",
                      markup=False, highlight=False)
    rows = report.sample_rows().reset_index(drop=True)
    console.print(f"random-sample check: {len(rows)} of {len(report.trades)} trades, seed "
                  f"{seed} (times in {view.zone_name(tz)})", markup=False)
    columns = view.shown_columns(rows, view.TRADE_COLUMNS, only=tuple(rows.columns))
    decimals = view.price_decimals(report.trades["entry_price"]) if len(rows) else 2
    console.print(view.text_table(rows, columns, decimals=decimals, tz=tz).to_string(
        index=False), markup=False, highlight=False)
    if charts is not None:
        from engine._io import write_bytes_atomic

        for number, png in enumerate(report.sample_pngs(), start=1):
            path = Path(charts) / f"sample-{number}-seed{seed}.png"
            write_bytes_atomic(path, png)
            console.print(f"wrote {path}", markup=False, highlight=False)
    _write_files(runs, run_id, html=html, csv=csv, out=out)


def _write_files(runs, run_id: str, *, html: bool, csv: bool, out: Path | None) -> None:
    """The run's HTML report and CSV files (engine/backtest/report.py)."""
    from engine.adapters.store import CandleStore
    from engine.backtest.report import write_csv_report, write_html_report

    if html:
        summary = runs.summary(run_id)
        candles = CandleStore.from_settings().read(summary["symbol"], summary["timeframe"],
                                                   start=summary["data_start"])
        path = write_html_report(runs, run_id, candles, out)
        console.print(f"wrote {path}", soft_wrap=True)
    if csv:
        for path in write_csv_report(runs, run_id, out):
            console.print(f"wrote {path}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    report_app.command("period")(report_period)
    report_app.command("run")(report_run)
    app.add_typer(report_app, name="report")
