"""An honest model of "does this signal reach its target" (pure: numpy, pandas, xgboost, sklearn).

How it is judged (``evaluate``), in a trader's words:

- **Walk-forward only.** Signals are ordered by the time they were known; each test block is
  predicted by a model trained on older signals only, purged of signals whose outcome was still
  open when the block began, with an embargo after each earlier test block of the median time a
  signal takes to resolve (``engine.learn.splits``). Every reported number comes from these
  out-of-sample predictions; the oldest block only ever trains.
- **The model**: gradient-boosted trees (XGBoost, ``hist``, depth 3, 0.05 learning rate, 80 %
  row and column sampling, a fixed seed, one thread): the same inputs give the same model bytes.
  Missing feature values (NaN, and infinities, which count as missing) are allowed; the trees
  learn where to send them.
- **Calibrated probabilities.** Raw tree scores are mapped to probabilities by a calibrator fitted
  only on predictions the model had not seen: inside each training set, a smaller walk-forward
  (3 folds) yields out-of-fold scores, and the calibrator fitted on them maps that fold's test
  scores. Isotonic regression when the calibration set has at least 50 signals that reached
  target and 50 that did not; otherwise Platt scaling (a logistic curve on the score's log-odds),
  which needs fewer. No calibrator can be fitted when the calibration set holds one class only
  (or is too small for the inner walk-forward): the raw score is then used. Probabilities are held
  within [0.001, 0.999].
- **Baselines on the same splits**: "constant" predicts the training share that reached target
  (AUC exactly 0.5); "logistic" is a standardised logistic regression on the same features (NaN
  filled with the training median). A tree model that cannot beat the logistic line is not worth
  its complexity.
- **The verdict** says "better than chance" only when the lower end of the AUC's bootstrap 95 %
  interval is above 0.5; "worse than chance" when even its upper end is below 0.5 (what the
  model learned on older signals reversed on newer ones: the market changed, and waiting for more
  of the same signals will not help; seen on the demo's sma-cross, AUC 0.27 [0.24, 0.30]);
  otherwise "not yet" with the number of signals, and "need more".
- ``Evaluation.n`` counts the signals scored out of sample (the calibration table's counts sum to
  it); with too few signals for a walk-forward test it is 0 and the verdict says how many are
  needed.

``train`` fits the same model on every signal; its calibrator is fitted on the walk-forward
out-of-fold scores of the whole dataset (the same splits ``evaluate`` uses).

>>> # ev = evaluate(dataset, folds=5, trees=200); ev.verdict
>>> # 'better than chance: AUC 0.64 [0.59, 0.69] on 1,650 out-of-sample signals'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xgboost
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.errors import DataError
from engine.learn import metrics
from engine.learn.splits import minimum_signals, walk_forward_splits

TREE_PARAMS = {"max_depth": 3, "learning_rate": 0.05, "subsample": 0.8,
               "colsample_bytree": 0.8, "min_child_weight": 5.0, "reg_lambda": 1.0}
THREADS = 1  # faster than 2 on small data and a shared CPU (measured); same results
MIN_TRAIN = 50
INNER_FOLDS = 3
INNER_MIN_TRAIN = 20
ISOTONIC_MIN_PER_CLASS = 50
LABEL = "hit_target"


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw tree score to a probability; JSON-safe (``to_dict``/``from_dict``), no pickle.

    ``kind`` "isotonic": a non-decreasing step curve through the knots ``x`` -> ``y``
    (interpolated, flat beyond the ends). ``kind`` "platt": 1 / (1 + exp(-(slope * logit(score)
    + intercept))).
    """

    kind: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.kind == "isotonic":
            p = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        else:
            p = 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))
        return np.clip(p, metrics.PROBABILITY_FLOOR, 1 - metrics.PROBABILITY_FLOOR)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y),
                "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        if data.get("kind") not in ("isotonic", "platt"):
            raise DataError(f"calibrator: unknown kind {data.get('kind')!r} "
                            "(expected 'isotonic' or 'platt')")
        return cls(kind=data["kind"], x=tuple(float(v) for v in data.get("x", ())),
                   y=tuple(float(v) for v in data.get("y", ())),
                   slope=float(data.get("slope", 1.0)),
                   intercept=float(data.get("intercept", 0.0)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_calibrator(raw: np.ndarray, labels: np.ndarray) -> Calibrator | None:
    """Isotonic with enough of both classes, else Platt; None when one class only."""
    labels = np.asarray(labels, dtype=int)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    if min(positives, negatives) >= ISOTONIC_MIN_PER_CLASS:
        curve = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        curve.fit(np.asarray(raw, dtype=float), labels)
        return Calibrator("isotonic", x=tuple(map(float, curve.X_thresholds_)),
                          y=tuple(map(float, curve.y_thresholds_)))
    platt = LogisticRegression().fit(_logit(np.asarray(raw, dtype=float))[:, None], labels)
    return Calibrator("platt", slope=float(platt.coef_[0, 0]),
                      intercept=float(platt.intercept_[0]))


@dataclass
class TrainedModel:
    """A booster (UBJSON bytes), its feature list and calibrator; predicts calibrated
    probabilities and per-feature contributions (log-odds of the raw score, plus "bias")."""

    features: tuple[str, ...]
    booster_bytes: bytes
    calibrator: Calibrator | None
    params: dict
    _booster: xgboost.Booster | None = field(default=None, init=False, repr=False, compare=False)

    def _matrix(self, X: pd.DataFrame) -> xgboost.DMatrix:
        if self._booster is None:
            booster = xgboost.Booster()
            booster.load_model(bytearray(self.booster_bytes))
            booster.set_param({"nthread": THREADS})
            self._booster = booster
        # one thread: a default DMatrix starts a thread pool per call (~20 ms on a busy machine)
        return xgboost.DMatrix(feature_matrix(X, self.features), nthread=THREADS)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """The uncalibrated tree probability."""
        return self._booster_predict(X)

    def _booster_predict(self, X: pd.DataFrame, **kwargs) -> np.ndarray:
        matrix = self._matrix(X)
        return self._booster.predict(matrix, **kwargs)

    def probability(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability that each row's signal reaches its target."""
        raw = self._booster_predict(X).astype(float)
        if self.calibrator is None:
            return np.clip(raw, metrics.PROBABILITY_FLOOR, 1 - metrics.PROBABILITY_FLOOR)
        return self.calibrator.apply(raw)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's push on the raw score's log-odds per row; columns features + "bias"
        (they sum to the raw score's log-odds)."""
        values = self._booster_predict(X, pred_contribs=True)
        return pd.DataFrame(values, index=X.index, columns=[*self.features, "bias"])


@dataclass(frozen=True)
class Evaluation:
    """Walk-forward, out-of-sample judgement of a model on one dataset (see module docstring)."""

    n: int
    positives: int
    folds: int
    auc: float
    auc_low: float
    auc_high: float
    brier: float
    log_loss: float
    baselines: dict[str, dict[str, float]]
    calibration: pd.DataFrame
    thresholds: pd.DataFrame
    better_than_chance: bool
    verdict: str
    oof: pd.DataFrame
    # per test block: fold, test_start, test_end, train_signals, test_signals, positives, auc
    # (an edge that holds in early blocks and reverses in later ones shows here); None when no
    # walk-forward test ran
    by_fold: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        """JSON-safe (NaN as None): the numbers, baselines and both tables as lists of records;
        the out-of-fold rows are left out (one per signal: too large for a model card)."""
        numbers = {name: _json_number(getattr(self, name))
                   for name in ("auc", "auc_low", "auc_high", "brier", "log_loss")}
        return {"n": self.n, "positives": self.positives, "folds": self.folds, **numbers,
                "baselines": {kind: {k: _json_number(v) for k, v in scores.items()}
                              for kind, scores in self.baselines.items()},
                "calibration": _records(self.calibration),
                "thresholds": _records(self.thresholds),
                "better_than_chance": self.better_than_chance, "verdict": self.verdict,
                "by_fold": None if self.by_fold is None else _records(
                    self.by_fold.assign(test_start=self.by_fold["test_start"].astype(str),
                                        test_end=self.by_fold["test_end"].astype(str)))}

    @classmethod
    def from_dict(cls, data: dict) -> Evaluation:
        """The inverse of ``to_dict`` (``oof`` comes back empty)."""
        def number(value) -> float:
            return float("nan") if value is None else float(value)

        return cls(
            n=int(data["n"]), positives=int(data["positives"]), folds=int(data["folds"]),
            **{name: number(data[name])
               for name in ("auc", "auc_low", "auc_high", "brier", "log_loss")},
            baselines={kind: {k: number(v) for k, v in scores.items()}
                       for kind, scores in data["baselines"].items()},
            calibration=_frame(data["calibration"], CALIBRATION_COLUMNS),
            thresholds=_frame(data["thresholds"], THRESHOLD_COLUMNS),
            better_than_chance=bool(data["better_than_chance"]), verdict=str(data["verdict"]),
            oof=_empty_oof(), by_fold=_fold_frame(data.get("by_fold")))


CALIBRATION_COLUMNS = {"bin": "float64", "mean_predicted": "float64", "observed": "float64",
                       "count": "int64"}
FOLD_COLUMNS = {"fold": "int64", "test_start": "object", "test_end": "object",
                "train_signals": "int64", "test_signals": "int64", "positives": "int64",
                "auc": "float64"}
THRESHOLD_COLUMNS = {"threshold": "float64", "trades": "int64", "expected_r": "float64",
                     "total_r": "float64"}


def _json_number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _records(frame: pd.DataFrame) -> list[dict]:
    def plain(value):
        if isinstance(value, str):
            return value
        return _json_number(value) if isinstance(value, float) else int(value)

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _fold_frame(records: list[dict] | None) -> pd.DataFrame | None:
    if records is None:
        return None
    frame = _frame(records, FOLD_COLUMNS)
    for column in ("test_start", "test_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _fold_table(frame: pd.DataFrame, y: np.ndarray, probability: np.ndarray,
                splits) -> pd.DataFrame:
    known = pd.to_datetime(frame["known_at"], utc=True)
    rows = [{"fold": number, "test_start": known.iloc[test].min(),
             "test_end": known.iloc[test].max(), "train_signals": len(train),
             "test_signals": len(test), "positives": int(y[test].sum()),
             "auc": metrics.auc(y[test], probability[test])}
            for number, (train, test) in enumerate(splits)]
    return pd.DataFrame(rows).astype({k: v for k, v in FOLD_COLUMNS.items()
                                      if k not in ("test_start", "test_end")})


def _frame(records: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    return frame.fillna(np.nan).astype(columns) if len(frame) else frame.astype(columns)


def _empty_oof() -> pd.DataFrame:
    return pd.DataFrame({"signal_id": pd.Series(dtype=str), "probability": pd.Series(dtype=float),
                         "fold": pd.Series(dtype="int64")})


def feature_matrix(frame: pd.DataFrame, features) -> np.ndarray:
    """The features as a float64 matrix in the given order; DataError names missing columns.

    An infinite value (a ratio over a zero range) counts as missing, like NaN.
    """
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"model input: missing feature columns {missing}")
    matrix = frame[list(features)].to_numpy(dtype=np.float64, copy=True)
    matrix[np.isinf(matrix)] = np.nan
    return matrix


def _classifier(trees: int, seed: int) -> xgboost.XGBClassifier:
    return xgboost.XGBClassifier(n_estimators=trees, tree_method="hist", n_jobs=THREADS,
                                 random_state=seed, eval_metric="logloss", **TREE_PARAMS)


def _fit(X: np.ndarray, y: np.ndarray, trees: int, seed: int):
    """A fitted classifier, or the constant training rate when one class only."""
    if y.min() == y.max():
        return float(y[0])
    return _classifier(trees, seed).fit(X, y)


def _raw(model, X: np.ndarray) -> np.ndarray:
    if isinstance(model, float):
        return np.full(len(X), model)
    return model.predict_proba(X)[:, 1].astype(float)


def _embargo(frame: pd.DataFrame) -> pd.Timedelta:
    held = pd.to_datetime(frame["outcome_at"], utc=True) - pd.to_datetime(frame["known_at"],
                                                                         utc=True)
    return pd.Timedelta(held.median()) if len(held) else pd.Timedelta(0)


def _oof_raw(X, y, known, outcome, *, folds, min_train, embargo, trees, seed):
    """Raw out-of-fold scores (NaN where a row was never tested) and each row's fold (-1)."""
    raw = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    splits = walk_forward_splits(known, outcome, folds=folds, embargo=embargo,
                                 min_train=min_train)
    for number, (train, test) in enumerate(splits):
        raw[test] = _raw(_fit(X[train], y[train], trees, seed), X[test])
        fold_of[test] = number
    return raw, fold_of, splits


def _inner_calibrator(X, y, known, outcome, *, embargo, trees, seed) -> Calibrator | None:
    try:
        raw, fold_of, _ = _oof_raw(X, y, known, outcome, folds=INNER_FOLDS,
                                   min_train=INNER_MIN_TRAIN, embargo=embargo,
                                   trees=trees, seed=seed)
    except DataError:
        return None
    tested = fold_of >= 0
    return fit_calibrator(raw[tested], y[tested])


def _calibrated(calibrator: Calibrator | None, raw: np.ndarray) -> np.ndarray:
    if calibrator is None:
        return np.clip(raw, metrics.PROBABILITY_FLOOR, 1 - metrics.PROBABILITY_FLOOR)
    return calibrator.apply(raw)


def _logistic(X_train, y_train, X_test) -> np.ndarray:
    if y_train.min() == y_train.max():
        return np.full(len(X_test), float(y_train[0]))
    pipeline = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                             StandardScaler(), LogisticRegression(max_iter=2000))
    return pipeline.fit(X_train, y_train).predict_proba(X_test)[:, 1]


def _inputs(dataset):
    frame = dataset.frame
    if LABEL not in frame.columns:
        raise DataError(f"dataset: no {LABEL!r} column")
    X = feature_matrix(frame, dataset.features)
    y = frame[LABEL].to_numpy(dtype=int)
    return frame, X, y


def _walk_forward(frame, X, y, splits, *, embargo, trees, seed):
    """Out-of-fold calibrated probabilities plus the two baselines', on the same splits."""
    known, outcome = frame["known_at"], frame["outcome_at"]
    probability = np.full(len(y), np.nan)
    constant = np.full(len(y), np.nan)
    logistic = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    for number, (train, test) in enumerate(splits):
        model = _fit(X[train], y[train], trees, seed)
        calibrator = _inner_calibrator(X[train], y[train], known.iloc[train],
                                       outcome.iloc[train], embargo=embargo, trees=trees,
                                       seed=seed)
        probability[test] = _calibrated(calibrator, _raw(model, X[test]))
        constant[test] = y[train].mean()
        logistic[test] = _logistic(X[train], y[train], X[test])
        fold_of[test] = number
    return probability, constant, logistic, fold_of


def _verdict(n: int, auc: float, low: float, high: float) -> tuple[bool, str]:
    interval = f"AUC {auc:.2f} [{low:.2f}, {high:.2f}]"
    if low > 0.5:
        return True, f"better than chance: {interval} on {n:,} out-of-sample signals"
    if high < 0.5:
        return False, (f"worse than chance: {interval} on {n:,} out-of-sample signals; what older "
                       "signals taught the model reversed on newer ones (the market changed "
                       "under this setup), so more of the same signals will not fix it")
    return False, (f"not yet — {n:,} out-of-sample signals, {interval}: not better than chance; "
                   "need more signals")


def _why_not(y: np.ndarray, folds: int, split_error: str | None) -> str:
    """Why no walk-forward verdict is possible yet, in a trader's words."""
    positives = int(y.sum())
    needed = minimum_signals(folds=folds, min_train=MIN_TRAIN)
    if len(y) < needed:
        return f"a walk-forward test needs at least {needed}"
    if positives in (0, len(y)):
        return "a model needs signals that reached target and signals that did not"
    if split_error is not None:
        return f"after purging overlapping signals no fold keeps {MIN_TRAIN} to train on"
    return "the out-of-sample signals all had the same outcome"


def _too_few(y: np.ndarray, reason: str) -> Evaluation:
    nan = float("nan")
    verdict = (f"not yet — {len(y):,} signals ({int(y.sum()):,} reached target); {reason}: "
               "need more signals")
    empty_scores = {"auc": nan, "brier": nan, "log_loss": nan}
    return Evaluation(
        n=0, positives=0, folds=0, auc=nan, auc_low=nan, auc_high=nan, brier=nan, log_loss=nan,
        baselines={"constant": dict(empty_scores), "logistic": dict(empty_scores)},
        calibration=metrics.calibration_table(np.array([]), np.array([])),
        thresholds=metrics.threshold_curve(np.array([]), np.array([])),
        better_than_chance=False, verdict=verdict, oof=_empty_oof())


def evaluate(dataset, *, folds: int = 5, trees: int = 200, seed: int = 0) -> Evaluation:
    """Walk-forward evaluation of the model on `dataset` (see the module docstring).

    Never raises for too little data: the verdict then says how many signals are needed.
    """
    frame, X, y = _inputs(dataset)
    embargo = _embargo(frame)
    try:
        splits = walk_forward_splits(frame["known_at"], frame["outcome_at"], folds=folds,
                                     embargo=embargo, min_train=MIN_TRAIN)
    except DataError as exc:
        return _too_few(y, _why_not(y, folds, str(exc)))
    probability, constant, logistic, fold_of = _walk_forward(frame, X, y, splits,
                                                             embargo=embargo, trees=trees,
                                                             seed=seed)
    tested = np.flatnonzero(fold_of >= 0)
    labels, p = y[tested], probability[tested]
    if labels.min() == labels.max():
        return _too_few(y, _why_not(y, folds, None))
    auc = metrics.auc(labels, p)
    low, high = metrics.auc_interval(labels, p, seed=seed)
    better, verdict = _verdict(len(tested), auc, low, high)
    return Evaluation(
        n=len(tested), positives=int(labels.sum()), folds=len(splits),
        auc=auc, auc_low=low, auc_high=high,
        brier=metrics.brier(labels, p), log_loss=metrics.log_loss(labels, p),
        baselines={"constant": metrics.scores(labels, constant[tested]),
                   "logistic": metrics.scores(labels, logistic[tested])},
        calibration=metrics.calibration_table(labels, p),
        thresholds=metrics.threshold_curve(p, frame["r_multiple"].to_numpy(float)[tested]),
        better_than_chance=better, verdict=verdict,
        oof=pd.DataFrame({"signal_id": frame["signal_id"].to_numpy()[tested].astype(str),
                          "probability": p, "fold": fold_of[tested].astype("int64")}),
        by_fold=_fold_table(frame, y, probability, splits))


def train(dataset, *, trees: int = 200, seed: int = 0, folds: int = 5) -> TrainedModel:
    """Fit on every signal; the calibrator comes from the walk-forward out-of-fold scores.

    Deterministic: the same dataset, trees and seed give the same ``booster_bytes``.
    """
    frame, X, y = _inputs(dataset)
    if len(y) == 0 or y.min() == y.max():
        raise DataError(f"train: the {len(y)} signals of the dataset all have the same outcome "
                        f"({LABEL}); a model needs signals that reached target and some that "
                        "did not")
    embargo = _embargo(frame)
    classifier = _classifier(trees, seed).fit(X, y)
    booster_bytes = bytes(classifier.get_booster().save_raw(raw_format="ubj"))
    try:
        raw, fold_of, _ = _oof_raw(X, y, frame["known_at"], frame["outcome_at"], folds=folds,
                                   min_train=MIN_TRAIN, embargo=embargo, trees=trees, seed=seed)
        tested = fold_of >= 0
        calibrator = fit_calibrator(raw[tested], y[tested])
    except DataError:
        calibrator = None
    params = {"trees": trees, "seed": seed, "folds": folds, "tree_method": "hist",
              "threads": THREADS, **TREE_PARAMS, "rows": int(len(y)),
              "calibration": calibrator.kind if calibrator else "none"}
    return TrainedModel(features=tuple(dataset.features), booster_bytes=booster_bytes,
                        calibrator=calibrator, params=params)
