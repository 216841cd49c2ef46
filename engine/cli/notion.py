"""`ita notion setup|status|sync-journal|push-params|pull|report`: ITA's Notion workspace
(docs/NOTION.md).

Without NOTION_TOKEN and NOTION_PARENT_PAGE each command prints the one line that says how to
enable Notion and exits 1.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
notion_app = typer.Typer(help="Notion: the signal journal, parameters and reports "
                              "(docs/NOTION.md)", no_args_is_help=True)


def _settings():
    from engine.adapters.notion.config import notion_settings, require_enabled

    settings = notion_settings()
    require_enabled(settings)
    return settings


def _home():
    from engine.settings import get_settings

    return get_settings().home


@notion_app.command("setup")
def setup_command() -> None:
    """Check the token and the parent page, create ITA's databases and reports page (once)."""
    from engine.adapters.notion.workspace import setup_workspace

    result = setup_workspace(_home(), _settings())
    console.print(f"parent page: {result.parent_title or '(untitled)'}", highlight=False)
    for name in result.created:
        console.print(f"  [green]created[/] {name}", highlight=False)
    for name in result.kept:
        console.print(f"  found {name}", highlight=False)
    console.print("Notion is ready" if not result.created else "Notion is set up")


@notion_app.command("status")
def status_command() -> None:
    """What ITA has in Notion and what waits to be sent (no request to Notion)."""
    from engine.adapters.notion.config import ENABLE_HINT, notion_settings
    from engine.adapters.notion.workspace import DATABASES, workspace_status
    from engine.errors import ConfigurationError

    status = workspace_status(_home(), notion_settings())
    if not status["enabled"]:
        raise ConfigurationError(ENABLE_HINT)
    console.print(f"parent page: {status['parent_page_id']}", highlight=False)
    for name, (title, _) in DATABASES.items():
        ids = status["databases"].get(name)
        console.print(f"  {title}: {ids['database_id'] if ids else 'not created'}",
                      highlight=False)
    console.print(f"  ITA reports: {status['reports_page_id'] or 'not created'}",
                  highlight=False)
    console.print(f"journal rows in Notion: {status['journal_rows']}; waiting in the outbox: "
                  f"{status['outbox_pending']}", highlight=False)
    if not status["set_up"]:
        console.print("run `ita notion setup` to create what is missing")


@notion_app.command("sync-journal")
def sync_journal_command() -> None:
    """Send new and changed live alerts to Notion's signal journal (idempotent)."""
    from engine.adapters.notion.sync import sync_journal

    result = sync_journal(_home(), _settings())
    console.print(f"queued {result.queued}, delivered {result.delivered}, "
                  f"waiting {result.pending}", highlight=False)
    for line in result.refused or []:
        console.print(f"  refused: {line}", style="red", highlight=False)
    if result.error:
        console.print(f"Notion unavailable, kept for later: {result.error}", style="yellow",
                      highlight=False)
        raise typer.Exit(1)


@notion_app.command("push-params")
def push_params_command() -> None:
    """Write every setup's active version to the parameter table (one row per setup)."""
    from engine.adapters.notion.params import push_parameters

    count = push_parameters(_home(), _settings())
    console.print(f"{count} setup(s) in Notion's parameter table", highlight=False)


@notion_app.command("pull")
def pull_command() -> None:
    """Read edits from the parameter table: each valid edit becomes a new setup version."""
    from engine.adapters.notion.params import pull_parameters

    outcomes = pull_parameters(_home(), _settings())
    if not outcomes:
        console.print("no edits in Notion's parameter table")
    for outcome in outcomes:
        style = "green" if outcome.saved_version is not None else "red"
        console.print(f"{outcome.setup_id}: {outcome.status}", style=style, highlight=False)
    if any(o.saved_version is None for o in outcomes):
        raise typer.Exit(1)


@notion_app.command("report")
def report_command(
        run_id: str = typer.Argument(None, help="Run id (ita runs list shows them)"),
        setup: str = typer.Option(None, "--setup", help="A setup (id or id@version; default "
                                                        "its active version) over a period"),
        start: str = typer.Option(None, "--from", help="First day (YYYY-MM-DD, UTC), included"),
        end: str = typer.Option(None, "--to", help="Last day (YYYY-MM-DD, UTC), included"),
        sample: int = typer.Option(5, "--sample", min=0, max=100,
                                   help="Trades drawn for the random-sample check"),
        seed: int = typer.Option(0, "--seed", help="Seed of the draw (shown on the page)")
) -> None:
    """A run's (or a setup version's over a period) report as a page under "ITA reports"."""
    import pandas as pd

    from engine.adapters.notion.backtest_report import build_report, publish_backtest_report
    from engine.cli.report import _day
    from engine.errors import ConfigurationError
    from engine.settings import get_settings

    settings = _settings()
    if (run_id is None) == (setup is None):
        raise ConfigurationError("name a run, or --setup S[@V] with --from and --to (not both)")
    first = _day(start, "--from") if start else None
    after = _day(end, "--to") + pd.Timedelta(days=1) if end else None
    report = build_report(get_settings(), run_id=run_id, setup=setup, start=first, end=after,
                          sample=sample, seed=seed)
    page_id = publish_backtest_report(_home(), settings, report)
    console.print(f"published {report.title} → Notion page {page_id} "
                  f"({len(report.sample_rows())} sampled trades, seed {seed})", markup=False,
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(notion_app, name="notion")
