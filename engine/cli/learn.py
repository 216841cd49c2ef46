"""`ita learn dataset|evaluate|train|explain|similar`: a setup version's signals as data, the
model's honest walk-forward verdict, a trained model in the registry, and the champion's view of
one signal (the same engine.learn functions the Learning page and the daemon's ``learn`` job
call: `engine.learn.ops`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
learn_app = typer.Typer(help="Learn which signals of a setup work: dataset, evaluate, train, "
                             "explain, similar.",
                        no_args_is_help=True)

SETUP = typer.Argument(..., help="Setup id (active version) or id@version")
SYMBOL = typer.Option(None, "--symbol", help="One symbol (default: every symbol of the setup, "
                                             "pooled)")
START = typer.Option(None, "--start", help="First day of candles, e.g. 2024-01-01")
END = typer.Option(None, "--end", help="Last day of candles")
FOLDS = typer.Option(5, "--folds", min=1, max=20, help="Walk-forward test blocks")
TREES = typer.Option(200, "--trees", min=10, max=5000, help="Boosted trees per model")
SEED = typer.Option(0, "--seed", help="Random seed (same seed, same model bytes)")


SIGNAL = typer.Argument(..., help="Signal id (or its first 6+ characters): ita learn dataset "
                                   "lists the latest")


def _dataset(setup: str, symbol, start, end):
    from engine.learn.ops import dataset_for
    from engine.settings import get_settings

    return dataset_for(get_settings(), setup, symbol=symbol, start=start, end=end)


def _num(value: float, spec: str = ".3f") -> str:
    return "—" if value != value else format(value, spec)  # NaN -> dash


def show_evaluation(evaluation) -> None:
    """The verdict, the model against its baselines, and the threshold curve."""
    console.print(escape(evaluation.verdict), highlight=False)
    if evaluation.n == 0:
        return
    scores = Table(box=box.SIMPLE_HEAD, title="out of sample, same splits", title_justify="left")
    for name in ("model", "AUC", "Brier", "log loss"):
        scores.add_column(name)
    scores.add_row("xgboost (calibrated)",
                   f"{evaluation.auc:.3f} [{evaluation.auc_low:.3f}, {evaluation.auc_high:.3f}]",
                   _num(evaluation.brier), _num(evaluation.log_loss))
    for name, numbers in evaluation.baselines.items():
        scores.add_row(name, _num(numbers["auc"]), _num(numbers["brier"]),
                       _num(numbers["log_loss"]))
    console.print(scores)
    curve = Table(box=box.SIMPLE_HEAD, title="if only signals at or above p were taken",
                  title_justify="left")
    for name in ("p ≥", "trades", "R per trade", "total R"):
        curve.add_column(name, justify="right")
    for row in evaluation.thresholds.itertuples():
        if row.trades:
            curve.add_row(f"{row.threshold:.2f}", str(row.trades), f"{row.expected_r:+.2f}",
                          f"{row.total_r:+.1f}")
    console.print(curve)


def learn_dataset(setup: str = SETUP, symbol: str = SYMBOL, start: str = START, end: str = END,
                  out: Path = typer.Option(None, "--out", help="Write the dataset to this "
                                                               "Parquet file"),
                  show: int = typer.Option(5, "--show", min=0, help="List this many of the "
                                                                    "latest signals")) -> None:
    """Build the dataset of a setup version: one row per signal, features known at its time."""
    dataset = _dataset(setup, symbol, start, end)
    meta = dataset.meta
    console.print(f"{escape(setup)}: {len(dataset.frame):,} signals, "
                  f"{int(dataset.frame['hit_target'].sum()):,} reached target, "
                  f"{len(dataset.features)} features ({meta.get('symbol')} "
                  f"{meta.get('timeframe')}, {meta.get('data_start')} → {meta.get('data_end')})",
                  highlight=False)
    dropped = {k: v for k, v in (meta.get("dropped") or {}).items() if v}
    console.print("left out (no known outcome): " + (", ".join(
        f"{count} {name.replace('_', ' ')}" for name, count in dropped.items()) or "none"),
        highlight=False)
    if meta.get("skipped_symbols"):
        console.print(f"[yellow]skipped[/] (no stored candles): "
                      f"{escape(', '.join(meta['skipped_symbols']))}")
    if show and len(dataset.frame):
        table = Table(box=box.SIMPLE_HEAD, title=f"the latest {min(show, len(dataset.frame))} "
                      "signals", title_justify="left")
        for name in ("signal", "known at", "side", "target", "R"):
            table.add_column(name, no_wrap=True)
        for row in dataset.frame.tail(show).itertuples():
            table.add_row(row.signal_id, f"{row.known_at:%Y-%m-%d %H:%M}",
                          "long" if row.side > 0 else "short", "yes" if row.hit_target else "no",
                          f"{row.r_multiple:+.2f}")
        console.print(table)
    if out is not None:
        from engine.learn.dataset import save_dataset

        console.print(f"written to {save_dataset(dataset, out)}", highlight=False)


def learn_evaluate(setup: str = SETUP, symbol: str = SYMBOL, start: str = START,
                   end: str = END, folds: int = FOLDS, trees: int = TREES,
                   seed: int = SEED) -> None:
    """Judge the model walk-forward: AUC with its interval, baselines, the threshold curve."""
    from engine.learn.model import evaluate

    show_evaluation(evaluate(_dataset(setup, symbol, start, end), folds=folds, trees=trees,
                             seed=seed))


def learn_train(setup: str | None = typer.Argument(None, help="Setup id (active version) or "
                                                              "id@version; none with --all"),
                every: bool = typer.Option(False, "--all", help="Every setup's active version, "
                                                                "one after another"),
                symbol: str = SYMBOL, start: str = START, end: str = END,
                folds: int = FOLDS, trees: int = TREES, seed: int = SEED) -> None:
    """Evaluate, train on every signal, store the model in your registry and let it challenge
    the champion (the daemon's ``learn`` job does the same); ``--all``: every active setup."""
    from engine.learn.ops import learn
    from engine.settings import get_settings

    if every:
        if setup or symbol:
            raise typer.BadParameter("--all trains every setup's active version on all its "
                                     "symbols: give no setup and no --symbol")
        _train_all(start=start, end=end, folds=folds, trees=trees, seed=seed)
        return
    if not setup:
        raise typer.BadParameter("name a setup (id or id@version), or use --all")
    with console.status("learning…") as status:
        result = learn(get_settings(), setup, symbol=symbol, start=start, end=end, folds=folds,
                       trees=trees, seed=seed,
                       progress=lambda f, m: status.update(f"{f:4.0%} {escape(m)}"))
    if result.pool:
        console.print(f"too few signals of its own: trained the pooled model of "
                      f"{len(result.pool)} setups ({escape(', '.join(result.pool))})",
                      highlight=False)
    show_evaluation(result.evaluation)
    if not result.trained:
        console.print("nothing trained: a model without a walk-forward verdict would not be "
                      "judged", highlight=False)
        raise typer.Exit(1)
    console.print(f"model {result.card.model_id} saved as {result.status}: "
                  f"{escape(result.decision.reason)}", highlight=False)
    console.print(f"dataset beside it: {result.dataset_path} ({result.seconds:.1f} s)",
                  highlight=False)


def _train_all(**options) -> None:
    """`learn_all`: every setup's active version with enough signals gets its own model; those
    with too few share one pooled model (trained once); one failing setup (no candles, a broken
    version) is reported and the others still train. Exit 1 when one failed."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from engine.errors import ItaError
    from engine.learn.ops import learn_all
    from engine.settings import get_settings

    table = Table("setup", "result", "model", "why", box=box.SIMPLE, highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[step]}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("learning", total=1.0, step="")
        results = learn_all(get_settings(), progress=lambda f, m: bar.update(
            task, completed=f, step=escape(m)), **options)
    failed = 0
    for ref, result in results.items():
        if isinstance(result, ItaError):
            failed += 1
            table.add_row(escape(ref), "failed", "", escape(str(result)))
        elif result.trained:
            table.add_row(escape(ref), result.status + (" (pooled)" if result.pool else ""),
                          result.card.model_id, escape(result.evaluation.verdict))
        else:
            table.add_row(escape(ref), "not trained", "", escape(result.evaluation.verdict))
    console.print(table)
    if failed:
        raise typer.Exit(1)


def learn_explain(setup: str = SETUP, signal: str = SIGNAL,
                  top: int = typer.Option(3, "--top", min=1, max=20,
                                          help="Strengths and weaknesses to show")) -> None:
    """The champion's probability that one signal reaches its target, and why."""
    from engine.learn.ops import explain_signal
    from engine.settings import get_settings

    explanation, row, card = explain_signal(get_settings(), setup, signal, top=top)
    facts = row.iloc[0]
    console.print(f"{facts['signal_id']} ({facts['known_at']:%Y-%m-%d %H:%M} UTC, "
                  f"{'long' if facts['side'] > 0 else 'short'}): "
                  f"{explanation.probability:.0%} chance to reach target "
                  f"(champion {card.model_id})", highlight=False)
    for title, reasons in (("strengths", explanation.strengths),
                           ("weaknesses", explanation.weaknesses)):
        console.print(f"{title}:" + ("" if reasons else " none"), highlight=False)
        for reason in reasons:
            console.print(f"  {escape(reason.text)}", highlight=False)
    console.print(f"outcome: {'reached target' if facts['hit_target'] else 'did not reach target'}"
                  f" ({facts['r_multiple']:+.2f} R)", highlight=False)


def learn_similar(setup: str = SETUP, signal: str = SIGNAL,
                  k: int = typer.Option(10, "--k", min=1, max=100,
                                        help="How many similar past signals")) -> None:
    """The past signals most like one signal (outcomes known at its time), and how they ended."""
    from engine.learn.ops import similar_signals
    from engine.settings import get_settings

    cases, row, _ = similar_signals(get_settings(), setup, signal, k=k)
    console.print(f"{row.iloc[0]['signal_id']}: {escape(cases.summary)}" + (
        f" (average {cases.average_r:+.2f} R)" if len(cases.rows) else ""), highlight=False)
    if not len(cases.rows):
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("signal", "known at", "distance", "target", "R"):
        table.add_column(name, no_wrap=True)
    for case in cases.rows.itertuples():
        table.add_row(case.signal_id, f"{case.known_at:%Y-%m-%d %H:%M}", f"{case.distance:.2f}",
                      "yes" if case.hit_target else "no", f"{case.r_multiple:+.2f}")
    console.print(table)


def learn_due(setup: str = SETUP) -> None:
    """Whether the setup version has gained enough known outcomes (+20 % or +50 signals; your
    new labels count too) since its model was trained to be worth training again (the retrain
    trigger the engine daemon checks every ITA_LEARN_MINUTES)."""
    from engine.learn.ops import due_for_training
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    settings = get_settings()
    version = SetupStore.from_settings(settings).load(setup)
    due = due_for_training(settings, version.setup.id, version.version)
    console.print(f"{version.setup.id}@{version.version}: "
                  f"{'retrain: ita learn train ' + escape(setup) if due.due else 'not due'} — "
                  f"{escape(due.reason)}", highlight=False)


def register(app: typer.Typer) -> None:
    learn_app.command("dataset")(learn_dataset)
    learn_app.command("evaluate")(learn_evaluate)
    learn_app.command("train")(learn_train)
    learn_app.command("explain")(learn_explain)
    learn_app.command("similar")(learn_similar)
    learn_app.command("due")(learn_due)
    app.add_typer(learn_app, name="learn")
