"""`ita learn dataset|evaluate|train`: a setup version's signals as data, the model's honest
walk-forward verdict, and a trained model in the registry (the same engine.learn functions the
Learning page and the daemon call)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
learn_app = typer.Typer(help="Learn which signals of a setup work: dataset, evaluate, train.",
                        no_args_is_help=True)

SETUP = typer.Argument(..., help="Setup id (active version) or id@version")
SYMBOL = typer.Option(None, "--symbol", help="Symbol (default: the setup's first)")
START = typer.Option(None, "--start", help="First day of candles, e.g. 2024-01-01")
END = typer.Option(None, "--end", help="Last day of candles")
FOLDS = typer.Option(5, "--folds", min=1, max=20, help="Walk-forward test blocks")
TREES = typer.Option(200, "--trees", min=10, max=5000, help="Boosted trees per model")
SEED = typer.Option(0, "--seed", help="Random seed (same seed, same model bytes)")


def _dataset(setup: str, symbol, start, end):
    from engine.learn.dataset import build_dataset
    from engine.settings import get_settings

    return build_dataset(get_settings(), setup, symbol=symbol, start=start, end=end)


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
                                                               "Parquet file")) -> None:
    """Build the dataset of a setup version: one row per signal, features known at its time."""
    dataset = _dataset(setup, symbol, start, end)
    meta = dataset.meta
    console.print(f"{escape(setup)}: {len(dataset.frame):,} signals, "
                  f"{int(dataset.frame['hit_target'].sum()):,} reached target, "
                  f"{len(dataset.features)} features ({meta.get('symbol')} "
                  f"{meta.get('timeframe')}, {meta.get('data_start')} → {meta.get('data_end')})",
                  highlight=False)
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


def learn_train(setup: str = SETUP, symbol: str = SYMBOL, start: str = START, end: str = END,
                folds: int = FOLDS, trees: int = TREES, seed: int = SEED) -> None:
    """Evaluate, train on every signal, store the model in your registry and let it challenge
    the champion."""
    from engine.learn.model import evaluate, train
    from engine.learn.registry import consider, save_model
    from engine.settings import get_settings

    dataset = _dataset(setup, symbol, start, end)
    evaluation = evaluate(dataset, folds=folds, trees=trees, seed=seed)
    show_evaluation(evaluation)
    if evaluation.n == 0:
        console.print("nothing trained: a model without a walk-forward verdict would not be "
                      "judged", highlight=False)
        raise typer.Exit(1)
    model = train(dataset, trees=trees, seed=seed, folds=folds)
    settings = get_settings()
    card = save_model(settings, model, evaluation, dataset.meta)
    decision = consider(settings, card)
    state = "champion" if decision.promoted else "challenger"
    console.print(f"model {card.model_id} saved as {state}: {escape(decision.reason)}",
                  highlight=False)


def register(app: typer.Typer) -> None:
    learn_app.command("dataset")(learn_dataset)
    learn_app.command("evaluate")(learn_evaluate)
    learn_app.command("train")(learn_train)
    app.add_typer(learn_app, name="learn")
