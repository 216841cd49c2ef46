"""`ita runs delete|note`: manage runs and their notes (the `runs` group itself, with
`list` and `query`, lives in `engine.cli.backtest`)."""

from __future__ import annotations

import typer
from rich.console import Console

from engine.cli.backtest import runs_app

console = Console()


def runs_delete(run_id: str = typer.Argument(..., help="Run id (ita runs list shows them)"),
                yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask to confirm")
                ) -> None:
    """Delete a run's folder (its trades, equity, signals, summary and note)."""
    from engine.adapters.runs import RunStore, run_label

    store = RunStore.from_settings()
    label = run_label(store.summary(run_id))
    if not yes:
        typer.confirm(f"Delete run {run_id} ({label})?", abort=True)
    store.delete(run_id)
    console.print(f"deleted run {run_id}")


def runs_note(run_id: str = typer.Argument(..., help="Run id (ita runs list shows them)"),
              text: str = typer.Argument(None, help="The note (Markdown); \"\" removes it; "
                                                    "omitted: print the note")) -> None:
    """Write (or print) the note on a run, kept in runs/<id>/note.md beside its results."""
    from engine.adapters.runs import RunStore

    store = RunStore.from_settings()
    if text is None:
        console.print(store.note(run_id) or f"run {run_id} has no note", markup=False)
        return
    store.set_note(run_id, text)
    console.print(f"{'saved the note on' if text.strip() else 'removed the note of'} run "
                  f"{run_id}")


def register(app: typer.Typer) -> None:
    runs_app.command("delete")(runs_delete)
    runs_app.command("note")(runs_note)
