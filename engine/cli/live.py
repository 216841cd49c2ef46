"""`ita live` (run the monitor), `ita live status`, `ita live replay`, `ita live outcomes`,
`ita alerts test`."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
live_app = typer.Typer(help="Watch the market: alerts on every candle close.",
                       invoke_without_command=True)
alerts_app = typer.Typer(help="Alert channels.", no_args_is_help=True)


@live_app.callback()
def live(ctx: typer.Context) -> None:
    """Run the live monitor in the foreground (Ctrl+C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.live.monitor import LiveMonitor
    from engine.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = get_settings()
    monitor = LiveMonitor(settings)
    telegram = "Telegram on" if monitor.channel is not None else "Telegram off (no token/chat)"
    console.print(f"live monitor for {settings.home} ({telegram}); Ctrl+C stops it")
    monitor.run()


def status() -> None:
    """Feeds (lag, silent), active setups and today's alerts, from exchange/live.json."""
    from engine.live.state import read_live_state
    from engine.settings import get_settings

    state = read_live_state(get_settings().home)
    if state is None:
        console.print("live monitor: not running (it never ran in this home; start it with "
                      "`ita live`)")
        return
    if not state.running:
        console.print(f"live monitor: [red]not running[/red] ({state.why_not})")
    else:
        paused = " — alerts PAUSED" if state.paused else ""
        console.print(f"live monitor: [green]running[/green] (pid {state.pid}, since "
                      f"{_time(state.started_at)}){paused}; Telegram: {state.telegram}")
    table = Table("feed", "timeframe", "last bar", "lag", "behind", "state")
    for feed in state.feeds:
        health = ("[red]silent[/red]" if feed.silent else "[red]failing[/red]" if feed.error
                  else "ok")
        lag = "—" if feed.lag_seconds is None else f"{feed.lag_seconds:.1f} s"
        table.add_row(f"{feed.source}:{feed.symbol}", feed.timeframe, _time(feed.last_bar),
                      lag, str(feed.behind_bars), health)
    console.print(table)
    for feed in state.failing_feeds:  # whole, below the table: a narrow column would cut it
        console.print(f"{feed.source}:{feed.symbol} {feed.timeframe}: {feed.error}",
                      markup=False, soft_wrap=True)
    for setup in state.setups:
        flag = " (paused)" if setup.paused else ""
        console.print(f"setup {setup.setup_id} v{setup.version}: "
                      f"{', '.join(setup.symbols)} {setup.timeframe}{flag}")
    console.print(f"alerts today: {state.alerts_today}; last alert: "
                  f"{_time(state.last_alert_at)}")
    _paper_lines(get_settings().home, [s.setup_id for s in state.setups], state.running)


def _paper_lines(home, setups: list[str], running: bool) -> None:
    """Which paper accounts the live monitor drives (`engine.paper.live`)."""
    from engine.paper.live import followed_live

    lines = followed_live(home, setups)
    when = "live" if running else "live once `ita live` runs"
    if not lines:
        console.print("paper: no account follows an active setup (`ita paper follow`)")
    for line in lines:
        console.print(f"paper ({when}): {line}", markup=False)


def _time(stamp) -> str:
    return "—" if stamp is None else f"{stamp:%Y-%m-%d %H:%M:%S} UTC"


def replay(setup: str = typer.Argument(..., help="Setup id (active version) or id@N"),
           symbol: str = typer.Option(None, "--symbol", help="Symbol (default: the setup's "
                                                             "first)"),
           start: str = typer.Option(None, "--from", help="First bar, e.g. 2023-03-01"),
           end: str = typer.Option(None, "--to", help="Last bar, e.g. 2023-03-08"),
           out: Path = typer.Option(None, "--out", help="Folder (default: "
                                                       "exchange/replay/<setup>/)"),
           source: str = typer.Option(None, "--source", help="Candle source (default: the "
                                                             "stored one)")) -> None:
    """The live path over stored history: each alert's picture and caption in a folder,
    nothing sent."""
    from engine.live.replay import replay_alerts
    from engine.settings import get_settings

    summary = replay_alerts(get_settings(), setup, symbol=symbol, start=start, end=end, out=out,
                            source=source)
    console.print(f"{summary.setup_id} v{summary.version} on {summary.symbol} "
                  f"{summary.timeframe}: {summary.alerts} alert(s) ({summary.longs} long, "
                  f"{summary.shorts} short) over {summary.bars:,} bars; pictures and captions "
                  f"in {summary.folder}", markup=False)


def outcomes(since: str = typer.Option(None, "--since", help="Only signals from this bar on, "
                                                                "e.g. 2023-03-01")) -> None:
    """Record what became of the live signals whose outcome is still unknown (each traded
    alone as the backtester would, on the stored candles): catches up after the monitor was
    stopped."""
    import pandas as pd

    from engine.live.outcomes import update_outcomes
    from engine.settings import get_settings

    start = None
    if since:
        try:
            start = pd.Timestamp(since)
        except ValueError:
            raise typer.BadParameter(f"{since!r} is not a date; write e.g. 2023-03-01",
                                     param_hint="--since") from None
        start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    report = update_outcomes(get_settings(), since=start)
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(report.recorded.items()))
    console.print(f"{report.checked} signal(s) without an outcome: {report.total_recorded} "
                  f"recorded{f' ({kinds})' if kinds else ''}, {report.still_open} still open",
                  markup=False)
    for problem in report.problems:
        console.print(f"not resolved: {problem}", markup=False, soft_wrap=True)


def alerts_test() -> None:
    """Send one sample alert (a real chart) to the configured Telegram chats."""
    from engine.live.replay import send_test_alert
    from engine.settings import get_settings

    sent = send_test_alert(get_settings())
    console.print(f"sample alert sent to {len(sent)} chat(s): {', '.join(sent)}")


def register(app: typer.Typer) -> None:
    live_app.command("status")(status)
    live_app.command("replay")(replay)
    live_app.command("outcomes")(outcomes)
    alerts_app.command("test")(alerts_test)
    app.add_typer(live_app, name="live")
    app.add_typer(alerts_app, name="alerts")
