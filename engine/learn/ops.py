"""One learning operation for the CLI, the daemon's ``learn`` job and (next) the Learning page.

`learn(settings, "setup@3")` does, with progress in steps:

1. the dataset (`dataset_for`): every symbol of the setup (or the one asked for), each built by
   `engine.learn.dataset.build_dataset`, pooled into one dataset when there are several (a
   symbol without stored candles is skipped and named in ``meta["skipped_symbols"]``);
2. the walk-forward evaluation (`engine.learn.model.evaluate`);
3. the model trained on every signal (`engine.learn.model.train`);
4. the model saved in the registry with its card (`engine.learn.registry.save_model`) and the
   dataset beside it (``dataset.parquet``: what the model learned from, for similar cases);
5. champion or challenger (`engine.learn.registry.consider`), with the reason in words. When the
   champion was evaluated on other splits (the dataset grew), its recipe is evaluated again on
   this dataset so both are judged on the same splits; a retrain of the champion's own recipe
   on more signals replaces it when it is still better than chance (the retrain loop's point:
   the same recipe judged on the same splits would only ever tie with itself).

Training the same setup on the same data again gives the same model id and changes nothing.

`due_for_training` is the retrain trigger: yes when the setup version has gained at least 20 %
more known outcomes (or 50 signals) since the model it was last trained into.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import DataError, ItaError

DATASET_FILE = "dataset.parquet"
GROWTH = 0.20  # retrain when known outcomes grew by this share...
GROWTH_SIGNALS = 50  # ...or by this many signals
_RECIPE_VOLATILE = ("rows", "calibration")  # params that follow from the data, not the recipe

Progress = Callable[[float, str], None]


class LearnError(ItaError):
    """A learning request cannot be served (no champion yet, unknown signal id, ...)."""


@dataclasses.dataclass(frozen=True)
class LearnResult:
    """What one `learn` did: the dataset's meta, the evaluation, the stored model's card and
    the champion/challenger decision. Nothing is trained when the walk-forward evaluation could
    not score a signal (too few: the verdict says how many are needed): `card`, `decision` and
    `dataset_path` are then None."""

    dataset_meta: dict
    evaluation: object  # engine.learn.model.Evaluation
    card: object | None  # engine.learn.registry.ModelCard
    decision: object | None  # engine.learn.registry.Decision
    dataset_path: Path | None
    seconds: float

    @property
    def trained(self) -> bool:
        return self.card is not None

    @property
    def status(self) -> str:
        if self.decision is None:
            return "not trained"
        return "champion" if self.decision.card.status == "champion" else "challenger"

    def to_dict(self) -> dict:
        """The job's result (JSON)."""
        evaluation, meta = self.evaluation, self.dataset_meta
        result = {"setup": f"{meta.get('setup_id')}@{meta.get('setup_version')}",
                  "trained": self.trained, "status": self.status, "verdict": evaluation.verdict,
                  "n": int(evaluation.n), "auc": _number(evaluation.auc),
                  "auc_low": _number(evaluation.auc_low),
                  "auc_high": _number(evaluation.auc_high), "rows": int(meta.get("rows", 0)),
                  "seconds": round(self.seconds, 2)}
        if self.trained:
            result.update(model_id=self.card.model_id, promoted=bool(self.decision.promoted),
                          reason=self.decision.reason, dataset=str(self.dataset_path))
        return result


@dataclasses.dataclass(frozen=True)
class Due:
    """The retrain trigger's answer for one setup version."""

    due: bool
    reason: str
    known: int  # signals with a known outcome now
    trained: int  # signals the last model learned from (0: never trained)


def dataset_for(settings, setup_ref: str, *, symbol: str | None = None, start=None, end=None,
                progress: Progress | None = None):
    """The learning dataset of a setup version: `symbol` alone, or every symbol of the setup
    pooled into one dataset (symbols without stored candles are skipped and named)."""
    from engine.learn.dataset import build_dataset
    from engine.setups.store import SetupStore

    symbols = [symbol] if symbol else list(SetupStore.from_settings(settings).load(setup_ref)
                                           .setup.market.symbols)
    datasets, skipped = [], []
    for i, name in enumerate(symbols):
        _tell(progress, i / len(symbols), f"dataset: {name} ({i + 1}/{len(symbols)})")
        try:
            datasets.append(build_dataset(settings, setup_ref, symbol=name, start=start,
                                          end=end))
        except DataError:
            if len(symbols) == 1:
                raise
            skipped.append(name)
    if not datasets:
        raise DataError(f"{setup_ref}: no stored candles for any of its symbols "
                        f"({', '.join(symbols)}); import them first: ita data import")
    if len(datasets) == 1:
        dataset = datasets[0]
        return dataclasses.replace(dataset, meta={**dataset.meta, "skipped_symbols": skipped}) \
            if skipped else dataset
    return _pooled_symbols(datasets, skipped)


def _pooled_symbols(datasets: list, skipped: list[str]):
    """One setup's datasets on several symbols as one (`pool_datasets`), without its constant
    ``setup_<id>`` column, with a meta the registry can file (setup id and version, rule hash,
    a data hash over every symbol's)."""
    from engine.learn.dataset import Dataset, pool_datasets

    pooled = pool_datasets(datasets)
    constant = [f for f in pooled.features if f.startswith("setup_")
                and f not in datasets[0].features]
    features = tuple(f for f in pooled.features if f not in constant)
    first = datasets[0].meta
    metas = [d.meta for d in datasets]
    digest = hashlib.sha256("|".join(str(m.get("data_hash")) for m in metas).encode())
    dropped: dict[str, int] = {}
    for meta in metas:
        for key, count in meta.get("dropped", {}).items():
            dropped[key] = dropped.get(key, 0) + int(count)
    starts = [m["data_start"] for m in metas if m.get("data_start")]
    ends = [m["data_end"] for m in metas if m.get("data_end")]
    meta = {**{k: v for k, v in first.items() if k not in ("pooled",)},
            "symbol": ",".join(m["symbol"] for m in metas),
            "symbols": [m["symbol"] for m in metas], "skipped_symbols": skipped,
            "data_start": min(starts) if starts else None,
            "data_end": max(ends) if ends else None,
            "data_bars": sum(int(m.get("data_bars", 0)) for m in metas),
            "data_hash": digest.hexdigest()[:16],
            "signals": sum(int(m.get("signals", 0)) for m in metas),
            "rows": pooled.meta["rows"], "positives": pooled.meta["positives"],
            "dropped": dropped, "pooled": metas}
    frame = pooled.frame.drop(columns=constant)
    return Dataset(frame, features, meta)


def learn(settings, setup_ref: str, *, symbol: str | None = None, start=None, end=None,
          folds: int = 5, trees: int = 200, seed: int = 0,
          progress: Progress | None = None) -> LearnResult:
    """Dataset, walk-forward evaluation, training, registry and champion/challenger for one
    setup version (module docstring)."""
    began = time.perf_counter()
    dataset = dataset_for(settings, setup_ref, symbol=symbol, start=start, end=end,
                          progress=_scaled(progress, 0.0, 0.3))
    return learn_dataset(settings, dataset, folds=folds, trees=trees, seed=seed,
                         progress=_scaled(progress, 0.3, 1.0), began=began)


def learn_dataset(settings, dataset, *, folds: int = 5, trees: int = 200, seed: int = 0,
                  progress: Progress | None = None, began: float | None = None) -> LearnResult:
    """Steps 2-5 of `learn` on a dataset already built (or loaded)."""
    from engine.learn.dataset import save_dataset
    from engine.learn.model import evaluate, train
    from engine.learn.registry import champion, save_model

    began = time.perf_counter() if began is None else began
    rows = len(dataset.frame)
    _tell(progress, 0.0, f"walk-forward evaluation: {rows} signals, {folds} folds")
    evaluation = evaluate(dataset, folds=folds, trees=trees, seed=seed)
    if evaluation.n == 0:  # a model without a walk-forward verdict would not be judged
        _tell(progress, 1.0, f"nothing trained: {evaluation.verdict}")
        return LearnResult(dataset_meta=dict(dataset.meta), evaluation=evaluation, card=None,
                           decision=None, dataset_path=None,
                           seconds=time.perf_counter() - began)
    _tell(progress, 0.55, f"training on {rows} signals")
    model = train(dataset, trees=trees, seed=seed, folds=folds)
    _tell(progress, 0.85, "saving the model")
    card = save_model(settings, model, evaluation, dataset.meta)
    path = card.path / DATASET_FILE
    if not path.is_file():  # the same model id: the same dataset, already beside it
        save_dataset(dataset, path)
    _tell(progress, 0.9, "champion or challenger")
    current = champion(settings, card.setup_id, card.setup_version)
    decision = _decide(settings, card, current, dataset, evaluation)
    _tell(progress, 1.0, f"{card.model_id}: {decision.reason}")
    return LearnResult(dataset_meta=dict(dataset.meta), evaluation=evaluation, card=decision.card,
                       decision=decision, dataset_path=path,
                       seconds=time.perf_counter() - began)


def _decide(settings, card, current, dataset, evaluation):
    from engine.learn.model import evaluate
    from engine.learn.registry import Decision, consider, find_model, promote

    if current is None or current.model_id == card.model_id \
            or current.metrics.get("splits") == card.metrics.get("splits"):
        return consider(settings, card)
    rows, before = int(card.params.get("rows", 0)), int(current.params.get("rows", 0))
    if _recipe(current) == _recipe(card) and rows > before:
        if not card.better_than_chance:
            return consider(settings, card)  # "not better than chance — the champion stays"
        reason = (f"the champion's recipe retrained on {rows} signals (was {before}), still "
                  f"better than chance: AUC "
                  f"{card.metrics['auc']:.2f} [{card.metrics['auc_low']:.2f}, "
                  f"{card.metrics['auc_high']:.2f}]")
        promote(settings, card.model_id, reason=reason)
        return Decision(promoted=True, reason=reason, card=find_model(settings, card.model_id),
                        champion=current)
    params = current.params
    again = evaluate(dataset, folds=int(params.get("folds", 5)),
                     trees=int(params.get("trees", 200)), seed=int(params.get("seed", 0)))
    return consider(settings, card, champion_evaluation=again) if again.n else \
        consider(settings, card)


def _recipe(card) -> tuple:
    params = {k: v for k, v in card.params.items() if k not in _RECIPE_VOLATILE}
    return tuple(card.features), tuple(sorted((k, repr(v)) for k, v in params.items())), \
        card.dataset.get("rule_hash"), card.dataset.get("feature_set")


# ------------------------------------------------------------------------------ using a model

def champion_or_fail(settings, setup_ref: str):
    """The champion model and card of a setup version; a `LearnError` telling the trader to
    train it first when there is none."""
    from engine.learn.registry import champion, load_model
    from engine.setups.store import SetupStore

    version = SetupStore.from_settings(settings).load(setup_ref)
    card = champion(settings, version.setup.id, version.version)
    if card is None:
        raise LearnError(f"{version.setup.id}@{version.version}: no champion model yet — train "
                         f"it first: ita learn train {setup_ref}")
    model, card = load_model(settings, card.model_id)
    return model, card


def signal_row(dataset, signal_id: str):
    """The row of `signal_id` (or a unique prefix of at least 6 characters) as a one-row
    frame; a `LearnError` naming the setup otherwise."""
    ids = dataset.frame["signal_id"].astype(str)
    wanted = str(signal_id).strip()
    exact = np.flatnonzero((ids == wanted).to_numpy())
    found = exact if len(exact) else (np.flatnonzero(ids.str.startswith(wanted).to_numpy())
                                      if len(wanted) >= 6 else exact)
    if len(found) == 1:
        return dataset.frame.iloc[[int(found[0])]]
    setup = dataset.meta.get("setup_id", "the setup")
    if not len(found):
        raise LearnError(f"signal {wanted!r}: not among the {len(ids)} signals of {setup} "
                         f"(ita learn dataset {setup} lists them)")
    raise LearnError(f"signal {wanted!r}: matches {len(found)} signals — give more of its id")


def explain_signal(settings, setup_ref: str, signal_id: str, *, top: int = 3):
    """The champion's probability and reasons for one signal of the setup's fresh dataset,
    with its row."""
    from engine.learn.explain import explain, typical_values

    model, card = champion_or_fail(settings, setup_ref)
    dataset = _fresh(settings, setup_ref, card)
    row = signal_row(dataset, signal_id)
    typical = typical_values(dataset.frame, model.features)
    return explain(model, row, top=top, typical=typical), row, card


def similar_signals(settings, setup_ref: str, signal_id: str, *, k: int = 10):
    """The `k` past signals most like one signal (in what the champion finds important), from
    signals whose outcome was known at its time."""
    from engine.learn.explain import feature_weights, similar

    model, card = champion_or_fail(settings, setup_ref)
    dataset = _fresh(settings, setup_ref, card)
    row = signal_row(dataset, signal_id)
    weights = feature_weights(model, dataset.frame)
    return similar(dataset, row, k=k, weights=weights), row, card


def _fresh(settings, setup_ref: str, card):
    symbols = card.dataset.get("symbols") or [card.dataset.get("symbol")]
    dataset = dataset_for(settings, setup_ref, symbol=symbols[0] if len(symbols) == 1 else None)
    missing = [f for f in card.features if f not in dataset.frame.columns]
    if missing:
        raise LearnError(f"champion {card.model_id} of {card.ref} needs feature(s) "
                         f"{', '.join(missing[:3])} the dataset no longer has (feature set "
                         f"{dataset.meta.get('feature_set')}): retrain it: ita learn train "
                         f"{setup_ref}")
    return dataset


# ------------------------------------------------------------------------------ retraining

def due_for_training(settings, setup_id: str, version: int, *, dataset=None) -> Due:
    """Whether `setup_id@version` should be retrained: never trained, or its known outcomes grew
    by at least 20 % (or 50 signals) since the champion's training (the latest model's when no
    champion was chosen). `dataset`: the fresh dataset, if the caller has it already."""
    from engine.learn.registry import champion, list_models

    last = champion(settings, setup_id, version)
    if last is None:
        mine = [c for c in list_models(settings, setup_id)
                if c.setup_version == int(version) and c.analyst == settings.analyst]
        last = mine[-1] if mine else None
    if dataset is None:
        dataset = dataset_for(settings, f"{setup_id}@{int(version)}", symbol=_only(last))
    known = len(dataset.frame)
    if last is None:
        return Due(known > 0, f"never trained; {known} signals with a known outcome" if known
                   else "no signal with a known outcome yet", known, 0)
    trained = int(last.params.get("rows", last.metrics.get("n", 0)))
    grown = known - trained
    due = grown >= GROWTH_SIGNALS or (trained > 0 and grown >= GROWTH * trained) \
        or (trained == 0 and known > 0)
    share = f" (+{grown / trained:.0%})" if trained else ""
    reason = (f"{known} signals with a known outcome, {grown:+d}{share} since model "
              f"{last.model_id} learned from {trained}")
    return Due(due, reason + ("" if due else f"; retrain at +{GROWTH:.0%} or +{GROWTH_SIGNALS}"),
               known, trained)


def _only(card) -> str | None:
    if card is None:
        return None
    symbols = card.dataset.get("symbols") or [card.dataset.get("symbol")]
    return symbols[0] if len(symbols) == 1 else None


# ------------------------------------------------------------------------------ helpers

def _tell(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), message)


def _scaled(progress: Progress | None, low: float, high: float) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction, message: progress(low + (high - low) * fraction, message)


def _number(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


# ------------------------------------------------------------------------------ the Learning page

def latest_card(settings, setup_id: str, version: int):
    """The card the Learning page judges a setup version by: your champion, else your newest
    model of it (a challenger), else None (never trained)."""
    from engine.learn.registry import champion, list_models

    current = champion(settings, setup_id, int(version))
    if current is not None:
        return current
    mine = [c for c in list_models(settings, setup_id)
            if c.setup_version == int(version) and c.analyst == settings.analyst]
    return mine[-1] if mine else None


def early_verdict(dataset, *, folds: int = 5):
    """The "not yet — N signals, need more" evaluation of a dataset too small for a walk-forward
    test, else None. Cheap: it fits no model (the Learning page asks it on every open)."""
    from engine.learn.model import MIN_TRAIN, _embargo, _inputs, _too_few, _why_not
    from engine.learn.splits import walk_forward_splits

    frame, _, y = _inputs(dataset)
    try:
        walk_forward_splits(frame["known_at"], frame["outcome_at"], folds=folds,
                            embargo=_embargo(frame), min_train=MIN_TRAIN)
    except DataError as exc:
        return _too_few(y, _why_not(y, folds, str(exc)))
    if len(y) and int(y.sum()) in (0, len(y)):
        return _too_few(y, _why_not(y, folds, None))
    return None


def signal_story(model, dataset, signal_id: str, *, top: int = 3, k: int = 10):
    """One signal of `dataset` told by `model`: (its row, the explanation, its `k` most similar
    past cases) — `explain_signal` and `similar_signals` on a dataset already at hand."""
    from engine.learn.explain import explain, feature_weights, similar, typical_values

    row = signal_row(dataset, signal_id)
    explanation = explain(model, row, top=top,
                          typical=typical_values(dataset.frame, model.features))
    cases = similar(dataset, row, k=k, weights=feature_weights(model, dataset.frame))
    return row, explanation, cases
