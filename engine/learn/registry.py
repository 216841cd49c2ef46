"""The model registry: trained models of a setup version in the shared folder, and which one is
the champion.

    shared_kb/analysts/<analyst>/models/<setup_id>/v<0003>/
      <model_id>/model.ubj         the XGBoost booster, exactly the bytes `train` produced
      <model_id>/calibrator.json   the calibration map as numbers (isotonic knots or Platt
                                   coefficients: `Calibrator.to_dict`), never a pickle
      <model_id>/features.json     the feature columns, in the order the booster expects
      <model_id>/card.json         setup id and version, rule hash, symbol, timeframe, data range
                                   and hash, feature set, training parameters, trained_at and the
                                   walk-forward numbers (AUC with its interval, Brier, log loss,
                                   baselines, verdict, calibration and threshold curves)
      <model_id>/decision.json     the champion/challenger decision and its reason, in words
      champion.json                the pointer: which model is this analyst's champion

Rules a trader can rely on:

- **One writer.** Only the analyst who trained a model writes its folder, and the champion
  pointer lives in the analyst's own folder: two analysts syncing the shared folder never write
  one file. `list_models` shows every analyst's models; `champion` reads your own pointer.
- **Reproducible.** The model id is a short hash of the booster bytes, the calibrator, the
  features, the parameters, the dataset's description and the evaluation numbers (not the
  training time): the same inputs give the same id and the same file bytes, and saving the same
  model again changes nothing.
- **Never half-written.** A model folder is written under a hidden temporary name and renamed
  when complete; the champion pointer is written last and atomically. A crash at any moment
  leaves the old champion in place.
- **Champion / challenger.** `consider` makes a new model the champion only if it is better
  than chance (its AUC interval's lower bound is above 0.5) and, on the same walk-forward splits,
  both its AUC and its expected R above its chosen probability threshold beat the champion's.
  Otherwise it stays a challenger and the decision says why. Splits are "the same" when both
  models were evaluated on the same signals in the same folds (a fingerprint of the
  out-of-fold table); when they differ, the caller re-evaluates the champion's parameters on the
  new dataset and passes that evaluation (`champion_evaluation=`).
- The chosen threshold is the probability threshold whose kept trades made the most total R out
  of sample, among thresholds that keep at least `MIN_TRADES` trades.

>>> card = save_model(settings, model, evaluation, dataset.meta)  # doctest: +SKIP
>>> consider(settings, card).reason  # doctest: +SKIP
'first model of london-fvg@3 that is better than chance: AUC 0.58 [0.53, 0.63]'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine._io import atomic_dir, write_json_atomic
from engine.errors import ItaError
from engine.ids import checked_id
from engine.kb.shared import ANALYSTS, analyst_dir

MODELS = "models"
POINTER = "champion.json"
CARD = "card.json"
DECISION = "decision.json"
BOOSTER = "model.ubj"
CALIBRATOR = "calibrator.json"
FEATURES = "features.json"
MIN_TRADES = 20
CARD_SCHEMA = 1


class RegistryError(ItaError):
    """A model cannot be saved, found or promoted; the message names the model or setup."""


# ------------------------------------------------------------------------------ calibrators

def calibrator_to_json(calibrator: object | None) -> dict[str, Any]:
    """The calibrator as plain numbers: its own ``to_dict()`` (engine.learn.model.Calibrator:
    isotonic knots or Platt coefficients), or ``{"kind": "none"}`` for an uncalibrated model."""
    if calibrator is None:
        return {"kind": "none"}
    to_dict = getattr(calibrator, "to_dict", None)
    if to_dict is None:
        raise RegistryError(f"calibrator {type(calibrator).__name__}: cannot be stored as "
                            "numbers (it has no to_dict)")
    return _plain(to_dict())


def calibrator_from_json(data: dict[str, Any]):
    """The inverse of `calibrator_to_json`."""
    if data.get("kind") == "none":
        return None
    from engine.learn.model import Calibrator

    return Calibrator.from_dict(data)


# ------------------------------------------------------------------------------ cards

@dataclass(frozen=True)
class ModelCard:
    """What a trader and the app need to know about one stored model."""

    model_id: str
    analyst: str
    setup_id: str
    setup_version: int
    features: tuple[str, ...]
    trained_at: str  # ISO UTC
    metrics: dict[str, Any]  # n, positives, folds, auc, auc_low, auc_high, brier, log_loss,
    #                          baselines, better_than_chance, verdict, threshold, expected_r,
    #                          trades_kept, splits, calibration, thresholds
    dataset: dict[str, Any]  # the dataset's meta: rule hash, symbol, timeframe, range, hash, ...
    params: dict[str, Any]
    path: Path | None = field(default=None, compare=False)
    status: str = field(default="new", compare=False)  # "champion" | "challenger" | "new"
    reason: str = field(default="", compare=False)

    @property
    def ref(self) -> str:
        return f"{self.setup_id}@{self.setup_version}"

    @property
    def auc(self) -> float:
        return float(self.metrics["auc"])

    @property
    def expected_r(self) -> float:
        return float(self.metrics["expected_r"])

    @property
    def better_than_chance(self) -> bool:
        return bool(self.metrics["better_than_chance"])

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for transient in ("path", "status", "reason"):
            data.pop(transient)
        data["features"] = list(self.features)
        data["schema_version"] = CARD_SCHEMA
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, path: Path | None = None) -> ModelCard:
        return cls(model_id=data["model_id"], analyst=data["analyst"],
                   setup_id=data["setup_id"], setup_version=int(data["setup_version"]),
                   features=tuple(data["features"]), trained_at=data["trained_at"],
                   metrics=data["metrics"], dataset=data["dataset"], params=data["params"],
                   path=path)


@dataclass(frozen=True)
class Decision:
    """The outcome of `consider`: promoted or kept as a challenger, and why, in words."""

    promoted: bool
    reason: str
    card: ModelCard
    champion: ModelCard | None  # the champion it was compared with (the old one if promoted)


def choose_threshold(thresholds: pd.DataFrame, *, min_trades: int = MIN_TRADES) -> dict:
    """The threshold row whose kept trades made the most total R out of sample, among rows
    keeping at least `min_trades` trades (ties: the lower threshold); all zeros if none does."""
    if thresholds is None or len(thresholds) == 0:
        return {"threshold": 0.0, "expected_r": 0.0, "trades_kept": 0}
    rows = thresholds[thresholds["trades"] >= min_trades].sort_values("threshold", kind="stable")
    if rows.empty:
        return {"threshold": 0.0, "expected_r": 0.0, "trades_kept": 0}
    best = rows.iloc[int(np.argmax(rows["total_r"].to_numpy(dtype="float64")))]
    return {"threshold": float(best["threshold"]), "expected_r": float(best["expected_r"]),
            "trades_kept": int(best["trades"])}


def splits_fingerprint(oof: pd.DataFrame) -> str:
    """A short hash of which signal was tested in which fold: equal for two evaluations on the
    same walk-forward splits."""
    pairs = sorted(zip(oof["signal_id"].astype(str), oof["fold"].astype(int), strict=True))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


def evaluation_numbers(evaluation) -> dict[str, Any]:
    """The walk-forward numbers of an `Evaluation` as plain JSON values."""
    numbers = {name: _plain(getattr(evaluation, name)) for name in
               ("n", "positives", "folds", "auc", "auc_low", "auc_high", "brier", "log_loss",
                "better_than_chance", "verdict")}
    numbers["baselines"] = _plain(evaluation.baselines)
    numbers.update(choose_threshold(evaluation.thresholds))
    numbers["splits"] = splits_fingerprint(evaluation.oof)
    numbers["calibration"] = _records(evaluation.calibration)
    numbers["thresholds"] = _records(evaluation.thresholds)
    return numbers


# ------------------------------------------------------------------------------ saving

def save_model(settings, model, evaluation, dataset_meta: dict) -> ModelCard:
    """Store `model` with its evaluation in the analyst's registry and return its card. Saving
    the same model again returns the stored card and writes nothing."""
    analyst = checked_id(settings.analyst, what="analyst name", error=RegistryError)
    setup_id, version = _setup_of(dataset_meta)
    calibrator = calibrator_to_json(model.calibrator)
    features = [str(name) for name in model.features]
    params = _plain(dict(model.params))
    dataset = _plain(dict(dataset_meta))
    metrics = evaluation_numbers(evaluation)
    identity = {"analyst": analyst, "calibrator": calibrator, "features": features,
                "params": params, "dataset": dataset, "metrics": metrics}
    digest = hashlib.sha256(bytes(model.booster_bytes))
    digest.update(_canonical(identity))
    model_id = digest.hexdigest()[:12]
    folder = _version_dir(settings, analyst, setup_id, version) / model_id
    if (folder / CARD).is_file():
        return _read_card(folder, settings)
    card = ModelCard(model_id=model_id, analyst=analyst, setup_id=setup_id,
                     setup_version=version, features=tuple(features), trained_at=_now(),
                     metrics=metrics, dataset=dataset, params=params)
    with atomic_dir(folder) as tmp:
        (tmp / BOOSTER).write_bytes(bytes(model.booster_bytes))
        (tmp / CALIBRATOR).write_bytes(_pretty(calibrator))
        (tmp / FEATURES).write_bytes(_pretty(features))
        (tmp / CARD).write_bytes(_pretty(card.to_json()))
    return dataclasses.replace(card, path=folder)


# ------------------------------------------------------------------------------ reading

def list_models(settings, setup_id: str | None = None) -> list[ModelCard]:
    """Every stored model (of every analyst in the shared folder), optionally of one setup,
    sorted by setup, version and training time; `status` and `reason` are filled in from your
    champion pointers and the stored decisions."""
    return sorted((card for card in _scan(settings, setup_id) if isinstance(card, ModelCard)),
                  key=lambda c: (c.setup_id, c.setup_version, c.trained_at, c.model_id))


def unreadable_models(settings) -> list[str]:
    """One line per model folder whose card cannot be read (a half-synced or damaged copy from
    the shared folder); `list_models` leaves those out rather than failing on them."""
    return [str(item) for item in _scan(settings, None) if not isinstance(item, ModelCard)]


def _scan(settings, setup_id: str | None) -> list[ModelCard | RegistryError]:
    root = settings.shared_kb_dir / ANALYSTS
    if setup_id:
        setup_id = checked_id(setup_id, what="setup id", error=RegistryError)
    pattern = f"*/{MODELS}/{setup_id or '*'}/v*/*/{CARD}"
    found: list[ModelCard | RegistryError] = []
    for path in sorted(root.glob(pattern)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # a folder still being written
        try:
            found.append(_read_card(path.parent, settings))
        except RegistryError as error:
            found.append(error)
    return found


def find_model(settings, model_id: str) -> ModelCard:
    """The card of `model_id` (its full id or a unique prefix of at least 4 characters)."""
    wanted = str(model_id).strip()
    matches = [c for c in list_models(settings) if c.model_id.startswith(wanted)] \
        if len(wanted) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(c.model_id for c in list_models(settings)[-5:]) or "none yet"
        raise RegistryError(f"model {wanted!r}: no such model (latest: {known})")
    raise RegistryError(f"model {wanted!r}: matches {len(matches)} models — give more of its id")


def load_model(settings, model_id: str):
    """The stored model as a `TrainedModel` (same probabilities as when it was saved) and its
    card."""
    from engine.learn.model import TrainedModel

    card = find_model(settings, model_id)
    folder = card.path
    features = json.loads((folder / FEATURES).read_text(encoding="utf-8"))
    calibrator = calibrator_from_json(json.loads((folder / CALIBRATOR).read_text("utf-8")))
    model = TrainedModel(features=tuple(features), booster_bytes=(folder / BOOSTER).read_bytes(),
                         calibrator=calibrator, params=dict(card.params))
    return model, card


def champion(settings, setup_id: str, version: int) -> ModelCard | None:
    """Your champion model of ``setup_id@version``, or None when there is none yet."""
    analyst = checked_id(settings.analyst, what="analyst name", error=RegistryError)
    pointer = _version_dir(settings, analyst, setup_id, int(version)) / POINTER
    if not pointer.is_file():
        return None
    data = json.loads(pointer.read_text(encoding="utf-8"))
    owner = checked_id(data.get("analyst"), what=f"{pointer}: analyst", error=RegistryError)
    model_id = checked_id(data.get("model_id"), what=f"{pointer}: model id", error=RegistryError)
    folder = (settings.shared_kb_dir / ANALYSTS / owner / MODELS / setup_id
              / _version_name(int(version)) / model_id)
    if not (folder / CARD).is_file():
        raise RegistryError(f"{pointer}: names model {data['model_id']!r}, which is not in the "
                            "shared folder (not synced yet?)")
    return _read_card(folder, settings)


# ------------------------------------------------------------------------------ deciding

def consider(settings, card: ModelCard, *, champion_evaluation=None) -> Decision:
    """Promote `card` if it beats the champion (module docstring), else keep it as a challenger;
    the decision and its reason are stored beside the model, the pointer last."""
    current = champion(settings, card.setup_id, card.setup_version)
    promoted, reason = _judge(card, current, champion_evaluation)
    if current is not None and (current.model_id, current.analyst) == (card.model_id,
                                                                        card.analyst):
        return Decision(promoted=False, reason="already the champion", card=current,
                        champion=current)
    if card.analyst == settings.analyst:  # another analyst's folder is theirs to write
        _write_decision(card, promoted, reason)
    if promoted:
        _write_pointer(settings, card, reason)
    return Decision(promoted=promoted, reason=reason, card=_reread(settings, card),
                    champion=current)


def promote(settings, model_id: str, *, reason: str = "promoted by hand") -> None:
    """Make `model_id` your champion of its setup version, whatever its numbers (the trader's
    own choice, e.g. `ita models promote`)."""
    card = find_model(settings, model_id)
    if card.analyst == settings.analyst:  # another analyst's folder is theirs to write
        _write_decision(card, True, reason)
    _write_pointer(settings, card, reason)


def _judge(card: ModelCard, current: ModelCard | None, champion_evaluation) -> tuple[bool, str]:
    numbers = card.metrics
    if not card.better_than_chance:
        measured = (f"AUC {_auc_text(numbers)} on {numbers['n']} signals"
                    if numbers.get("auc") is not None else str(numbers.get("verdict", "")))
        return False, (f"not better than chance: {measured} — "
                       f"{'the champion stays' if current else 'no champion yet'}")
    if current is None:
        return True, (f"first model of {card.ref} that is better than chance: AUC "
                      f"{_auc_text(numbers)}")
    theirs = current.metrics
    if champion_evaluation is not None:
        theirs = evaluation_numbers(champion_evaluation)
    if theirs["splits"] != numbers["splits"]:
        return False, (f"the champion {current.model_id} was evaluated on other splits "
                       f"({theirs['n']} signals vs {numbers['n']}): re-evaluate it on this "
                       "dataset to compare")
    auc_better = numbers["auc"] > theirs["auc"]
    r_better = numbers["expected_r"] > theirs["expected_r"]
    comparison = (f"AUC {numbers['auc']:.3f} vs {theirs['auc']:.3f}, expected R above threshold "
                  f"{numbers['expected_r']:+.2f} vs {theirs['expected_r']:+.2f}")
    if auc_better and r_better:
        return True, f"beats the champion {current.model_id} on the same splits: {comparison}"
    lost = " and ".join(name for name, better in
                        (("AUC", auc_better), ("expected R", r_better)) if not better)
    return False, f"does not beat the champion {current.model_id} on {lost}: {comparison}"


def _write_decision(card: ModelCard, promoted: bool, reason: str) -> None:
    write_json_atomic(card.path / DECISION, {"promoted": promoted, "reason": reason,
                                             "decided_at": _now()})


def _write_pointer(settings, card: ModelCard, reason: str) -> None:
    analyst = checked_id(settings.analyst, what="analyst name", error=RegistryError)
    pointer = _version_dir(settings, analyst, card.setup_id, card.setup_version) / POINTER
    write_json_atomic(pointer, {"model_id": card.model_id, "analyst": card.analyst,
                                "promoted_at": _now(), "reason": reason})


# ------------------------------------------------------------------------------ helpers

def _setup_of(meta: dict) -> tuple[str, int]:
    setup_id = meta.get("setup_id", meta.get("setup"))
    version = meta.get("setup_version", meta.get("version"))
    if not setup_id or version is None:
        raise RegistryError("dataset meta: needs 'setup_id' and 'setup_version' to file the model")
    return checked_id(str(setup_id), what="setup id", error=RegistryError), int(version)


def _version_name(version: int) -> str:
    return f"v{version:04d}"


def _version_dir(settings, analyst: str, setup_id: str, version: int) -> Path:
    setup_id = checked_id(setup_id, what="setup id", error=RegistryError)
    return analyst_dir(settings, analyst) / MODELS / setup_id / _version_name(int(version))


def _read_card(folder: Path, settings) -> ModelCard:
    try:
        card = ModelCard.from_json(json.loads((folder / CARD).read_text("utf-8")), path=folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{folder / CARD}: unreadable model card ({exc!r})") from exc
    is_champion = _is_champion(settings, card)
    status, reason = ("champion" if is_champion else "new"), ""
    decision = folder / DECISION
    if decision.is_file():
        stored = json.loads(decision.read_text("utf-8"))
        reason = str(stored.get("reason", ""))
        if not is_champion:
            status = "challenger"
            reason = f"former champion ({reason})" if stored.get("promoted") else reason
    return dataclasses.replace(card, status=status, reason=reason)


def _is_champion(settings, card: ModelCard) -> bool:
    pointer = (settings.shared_kb_dir / ANALYSTS / str(settings.analyst) / MODELS / card.setup_id
               / _version_name(card.setup_version) / POINTER)
    if not pointer.is_file():
        return False
    data = json.loads(pointer.read_text("utf-8"))
    return data.get("model_id") == card.model_id and data.get("analyst") == card.analyst


def _reread(settings, card: ModelCard) -> ModelCard:
    return _read_card(card.path, settings)


def _auc_text(numbers: dict) -> str:
    return f"{numbers['auc']:.2f} [{numbers['auc_low']:.2f}, {numbers['auc_high']:.2f}]"


def _records(frame: pd.DataFrame | None) -> list[dict]:
    if frame is None:
        return []
    return [_plain(row) for row in frame.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """`value` with numpy/pandas scalars turned into JSON values (NaN/inf become None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return str(value)


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _pretty(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
