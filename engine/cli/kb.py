"""`ita kb add|list|search|rebuild`: the knowledge base from the command line (the same
`engine.kb` functions the Knowledge page and the daemon's kb jobs call)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
kb_app = typer.Typer(help="The knowledge base: add theory files, list and search them.",
                     no_args_is_help=True)

_STATUS_STYLE = {"added": "green", "already there": "cyan", "failed": "red"}


@contextlib.contextmanager
def _progress(label: str):
    """A rich bar; yields the `progress(fraction, message)` callback the engine takes."""
    with Progress(TextColumn(label), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as bar:
        task = bar.add_task("", total=1.0)
        yield lambda fraction, message: bar.update(task, completed=fraction,
                                                   description=escape(message))


def _print_refresh(report) -> None:
    for source, warning in report.warnings:
        console.print(f"[yellow]warning[/] {escape(source)}: {escape(warning)}")
    changes = [f"{len(report.added)} added", f"{len(report.updated)} updated",
               f"{len(report.removed)} removed", f"{report.unchanged} unchanged"]
    console.print(f"index: {', '.join(changes)}; {report.chunks} passages embedded in "
                  f"{report.seconds:.1f} s" + (" (rebuilt)" if report.rebuilt else ""))


@kb_app.command("add")
def add(paths: list[Path] = typer.Argument(..., help="Files or folders (PDF, PNG/JPG, MD, TXT, "
                                                     "DOCX)"),
        tag: list[str] = typer.Option(None, "--tag", "-t", help="A tag for every file (repeat "
                                                                 "for several)"),
        analyst: str = typer.Option(None, help="Who adds them (default: ITA_ANALYST)")) -> None:
    """Add theory files to the shared base and index them; one line per file (exit code 1 if
    any file failed, the others are added)."""
    from engine.kb.ingest import add_files
    from engine.settings import get_settings

    with _progress("kb add") as progress:
        report = add_files(get_settings(), paths, analyst=analyst, tags=tuple(tag or ()),
                           progress=progress)
    for result in report.files:
        style = _STATUS_STYLE[result.status]
        where = f" -> {escape(result.source)}" if result.source and result.status != "failed" \
            else ""
        console.print(f"[{style}]{result.status:>13}[/] {escape(result.name)}{where}: "
                      f"{escape(result.message)}")
    others = [(s, m) for s, m in report.refresh.failed
              if s not in {r.source for r in report.files}]
    for source, message in others:
        console.print(f"[red]{'failed':>13}[/] {escape(source)} (already in the shared folder): "
                      f"{escape(message)}")
    _print_refresh(report.refresh)
    if report.failed:
        typer.secho(f"{len(report.failed)} of {len(report.files)} files failed",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@kb_app.command("list")
def list_documents() -> None:
    """Every document of the local index: passages, who added it, when; failed ones with why."""
    from engine.kb.index import KnowledgeIndex
    from engine.settings import get_settings

    rows = KnowledgeIndex(get_settings()).documents()
    if not rows:
        console.print("the knowledge base is empty — add files with `ita kb add FILE…`")
        return
    table = Table("document", "title", "analyst", "passages", "indexed", "status")
    for row in rows:
        status = "[green]indexed[/]" if row["status"] == "indexed" else \
            f"[red]failed[/]: {escape(row.get('error', ''))}"
        table.add_row(escape(row["source"]), escape(str(row.get("title", ""))),
                      escape(str(row.get("analyst", ""))), str(row.get("chunks", "—")),
                      str(row.get("indexed_at", row.get("failed_at", "—"))), status)
    console.print(table)


@kb_app.command("search")
def search_command(
    query: str = typer.Argument(..., help="What you are looking for, in Russian or English"),
    k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="How many passages"),
    source: str = typer.Option(None, help="Only this document (as `ita kb list` shows it)"),
    analyst: str = typer.Option(None, help="Only documents of this analyst"),
    tag: str = typer.Option(None, help="Only documents with this tag"),
    language: str = typer.Option(None, help="Only passages in this language: ru | en | mixed"),
) -> None:
    """The best passages for a question, with their file, page and heading."""
    from engine.kb.search import search
    from engine.settings import get_settings

    hits = search(get_settings(), query, k=k, source=source, analyst=analyst, tag=tag,
                  language=language)
    if not hits:
        console.print("nothing found (is the base empty? `ita kb list`)")
        return
    for number, hit in enumerate(hits, 1):
        where = hit.source + (f", p. {hit.page}" if hit.page is not None else "")
        heading = f" — {hit.heading}" if hit.heading else ""
        console.print(f"[bold][{number}][/] [cyan]{escape(where)}[/]{escape(heading)} "
                      f"[dim](score {hit.score:.2f}, {hit.language}, {escape(hit.analyst)})[/]")
        console.print(escape(hit.text), soft_wrap=False)
        console.print()


@kb_app.command("rebuild")
def rebuild() -> None:
    """Drop the local index and index every file of the shared folder again."""
    from engine.kb.index import KnowledgeIndex
    from engine.settings import get_settings

    with _progress("kb rebuild") as progress:
        report = KnowledgeIndex(get_settings()).rebuild(progress=progress)
    for source, message in report.failed:
        console.print(f"[red]{'failed':>13}[/] {escape(source)}: {escape(message)}")
    _print_refresh(report)


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")


# --- s-kbask: `ita kb ask` and `ita kb findings` (answers and verified knowledge) ---------------

def _ask_commands(kb_app: typer.Typer) -> None:
    """`ita kb ask` and `ita kb findings`, added to the `kb` group."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()

    @kb_app.command("ask")
    def ask(question: str = typer.Argument(..., help="Your question, in Russian or English"),
            k: int = typer.Option(5, "--k", min=1, max=20, help="Passages to look at")) -> None:
        """The best passages with their sources and, with an LLM configured, a short answer
        written only from them."""
        from engine.kb.answer import ask as ask_base
        from engine.kb.answer import where
        from engine.settings import get_settings

        answer = ask_base(get_settings(), question, k=k)
        if answer.answer is not None:
            console.print(f"[bold]{escape(answer.answer)}[/]\n")
        else:
            console.print("[dim]No LLM is configured (ITA_LLM_MODEL): the passages are the "
                          "answer, best first.[/]\n")
        if not answer.hits:
            console.print("[dim]No passage found: is the base empty? `ita kb list`[/]")
        for warning in answer.warnings:
            console.print(f"[yellow]warning[/]: {escape(warning)}")
        shown = answer.passages or answer.hits
        if shown and not answer.passages:
            console.print("[dim]Closest passages (none scores high enough to ask the model):[/]")
        for n, hit in enumerate(shown, 1):
            console.print(f"[cyan][{n}][/] {escape(where(hit))}  [dim]{escape(hit.source)} "
                          f"· score {hit.score:.2f}[/]")
            console.print("    " + escape(" ".join(hit.text.split())[:400]))

    @kb_app.command("findings")
    def findings(setup: str = typer.Argument(..., help="Setup id, or id@version"),
                 ) -> None:
        """Write the findings of a setup version (its runs' numbers) into your folder of the
        shared base, analysts/<you>/findings/<setup>-v<n>.md, and index them."""
        from engine.kb.findings import publish_findings
        from engine.settings import get_settings
        from engine.setups.store import split_ref

        setup_id, version = split_ref(setup)
        with _progress("indexing") as progress:
            published = publish_findings(get_settings(), setup_id, version, progress=progress)
        console.print(f"wrote {escape(str(published.path))}")
        _print_refresh(published.refresh)


_ask_commands(kb_app)
