"""`ita engine` (the daemon) and `ita jobs ...` (submit and follow jobs)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
jobs_app = typer.Typer(help="Submit and follow background jobs.", no_args_is_help=True)


def engine_command(once: bool = typer.Option(False, help="Run queued jobs, then exit")):
    """Run the engine daemon: background jobs and setup watching (make run starts it)."""
    from engine.jobs.daemon import EngineDaemon, setup_logging
    from engine.settings import get_settings

    settings = get_settings()
    setup_logging(settings)
    try:
        EngineDaemon(settings).serve(once=once)
    except KeyboardInterrupt:
        console.print("engine stopped")


@jobs_app.command("submit")
def submit(kind: str,
           param: Annotated[list[str] | None, typer.Option(help="key=value, repeatable")] = None):
    """Queue a job for the daemon, e.g. `ita jobs submit backtest --param setup=sma-cross`."""
    from engine.errors import JobError
    from engine.jobs.bus import JobBus

    params = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise JobError(f"--param {item!r}: use key=value")
        params[key] = value
    console.print(JobBus.from_settings().submit(kind, params))


@jobs_app.command("list")
def list_jobs() -> None:
    """Recent jobs and their state."""
    from engine.jobs.bus import JobBus

    table = Table("job", "kind", "state", "progress", "message / error")
    for s in JobBus.from_settings().list():
        state = s["state"] + (" (cancelling)" if s.get("cancel_requested") else "")
        state += f" #{s['attempt']}" if s.get("attempt", 1) > 1 else ""
        table.add_row(s["job_id"], s.get("kind", ""), state,
                      f"{s.get('progress', 0):.0%}", s.get("error") or s.get("message", ""))
    console.print(table)


@jobs_app.command("cancel")
def cancel(job_id: str) -> None:
    """Cancel a queued or running job (the daemon stops it within about a second)."""
    from engine.jobs.bus import JobBus

    JobBus.from_settings().cancel(job_id)
    console.print(f"cancel requested for {job_id}; `ita jobs show {job_id}` follows it")


@jobs_app.command("show")
def show(job_id: str) -> None:
    """One job's status file."""
    from engine.jobs.bus import JobBus

    console.print_json(data=JobBus.from_settings().status(job_id))


def register(app: typer.Typer) -> None:
    app.command("engine")(engine_command)
    app.add_typer(jobs_app, name="jobs")
