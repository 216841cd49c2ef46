"""`ita setup ...` and `ita detect`: setups from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

console = Console()
setup_app = typer.Typer(help="Validate, version, compare and activate setups.",
                        no_args_is_help=True)


def _store():
    from engine.setups.store import SetupStore

    return SetupStore.from_settings()


@setup_app.command("validate")
def validate(file: Path = typer.Argument(..., help="A setup YAML file")) -> None:
    """Check a setup file; print every problem with its line (exit code 1), or OK."""
    from engine.errors import SetupError
    from engine.setups.parse import parse_setup

    if not file.exists():
        raise SetupError(f"{file}: file not found")
    try:
        setup = parse_setup(file.read_text(encoding="utf-8"), source=str(file))
    except SetupError as error:
        problems = str(error).splitlines()
        for problem in problems:
            typer.secho(problem, fg=typer.colors.RED, err=True)
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        typer.secho(f"{file}: {count}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    console.print(f"[green]OK[/] {file}: {setup.id} — {setup.name} "
                  f"({len(setup.conditions)} conditions, {setup.market.timeframe})")
    _warn_about_stops(setup)


def _warn_about_stops(setup) -> None:
    """A warning (never a failure) when the median stop on the stored candles is within 3x
    the setup's round-trip costs; says so when it cannot check."""
    from engine.errors import DataError
    from engine.pipeline import check_setup_stops

    symbol, timeframe = setup.market.symbols[0], setup.market.timeframe
    try:
        check = check_setup_stops(setup)
    except DataError as error:
        console.print(f"[yellow]stops not checked[/]: {error}")
        return
    line = check.message(symbol, timeframe)
    console.print(f"[yellow]warning[/]: {line}" if check.too_tight else f"stops: {line}")


@setup_app.command("save")
def save(file: Path = typer.Argument(..., help="A setup YAML file"),
         activate: bool = typer.Option(True, help="Make it the active version")) -> None:
    """Store a setup file as a new version (identical text creates none)."""
    version = _store().save(file.read_text(encoding="utf-8"), activate=activate,
                            source=str(file))
    console.print(f"{version.id} is at version {version.version} (hash {version.hash})")


@setup_app.command("list")
def list_setups() -> None:
    """Every setup with its versions and the active one."""
    table = Table("id", "name", "tf", "versions", "active", "tags")
    for info in _store().list():
        table.add_row(info.id, info.name, info.timeframe, str(info.versions),
                      f"v{info.active}", ", ".join(info.tags))
    console.print(table)


@setup_app.command("show")
def show(setup_id: str, version: int = typer.Option(None, help="Version (default: active)")):
    """Print a version's YAML."""
    v = _store().load(setup_id, version)
    console.print(f"# {v.id} v{v.version}  hash {v.hash}  rule {v.rule_hash}")
    console.print(Syntax(v.text, "yaml"))
    if v.setup.sources:
        table = Table("document", "page", "quote", title="Theory this rule formalises")
        for cited in v.setup.sources:
            table.add_row(cited.source, "" if cited.page is None else str(cited.page),
                          cited.quote)
        console.print(table)


@setup_app.command("draft")
def draft(idea: str = typer.Argument(..., help="The idea in your words (Russian or English)"),
          symbol: str = typer.Option(None, help="Preview on this symbol (default: the "
                                                "draft's first)"),
          save: bool = typer.Option(False, "--save", help="Save the draft as a new setup"),
          preview: bool = typer.Option(True, help="Backtest the draft on stored candles"),
          ) -> None:
    """Draft a setup from an idea with the LLM (validated, repaired at most twice), with the
    knowledge base's passages it relied on and a backtest preview; saved only with --save."""
    from engine.kb.draft import draft_setup, save_draft
    from engine.settings import get_settings

    settings = get_settings()
    result = draft_setup(settings, idea, preview=preview, symbol=symbol)
    console.print(Syntax(result.yaml_text, "yaml"))
    rounds = f"{result.rounds} repl{'y' if result.rounds == 1 else 'ies'}"
    if not result.valid:
        for problem in result.errors:
            typer.secho(problem, fg=typer.colors.RED, err=True)
        typer.secho(f"draft not valid after {rounds}: nothing saved", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(1)
    console.print(f"[green]valid[/] after {rounds}; relies on {len(result.sources)} "
                  "passage(s) of the knowledge base")
    for note in result.notes:
        console.print(f"[yellow]note[/]: {note}")
    if result.preview is not None:
        m = result.preview.metrics
        r = "—" if m.get("expectancy_r") is None else f"{m['expectancy_r']:+.2f} R"
        won = "—" if m.get("win_rate") is None else f"{m['win_rate']:.0%}"
        console.print(f"preview on {result.preview.symbol} {result.preview.timeframe} "
                      f"({str(m['start'])[:10]} → {str(m['end'])[:10]}): "
                      f"{result.preview.signals} signals, {m['trades']} trades, {r}, "
                      f"{won} won (not saved)")
    if save:
        version = save_draft(settings, result)
        console.print(f"saved {version.id} v{version.version}")
    else:
        console.print("not saved: run again with --save, or paste it into the editor")


@setup_app.command("diff")
def diff(setup_id: str, old: int, new: int) -> None:
    """Unified diff of two versions."""
    text = _store().diff(setup_id, old, new)
    console.print(Syntax(text, "diff") if text else "(identical)")


@setup_app.command("activate")
def activate(setup_id: str, version: int) -> None:
    """Make a version active (roll back = activate an older one)."""
    _store().activate(setup_id, version)
    console.print(f"{setup_id}: version {version} is active")


def detect_command(
    setup: str = typer.Argument(..., help="Setup id, or id@version"),
    symbol: str = typer.Option(None, help="Symbol (default: the setup's first)"),
    start: str = typer.Option(None, "--from", help="First bar (UTC date/time)"),
    end: str = typer.Option(None, "--to", help="Stop before (UTC date/time)"),
    out: Path = typer.Option(None, help="Write the signals to .parquet or .csv"),
) -> None:
    """Find a setup's signals on stored candles."""
    from engine._io import atomic_path
    from engine.pipeline import detect_setup

    result = detect_setup(setup, symbol=symbol, start=start, end=end)
    signals = result.signals
    table = Table("known at", "dir", "entry", "stop", "target", "R", title=(
        f"{result.version.id} v{result.version.version} on {result.symbol} "
        f"{result.version.setup.market.timeframe}: {len(signals)} signals "
        f"({len(result.candles):,} bars; {result.dropped} dropped for an invalid stop, "
        f"{result.counters.get('filtered_stop_too_tight', 0)} for a stop too tight)"))
    for row in signals.tail(30).itertuples():
        table.add_row(str(row.known_at), "long" if row.direction > 0 else "short",
                      f"{row.entry:,.2f}", f"{row.stop:,.2f}", f"{row.target:,.2f}",
                      f"{row.r_planned:.2f}")
    console.print(table)
    if out:
        with atomic_path(out) as tmp:
            if out.suffix == ".csv":
                signals.to_csv(tmp, index=False)
            else:
                signals.to_parquet(tmp, index=False)
        console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(setup_app, name="setup")
    app.command("detect")(detect_command)
