"""`ita models list|promote`: the model registry from the command line (the same
`engine.learn.registry` functions the Learning page and the daemon call)."""

from __future__ import annotations

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
models_app = typer.Typer(help="Trained models of your setups: list them, choose the champion.",
                         no_args_is_help=True)

_STATUS_STYLE = {"champion": "green", "challenger": "yellow", "new": "cyan"}


def models_list(setup: str = typer.Argument(None, help="Only this setup's models (its id)")
                ) -> None:
    """Every stored model with its walk-forward numbers, champion or challenger and why."""
    from engine.learn.registry import list_models, unreadable_models
    from engine.settings import get_settings

    for problem in unreadable_models(get_settings()):
        console.print(f"[yellow]skipped[/] {escape(problem)}")
    cards = list_models(get_settings(), setup)
    if not cards:
        console.print(f"no models{f' of {setup}' if setup else ''} yet — `ita learn train` "
                      "trains one")
        return
    settings = get_settings()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, padding=(0, 1))
    for name in ("model", "setup", "trained", "signals", "AUC [95 %]", "R (trades) at p",
                 "status"):
        table.add_column(name, no_wrap=True)
    for card in cards:
        numbers = card.metrics
        style = _STATUS_STYLE.get(card.status, "")
        owner = "" if card.analyst == settings.analyst else f" ({card.analyst})"
        table.add_row(
            card.model_id + owner, card.ref, card.trained_at[:10], str(numbers["n"]),
            _auc(numbers),
            _at_threshold(numbers),
            f"[{style}]{card.status}[/]" if style else card.status)
    console.print(table)
    for card in cards:
        if card.reason:
            console.print(f"{card.model_id}: {escape(card.reason)}", highlight=False)


def _auc(numbers: dict) -> str:
    if numbers.get("auc") is None:  # too few signals to measure
        return "—"
    return f"{numbers['auc']:.2f} [{numbers['auc_low']:.2f}, {numbers['auc_high']:.2f}]"


def _at_threshold(numbers: dict) -> str:
    if not numbers.get("trades_kept"):  # no threshold kept enough trades out of sample
        return "—"
    return (f"{numbers['expected_r']:+.2f} ({numbers['trades_kept']}) "
            f"≥ {numbers['threshold']:.2f}")


def models_promote(model_id: str = typer.Argument(..., help="Model id or its first 4+ "
                                                            "characters (ita models list)")
                   ) -> None:
    """Make a model the champion of its setup version, whatever its numbers: your choice."""
    from engine.learn.registry import find_model, promote
    from engine.settings import get_settings

    settings = get_settings()
    promote(settings, model_id)
    card = find_model(settings, model_id)
    console.print(f"{card.model_id} is now the champion of {card.ref} "
                  f"(AUC {_auc(card.metrics)} on {card.metrics['n']} signals)")


def register(app: typer.Typer) -> None:
    models_app.command("list")(models_list)
    models_app.command("promote")(models_promote)
    app.add_typer(models_app, name="models")
