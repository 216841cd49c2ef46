"""`ita kb ...`: the knowledge base from the command line."""

from __future__ import annotations

import typer

kb_app = typer.Typer(help="The knowledge base: the trader's theory, searchable and shared.",
                     no_args_is_help=True)


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
        elif answer.passages:
            console.print("[dim]No LLM is configured (ITA_LLM_MODEL): the passages are the "
                          "answer.[/]\n")
        for warning in answer.warnings:
            console.print(f"[yellow]warning[/]: {escape(warning)}")
        shown = answer.passages or answer.hits
        if shown and not answer.passages:
            console.print("[dim]Closest passages (not relevant enough to answer from):[/]")
        for n, hit in enumerate(shown, 1):
            console.print(f"[cyan][{n}][/] {escape(where(hit))}  [dim]{escape(hit.source)} "
                          f"· score {hit.score:.2f}[/]")
            console.print("    " + escape(" ".join(hit.text.split())[:400]))

    @kb_app.command("findings")
    def findings(setup: str = typer.Argument(..., help="Setup id, or id@version"),
                 ) -> None:
        """Write the findings of a setup version (its runs' numbers) into your folder of the
        shared base: analysts/<you>/findings/<setup>-v<n>.md."""
        from engine.kb.findings import write_findings
        from engine.settings import get_settings
        from engine.setups.store import split_ref

        setup_id, version = split_ref(setup)
        path = write_findings(get_settings(), setup_id, version)
        console.print(f"wrote {path}")


_ask_commands(kb_app)
