"""`ita sync`: sync the shared folder with the remote now (the engine also does it every
`sync_minutes`); `ita sync --status` shows the last sync without running one."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

console = Console()
STATE_COLOURS = {"ok": "green", "error": "red", "needs_attention": "yellow", "running": "cyan"}


def sync_command(
        dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; "
                                                              "change nothing"),
        resync: bool = typer.Option(False, "--resync", help="Compare both sides in full and "
                                    "keep every file (after fixing what a 'needs attention' "
                                    "status named)"),
        force: bool = typer.Option(False, "--force", help="Allow deleting more than "
                                   "ITA_SYNC_MAX_DELETE percent of the shared files"),
        status: bool = typer.Option(False, "--status", help="Show the last sync's status "
                                    "and run nothing")) -> None:
    """Sync shared_kb/ with ITA_KB_REMOTE (rclone bisync), then refresh the knowledge index."""
    from engine.kb.sync import read_status, sync_and_refresh
    from engine.settings import get_settings

    settings = get_settings()
    if status:
        _print_status(read_status(settings))
        return
    with console.status(f"syncing with {settings.kb_remote.strip() or '(no remote)'}"):
        report, refreshed = sync_and_refresh(settings, dry_run=dry_run, resync=resync,
                                             force=force, wait_seconds=120.0)
    table = Table("", "files", title=f"shared_kb/ ⇄ {report.remote}"
                  + (" (dry run)" if report.dry_run else ""))
    for label, value in (("up (to the remote)", report.files_up),
                         ("down (from the remote)", report.files_down),
                         ("deleted on the remote", report.deleted_up),
                         ("deleted here", report.deleted_down),
                         ("conflicts", len(report.conflicts))):
        table.add_row(label, str(value))
    console.print(table)
    for path in report.unresolved_conflicts:
        console.print(f"  conflict copy: shared_kb/{path}", style="yellow")
    for line in report.error_lines:
        console.print(f"  rclone: {line}", style="dim")
    colour = STATE_COLOURS.get(report.state, "white")
    console.print(f"[{colour}]{report.state}[/]: {report.message} ({report.seconds:.1f} s)",
                  highlight=False)
    if refreshed is not None:
        console.print(f"index refreshed: {refreshed}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def _print_status(status: dict) -> None:
    if not status.get("enabled"):
        console.print("sharing is off: set ITA_KB_REMOTE (docs/SHARED_KB.md)")
        return
    if "state" not in status:
        console.print(f"never synced; {status.get('pending_local_changes', 0)} local file(s) "
                      "to send")
        return
    colour = STATE_COLOURS.get(status["state"], "white")
    console.print(f"[{colour}]{status['state']}[/]: {status.get('message', '')}",
                  highlight=False)
    console.print(f"last run {status.get('last_run')}, last success {status.get('last_ok')}, "
                  f"local changes not synced yet: {status.get('pending_local_changes', 0)}",
                  highlight=False)
    for path in status.get("unresolved_conflicts", []):
        console.print(f"  conflict copy: shared_kb/{path}", style="yellow")


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_command)
