"""Scores of out-of-sample probabilities (pure): AUC with a bootstrap interval, Brier score,
log loss, the reliability table and the threshold curve a trader reads.

- **AUC** is the chance that a signal which reached its target got a higher probability than one
  which did not (0.5 = a coin). Its 95 % interval comes from ``resamples`` bootstrap resamples of
  the signals (seeded: the same inputs give the same interval).
- **Brier** is the mean squared gap between probability and outcome (lower is better; always
  predicting the base rate p scores p(1 - p)). **Log loss** punishes confident mistakes.
- **Calibration**: probabilities in ten equal-width bins; per bin the mean probability, the share
  that reached target, and the count (the counts sum to the number of signals; empty bins are left
  out).
- **Thresholds**: had only the signals with probability >= threshold been taken, how many trades,
  their mean R (``expected_r``) and summed R (``total_r``). Threshold 0 is "take every signal".

>>> import numpy as np
>>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
0.75
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

PROBABILITY_FLOOR = 1e-3  # log loss of a probability of exactly 0 or 1 would be infinite
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))


def auc(labels: np.ndarray, probability: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(probability)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def auc_interval(labels: np.ndarray, probability: np.ndarray, *, resamples: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC (resamples with a single class are skipped)."""
    labels = np.asarray(labels, dtype=bool)
    probability = np.asarray(probability, dtype=float)
    rng = np.random.default_rng(seed)
    n = len(labels)
    draws = rng.integers(0, n, size=(resamples, n))
    values = []
    for idx in draws:
        value = auc(labels[idx], probability[idx])
        if not np.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def brier(labels: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared error of the probabilities."""
    labels = np.asarray(labels, dtype=float)
    return float(np.mean((np.asarray(probability, dtype=float) - labels) ** 2))


def log_loss(labels: np.ndarray, probability: np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities held within [0.001, 0.999]."""
    labels = np.asarray(labels, dtype=float)
    p = np.clip(np.asarray(probability, dtype=float), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))


def scores(labels: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """AUC, Brier and log loss in one dict (the shape of a baseline's entry)."""
    return {"auc": auc(labels, probability), "brier": brier(labels, probability),
            "log_loss": log_loss(labels, probability)}


def calibration_table(labels: np.ndarray, probability: np.ndarray, *,
                      bins: int = 10) -> pd.DataFrame:
    """Reliability table: bin (its lower edge), mean_predicted, observed, count."""
    probability = np.asarray(probability, dtype=float)
    labels = np.asarray(labels, dtype=float)
    index = np.clip((probability * bins).astype(int), 0, bins - 1)
    frame = pd.DataFrame({"bin": index / bins, "p": probability, "y": labels})
    table = frame.groupby("bin", sort=True).agg(mean_predicted=("p", "mean"),
                                                  observed=("y", "mean"), count=("y", "size"))
    return table.reset_index().astype({"count": "int64"})


def threshold_curve(probability: np.ndarray, r_multiple: np.ndarray,
                    thresholds=THRESHOLDS) -> pd.DataFrame:
    """Out-of-sample trades kept and their R above each probability threshold."""
    probability = np.asarray(probability, dtype=float)
    r_multiple = np.asarray(r_multiple, dtype=float)
    rows = []
    for threshold in thresholds:
        kept = r_multiple[probability >= threshold]
        rows.append({"threshold": float(threshold), "trades": int(len(kept)),
                     "expected_r": float(kept.mean()) if len(kept) else float("nan"),
                     "total_r": float(kept.sum())})
    return pd.DataFrame(rows)
