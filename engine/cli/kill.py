"""`ita kill`: the paper kill switch from the terminal (the same `engine.paper.kill` functions the
app, Telegram and the file door call).

    ita kill --reason "news spike"      # stop all paper following now
    ita kill --close                    # ... and close the open paper positions
    ita kill --release                  # follow again
    ita kill --status                   # is it on, since when, by whom; the last events
"""

from __future__ import annotations

import typer


def kill_command(
        close: bool = typer.Option(False, "--close", help="Also close the open paper positions"),
        reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)"),
        release: bool = typer.Option(False, "--release", help="Turn the kill switch off"),
        status: bool = typer.Option(False, "--status", help="Show the switch and its history; "
                                    "change nothing")) -> None:
    """Stop all paper following at once (stays on until `ita kill --release`)."""
    from engine.paper import kill
    from engine.settings import get_settings

    settings = get_settings()
    if release and (close or reason):
        raise typer.BadParameter("--release takes neither --close nor --reason")
    if status:
        _print_status(settings)
    elif release:
        was_on = kill.state(settings).engaged
        kill.release(settings, by="cli")
        typer.echo("kill switch released: paper following resumes with the next closed bar"
                   if was_on else "the kill switch was not on")
    else:
        typer.echo(kill.banner(kill.engage(settings, by="cli", reason=reason,
                                           close_positions=close)))


def _print_status(settings) -> None:
    from engine.paper import kill

    typer.echo(kill.banner(kill.state(settings)) or "kill switch off")
    for event in kill.history(settings)[-10:]:
        why = f": {event.reason}" if event.reason else ""
        close = " (close positions)" if event.close_positions else ""
        typer.echo(f"  {event.at:%Y-%m-%d %H:%M:%S} UTC {event.action} by {event.by}{close}{why}")


def register(app: typer.Typer) -> None:
    app.command("kill")(kill_command)
