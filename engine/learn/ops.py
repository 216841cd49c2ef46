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

**Pooled models.** A version whose own dataset is too small for a walk-forward test
(`too_few`) is trained in the pool (`learn_pool`): the datasets of every setup's active
version as one (`pooled_dataset`: ``setup_<id>`` 0/1 columns, each setup's features NaN where
another lacks them), evaluated walk-forward on the pooled signals and trained once, then saved
for **each** member with too few signals of its own (not for a version with its own champion:
pooling never replaces it), its card's ``dataset["pool"]`` naming the members and their signal
counts and its verdict both counts (`pooled_verdict`). `learn_all` (``ita learn train --all``)
trains each version with enough signals alone and the pool once. `aligned` gives a member's
own dataset the pooled model's columns; `pool_of` is the pooled dataset stored beside the
model (similar cases: the setup's own first, the pool's when it has fewer than k earlier ones).
`pool_due` is the pool's retrain trigger (the daemon submits one job for the whole pool).

`due_for_training` is the retrain trigger: yes when the setup version has gained at least 20 %
more known outcomes (or 50 signals) since the model it was last trained into; each new trader's
label on one of its signals counts as a new outcome. A version never trained is due once it has
enough signals for a walk-forward test (`engine.learn.splits.minimum_signals`). `inputs_state`
is the cheap fingerprint of what the trigger reads (the daemon's retrain loop,
`engine.learn.retrain`, builds a dataset only when it changed).
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
    pool: tuple[str, ...] = ()  # a pooled model: every setup version of the pool

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
        if self.pool:
            result["pooled"] = list(self.pool)
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
    labels: int = 0  # the trader's labels on signals added since (count as new outcomes)


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
            "labelled": sum(int(m.get("labelled", 0)) for m in metas), "dropped": dropped,
            "pooled": metas}
    frame = pooled.frame.drop(columns=constant)
    return Dataset(frame, features, meta)


def learn(settings, setup_ref: str, *, symbol: str | None = None, start=None, end=None,
          folds: int = 5, trees: int = 200, seed: int = 0, pool: bool = True,
          progress: Progress | None = None) -> LearnResult:
    """Dataset, walk-forward evaluation, training, registry and champion/challenger for one
    setup version (module docstring). When the version has too few signals of its own for a
    walk-forward test (and `pool`, on all its symbols), the pooled model of every active setup
    version is trained instead (`learn_pool`) and this version's result returned."""
    began = time.perf_counter()
    dataset = dataset_for(settings, setup_ref, symbol=symbol, start=start, end=end,
                          progress=_scaled(progress, 0.0, 0.2))
    poolable = pool and symbol is None and len(dataset.frame) > 0
    result = None
    if not (poolable and too_few(dataset, folds=folds)):
        result = learn_dataset(settings, dataset, folds=folds, trees=trees, seed=seed,
                               progress=_scaled(progress, 0.2, 1.0), began=began)
        if result.trained or not poolable:
            return result
    ref = _ref(dataset.meta)
    pooled = learn_pool(settings, datasets={ref: dataset}, start=start, end=end, folds=folds,
                        trees=trees, seed=seed, progress=_scaled(progress, 0.2, 1.0))
    mine = pooled.results.get(ref)
    if mine is None:  # it has its own champion: pooling never replaces it
        return result or learn_dataset(settings, dataset, folds=folds, trees=trees, seed=seed,
                                       began=began)
    return dataclasses.replace(mine, seconds=time.perf_counter() - began)


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


def _decide(settings, card, current, dataset, evaluation, memo: dict | None = None):
    """Champion or challenger (module docstring, step 5). `memo`: the champions' recipes
    evaluated again on this dataset, kept across calls on one dataset (a pool's members)."""
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
    recipe = (int(params.get("folds", 5)), int(params.get("trees", 200)),
              int(params.get("seed", 0)))
    memo = {} if memo is None else memo
    if recipe not in memo:
        memo[recipe] = evaluate(dataset, folds=recipe[0], trees=recipe[1], seed=recipe[2])
    again = memo[recipe]
    return consider(settings, card, champion_evaluation=again) if again.n else \
        consider(settings, card)


def _recipe(card) -> tuple:
    params = {k: v for k, v in card.params.items() if k not in _RECIPE_VOLATILE}
    return tuple(card.features), tuple(sorted((k, repr(v)) for k, v in params.items())), \
        card.dataset.get("rule_hash"), card.dataset.get("feature_set")


# ------------------------------------------------------------------------------ pooled models

@dataclasses.dataclass(frozen=True)
class PoolResult:
    """What one `learn_pool` did: the setup versions pooled (their signal counts), the pooled
    evaluation, and one `LearnResult` per member version that had too few signals of its own
    (the pooled model registered for it); members skipped and why."""

    members: dict[str, int]  # setup@version -> its own signals with a known outcome
    evaluation: object | None  # the pooled walk-forward evaluation (None: nothing to pool)
    results: dict[str, LearnResult]  # the small members
    skipped: dict[str, str]  # setup@version -> why it is not in the pool

    @property
    def rows(self) -> int:
        return sum(self.members.values())


def _ref(meta: dict) -> str:
    return f"{meta.get('setup_id')}@{int(meta.get('setup_version', 0))}"


def active_refs(settings) -> list[str]:
    """``setup@version`` of every setup's active version, sorted by setup id."""
    from engine.setups.store import SetupStore

    store = SetupStore.from_settings(settings)
    return [f"{setup_id}@{store.active(setup_id)}" for setup_id in sorted(store.ids())
            if store.active(setup_id)]


def too_few(dataset, *, folds: int = 5) -> bool:
    """Whether a dataset is too small for a walk-forward test of its own (`early_verdict`)."""
    return early_verdict(dataset, folds=folds) is not None


def is_pooled(card) -> bool:
    """Whether a model card is a pooled model's (trained on several setups' signals)."""
    return card is not None and bool((card.dataset.get("pool") or {}).get("members"))


def pooled_verdict(members: dict[str, int], own: int, verdict: str) -> str:
    """The honest verdict of a pooled model for one member, in words: the pool's and this
    setup's own signals."""
    rows = sum(members.values())
    verdict = verdict.replace("under this setup", "under these setups")
    return (f"pooled over {len(members)} setups ({rows:,} signals): {verdict}; this setup's "
            f"own {own:,} signal{'s' if own != 1 else ''} "
            f"{'are' if own != 1 else 'is'} too few to judge alone")


def _pool_datasets(settings, datasets: dict | None, *, start, end, folds: int,
                   progress: Progress | None) -> tuple[dict, dict, dict[str, str]]:
    """(every member's dataset, the small ones, skipped members and why): the active version
    of every setup (a dataset given for another version of a setup replaces its active one)."""
    given = dict(datasets or {})
    setups = {ref.rsplit("@", 1)[0] for ref in given}
    refs = sorted({*given, *(r for r in (active_refs(settings) if settings else [])
                             if r.rsplit("@", 1)[0] not in setups)})
    members, skipped = {}, {}
    for i, ref in enumerate(refs):
        _tell(progress, i / max(len(refs), 1), f"pool: dataset of {ref} ({i + 1}/{len(refs)})")
        try:
            dataset = given[ref] if ref in given else dataset_for(settings, ref, start=start,
                                                                  end=end)
        except ItaError as error:
            skipped[ref] = str(error)
            continue
        if not len(dataset.frame):
            skipped[ref] = "no signal with a known outcome"
            continue
        members[ref] = dataset
    small = {ref: d for ref, d in members.items() if too_few(d, folds=folds)
             and not _own_champion(settings, ref)}
    return members, small, skipped


def _own_champion(settings, ref: str) -> bool:
    from engine.learn.registry import champion

    if settings is None:
        return False
    setup_id, version = ref.rsplit("@", 1)
    current = champion(settings, setup_id, int(version))
    return current is not None and not is_pooled(current)


def pooled_dataset(members: dict):
    """The pooled dataset of `members` (ref -> Dataset, pooled in ref order): every setup's
    features (NaN where a setup lacks one), ``setup_<id>`` 0/1 per setup, sorted by
    ``known_at``; its meta names the pool."""
    from engine.learn.dataset import pool_datasets

    ordered = [members[ref] for ref in sorted(members)]
    pooled = pool_datasets(ordered)
    digest = hashlib.sha256("|".join(f"{ref}:{members[ref].meta.get('data_hash')}"
                                     for ref in sorted(members)).encode())
    pool = {"members": sorted(members),
            "signals": {ref: len(members[ref].frame) for ref in sorted(members)},
            "rows": len(pooled.frame), "positives": int(pooled.frame["hit_target"].sum()),
            "labelled": sum(int(d.meta.get("labelled", 0)) for d in ordered),
            "data_hash": digest.hexdigest()[:16]}
    meta = {**{k: v for k, v in pooled.meta.items() if k != "pooled"}, "pool": pool}
    return dataclasses.replace(pooled, meta=meta)


def learn_pool(settings, *, datasets: dict | None = None, start=None, end=None,
               folds: int = 5, trees: int = 200, seed: int = 0,
               progress: Progress | None = None) -> PoolResult:
    """One model on the pooled signals of every active setup version (`datasets`: ref ->
    dataset already built; the others are built), evaluated walk-forward on the pooled signals
    with the same purged splits, trained once, and registered for **each** member version with
    too few signals of its own (a version with its own champion keeps it): its card records the
    pool (``dataset["pool"]``: members and their signal counts) and a verdict naming both."""
    from engine.learn.dataset import save_dataset
    from engine.learn.model import evaluate, train
    from engine.learn.registry import champion, save_model

    members, small, skipped = _pool_datasets(settings, datasets, start=start, end=end,
                                             folds=folds, progress=_scaled(progress, 0.0, 0.3))
    if not small:
        return PoolResult({r: len(d.frame) for r, d in members.items()}, None, {}, skipped)
    pooled = pooled_dataset(members)
    counts = pooled.meta["pool"]["signals"]
    began = time.perf_counter()
    _tell(progress, 0.3, f"pooled walk-forward evaluation: {len(pooled.frame)} signals of "
                         f"{len(members)} setups")
    evaluation = evaluate(pooled, folds=folds, trees=trees, seed=seed)
    results: dict[str, LearnResult] = {}
    model, memo = None, {}
    if evaluation.n:
        _tell(progress, 0.6, f"training the pooled model on {len(pooled.frame)} signals")
        model = train(pooled, trees=trees, seed=seed, folds=folds)
    for i, (ref, own) in enumerate(sorted(small.items())):
        mine = dataclasses.replace(evaluation, verdict=pooled_verdict(counts, len(own.frame),
                                                                      evaluation.verdict))
        meta = {**own.meta, "pool": pooled.meta["pool"], "feature_set": pooled.meta.get(
            "feature_set", own.meta.get("feature_set"))}
        if model is None:
            results[ref] = LearnResult(meta, mine, None, None, None,
                                       time.perf_counter() - began, tuple(counts))
            continue
        _tell(progress, 0.85 + 0.15 * i / len(small), f"registering the pooled model for {ref}")
        card = save_model(settings, model, mine, meta)
        path = card.path / DATASET_FILE
        if not path.is_file():
            save_dataset(pooled, path)
        current = champion(settings, card.setup_id, card.setup_version)
        decision = _decide(settings, card, current, pooled, mine, memo)
        results[ref] = LearnResult(meta, mine, decision.card, decision, path,
                                   time.perf_counter() - began, tuple(counts))
    _tell(progress, 1.0, f"pooled over {len(members)} setups: {evaluation.verdict}")
    return PoolResult(counts, evaluation, results, skipped)


def learn_all(settings, *, start=None, end=None, folds: int = 5, trees: int = 200,
              seed: int = 0, progress: Progress | None = None) -> dict[str, object]:
    """`learn` on every setup's active version: each with enough signals of its own gets its
    own model; the ones with too few share **one** pooled model (`learn_pool`, trained once).
    Returns ref -> `LearnResult`, or the `ItaError` that stopped that version."""
    refs = active_refs(settings)
    out: dict[str, object] = {}
    datasets = {}
    for i, ref in enumerate(refs):
        step = _scaled(progress, 0.6 * i / max(len(refs), 1), 0.6 * (i + 1) / max(len(refs), 1))
        try:
            dataset = dataset_for(settings, ref, start=start, end=end)
            datasets[ref] = dataset
            out[ref] = learn_dataset(settings, dataset, folds=folds, trees=trees, seed=seed,
                                     progress=_scaled(step, 0.0, 1.0))
        except ItaError as error:
            out[ref] = error
    if any(isinstance(r, LearnResult) and not r.trained for r in out.values()):
        pooled = learn_pool(settings, datasets=datasets, start=start, end=end, folds=folds,
                            trees=trees, seed=seed, progress=_scaled(progress, 0.6, 1.0))
        out.update(pooled.results)
    _tell(progress, 1.0, "done")
    return out


def aligned(dataset, features):
    """`dataset` with the columns a pooled model needs that it lacks: ``setup_<id>`` 1 for its
    own setup, 0 for the others; NaN for another setup's features."""
    frame = dataset.frame
    missing = [name for name in features if name not in frame.columns]
    if not missing:
        return dataset
    setup_id = str(dataset.meta.get("setup_id", ""))
    extra = {name: (float(name == f"setup_{setup_id}") if name.startswith("setup_") else np.nan)
             for name in missing}
    frame = frame.assign(**extra)
    features = (*dataset.features, *(n for n in missing if n not in dataset.features))
    return dataclasses.replace(dataset, frame=frame, features=tuple(features))


def pool_due(settings, *, datasets: dict | None = None, folds: int = 5) -> tuple[Due, str | None]:
    """The retrain trigger of the pool as a whole: (due, the member whose ``learn`` job trains
    it). Due when a setup version with too few signals has no pooled model yet, the pool's
    members changed, or the pool's known outcomes (plus new labels) grew by 20 % or 50 since
    its pooled model learned."""
    from engine.learn.model import MIN_TRAIN
    from engine.learn.splits import minimum_signals

    members, small, _ = _pool_datasets(settings, datasets, start=None, end=None, folds=folds,
                                       progress=None)
    known = sum(len(d.frame) for d in members.values())
    labelled = sum(int(d.meta.get("labelled", 0)) for d in members.values())
    if not small:
        return Due(False, "no setup version with too few signals of its own", known, 0), None
    first = sorted(small)[0]
    needed = minimum_signals(folds=folds, min_train=MIN_TRAIN)
    if known < needed:
        return Due(False, f"the pool of {len(members)} setups has {known} signals, {needed} "
                          "needed for a walk-forward test", known, 0), None
    trained = None
    for ref in sorted(small):
        setup_id, version = ref.rsplit("@", 1)
        card = latest_card(settings, setup_id, int(version))
        if not is_pooled(card):
            return Due(True, f"{ref} has no pooled model yet; the pool holds {known} signals "
                             f"of {len(members)} setups", known, 0), first
        pool = card.dataset["pool"]
        if sorted(pool["members"]) != sorted(members):
            return Due(True, f"the pool changed: {', '.join(sorted(members))} (was "
                             f"{', '.join(pool['members'])})", known, int(pool["rows"])), first
        trained = min(int(pool["rows"]), trained if trained is not None else int(pool["rows"]))
        labels = max(labelled - int(pool.get("labelled", 0)), 0)
    grown = known - trained + labels
    due = grown >= GROWTH_SIGNALS or (trained > 0 and grown >= GROWTH * trained)
    reason = (f"the pool of {len(members)} setups: {known} signals, {grown:+d} since its model "
              f"learned from {trained}")
    return Due(due, reason + ("" if due else f"; retrain at +{GROWTH:.0%} or +{GROWTH_SIGNALS}"),
               known, trained, labels), (first if due else None)


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
    pool = pool_of(card)
    cases = dataset if pool is None else pool
    weights = feature_weights(model, cases.frame)
    return similar(cases, row, k=k, weights=weights, fallback=pool is not None), row, card


def pool_of(card):
    """The pooled dataset a pooled model learned from (stored beside it), else None: a pooled
    model's similar cases come from its own setup's signals, or from the whole pool when the
    setup has fewer than k."""
    from engine.learn.dataset import load_dataset

    if not is_pooled(card) or card.path is None or not (card.path / DATASET_FILE).is_file():
        return None
    return load_dataset(card.path / DATASET_FILE)


def _fresh(settings, setup_ref: str, card):
    symbols = card.dataset.get("symbols") or [card.dataset.get("symbol")]
    dataset = dataset_for(settings, setup_ref, symbol=symbols[0] if len(symbols) == 1 else None)
    if is_pooled(card):
        dataset = aligned(dataset, card.features)
    missing = [f for f in card.features if f not in dataset.frame.columns]
    if missing:
        raise LearnError(f"champion {card.model_id} of {card.ref} needs feature(s) "
                         f"{', '.join(missing[:3])} the dataset no longer has (feature set "
                         f"{dataset.meta.get('feature_set')}): retrain it: ita learn train "
                         f"{setup_ref}")
    return dataset


# ------------------------------------------------------------------------------ retraining

def due_for_training(settings, setup_id: str, version: int, *, dataset=None) -> Due:
    """Whether `setup_id@version` should be retrained: never trained and enough signals for a
    walk-forward test, or its known outcomes (plus the trader's new labels on its signals) grew
    by at least 20 % (or 50) since the champion's training (the latest model's when no champion
    was chosen). `dataset`: the fresh dataset, if the caller has it already."""
    from engine.learn.model import MIN_TRAIN
    from engine.learn.registry import champion, list_models
    from engine.learn.splits import minimum_signals

    last = champion(settings, setup_id, version)
    if last is None:
        mine = [c for c in list_models(settings, setup_id)
                if c.setup_version == int(version) and c.analyst == settings.analyst]
        last = mine[-1] if mine else None
    if dataset is None:
        dataset = dataset_for(settings, f"{setup_id}@{int(version)}", symbol=_only(last))
    known = len(dataset.frame)
    labelled = int(dataset.meta.get("labelled", 0))
    if is_pooled(last):
        return _due_pooled(last, known, labelled)
    if last is None:
        needed = minimum_signals(min_train=MIN_TRAIN)
        reason = (f"never trained; {known} signals with a known outcome"
                  + ("" if known >= needed else f", {needed} needed for a walk-forward test")
                  if known else "no signal with a known outcome yet")
        return Due(known >= needed, reason, known, 0, labelled)
    trained = int(last.params.get("rows", last.metrics.get("n", 0)))
    labels = max(labelled - int(last.dataset.get("labelled", 0)), 0)
    grown = known - trained + labels
    due = grown >= GROWTH_SIGNALS or (trained > 0 and grown >= GROWTH * trained) \
        or (trained == 0 and known > 0)
    share = f" (+{grown / trained:.0%})" if trained else ""
    reason = (f"{known} signals with a known outcome"
              + (f" and {labels} new label{'s' if labels != 1 else ''} of yours" if labels else "")
              + f", {grown:+d}{share} since model {last.model_id} learned from {trained}")
    return Due(due, reason + ("" if due else f"; retrain at +{GROWTH:.0%} or +{GROWTH_SIGNALS}"),
               known, trained, labels)


def _due_pooled(card, known: int, labelled: int) -> Due:
    """A version whose model is a pooled one: due for a model of its own once it has enough
    signals for a walk-forward test; otherwise the pool is checked as a whole (`pool_due`)."""
    from engine.learn.model import MIN_TRAIN
    from engine.learn.splits import minimum_signals

    needed = minimum_signals(min_train=MIN_TRAIN)
    pool = card.dataset["pool"]
    if known >= needed:
        return Due(True, f"{known} signals with a known outcome: enough for a model of its own "
                         f"(it has the pooled model {card.model_id})", known, 0, labelled)
    return Due(False, f"{known} signals of its own ({needed} needed alone); it uses the pooled "
                      f"model {card.model_id} of {len(pool['members'])} setups, which is checked "
                      "as a whole", known, int(pool.get("rows", 0)), labelled)


def inputs_state(settings, setup_id: str, version: int) -> str:
    """A short fingerprint of everything `due_for_training` reads for `setup_id@version`: the
    version's file, the stored candles of its symbols (every source and timeframe: live bars
    land there, and with them the outcomes of live signals), the analyst's journal and labels,
    and the version's models. File names, sizes and modification times only: no file is read,
    so a check costs a few `stat` calls."""
    from engine.adapters.journal import journal_dir
    from engine.ids import symbol_file_name
    from engine.learn.labels import labels_dir
    from engine.learn.registry import _version_dir
    from engine.setups.store import SetupStore

    store = SetupStore.from_settings(settings)
    loaded = store.load(setup_id, int(version))
    paths = [store.version_path(setup_id, int(version))]
    for symbol in loaded.setup.market.symbols:
        name = symbol_file_name(symbol, error=DataError)
        paths += sorted(settings.candles_dir.glob(f"*/{name}/*.parquet"))  # not their locks
    for folder in (journal_dir(settings), labels_dir(settings)):
        paths += sorted(p for p in folder.glob("*.yaml") if not p.name.startswith(".")) \
            if folder.is_dir() else []
    models = _version_dir(settings, settings.analyst, setup_id, int(version))
    paths += sorted(models.iterdir()) if models.is_dir() else []
    digest = hashlib.sha256(loaded.hash.encode())
    for path in paths:
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile: the next check sees the new state
            continue
        digest.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


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


def signal_story(model, dataset, signal_id: str, *, top: int = 3, k: int = 10, pool=None,
                 weights: dict | None = None):
    """One signal of `dataset` told by `model`: (its row, the explanation, its `k` most similar
    past cases) — `explain_signal` and `similar_signals` on a dataset already at hand. A pooled
    model: `dataset` is aligned to its features, and `pool` (`pool_of` its card) is where the
    similar cases come from (the setup's own first, the whole pool when it has fewer than k).
    `weights`: `feature_weights(model, <the cases' frame>)` when the caller keeps it (it costs
    more than the rest of the story; the Learning page computes it once per model)."""
    from engine.learn.explain import explain, feature_weights, similar, typical_values

    dataset = aligned(dataset, model.features)
    row = signal_row(dataset, signal_id)
    explanation = explain(model, row, top=top,
                          typical=typical_values(dataset.frame, model.features))
    cases = dataset if pool is None else pool
    if weights is None:
        weights = feature_weights(model, cases.frame)
    found = similar(cases, row, k=k, weights=weights, fallback=pool is not None)
    return row, explanation, found
