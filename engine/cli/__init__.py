"""The `ita` command. Each sub-module registers its commands; all of them call engine functions,
the same ones the app and the daemon call."""

from __future__ import annotations

import typer

from engine.errors import ItaError

app = typer.Typer(
    name="ita",
    help="ITA: find trading setups on candles, backtest them honestly, watch the market.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported here so that `import engine.cli` stays cheap for tests that only need `app`.
    from engine.cli import backtest, data, jobs, kb, live, runs, setup

    for module in (data, setup, backtest, runs, jobs, live, kb):
        module.register(app)

    from engine.cli import learn  # datasets, walk-forward verdicts, training (issue 13)

    learn.register(app)

    from engine.cli import models  # the model registry (issue 13)

    models.register(app)

    from engine.cli import sync  # the shared folder (issue 12)

    sync.register(app)

    from engine.cli import labels  # the trader's labels (issue 13)

    labels.register(app)

    from engine.cli import paper  # paper accounts (issue 15)

    paper.register(app)

    from engine.cli import kill  # the paper kill switch (issue 15)

    kill.register(app)

    from engine.cli import report  # period reports and the random-sample check (issue 14)

    report.register(app)

    from engine.cli import notion  # Notion: journal, parameters, reports (issue 14)

    notion.register(app)


_register()


def main() -> None:
    """Console entry point: an `ItaError` is one red line and exit code 1, never a traceback."""
    try:
        code = app(standalone_mode=False)  # a `typer.Exit(n)` comes back as n here
    except ItaError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise SystemExit(1) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.TyperException as error:  # usage errors (typer's own vendored click, not `click`)
        show = getattr(error, "show", None)
        if show is not None:
            show()
        raise SystemExit(getattr(error, "exit_code", 1)) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)
