"""Why the model says what it says about one signal, and the past signals most like it.

`explain` turns XGBoost's per-feature contributions (``pred_contribs=True``: log-odds that add up,
with the bias, to the model's raw score) into a trader's sentences:

    strengths   the features that raised the probability most, e.g.
                "gap 1.8× ATR: above this setup's usual (+0.06)"
    weaknesses  the features that lowered it most, e.g. "stop distance 2.4× ATR: above this
                setup's usual (−0.04)"

The number in brackets is the feature's effect in probability points on the model's raw
(uncalibrated) score: how much lower (or higher) the probability would be without that feature's
contribution. A strength always has a positive contribution and a weakness a negative one (a
tested property); "usual" is the median of the feature over the setup's signals
(`typical_values`), and is left out when no typical values are given.

`similar` finds the k historical signals of the same setup nearest to a signal in standardised
feature space (each feature centred on its mean and divided by its standard deviation over those
signals). Missing values are safe: a feature the signal lacks does not count, and a past
signal's missing feature counts as that feature's mean. By default only signals whose outcome
was known when the signal appeared are candidates (``known_only=True``), so a historical signal
is compared with what a trader could have seen then. The summary reads
"7 of the 10 most similar reached target".

>>> explanation = explain(model, row, typical=typical_values(dataset.frame, dataset.features))
... # doctest: +SKIP
>>> similar(dataset, row).summary  # doctest: +SKIP
'7 of the 10 most similar reached target'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# feature name -> (display name, unit), for the names of engine/learn/features.py (features_v1).
# Units: "atr" (1.8× ATR), "min", "bars", "pct", "r", "ratio" (1.4×), "rank" (82nd percentile),
# "hour", "weekday", "side" (up/down), "trade" (long/short), "flag" (yes/no), "" (plain number).
DISPLAY: dict[str, tuple[str, str]] = {
    "kill_zone": ("in a kill zone", "flag"),
    "session_asia": ("in the Asia session", "flag"),
    "session_london": ("in the London session", "flag"),
    "session_new_york": ("in the New York session", "flag"),
    "session_minutes": ("minutes into the session", "min"),
    "weekday": ("weekday", "weekday"),
    "hour": ("hour", "hour"),
    "prev_day_high_atr": ("close to the previous day's high", "atr"),
    "prev_day_low_atr": ("close to the previous day's low", "atr"),
    "prev_week_high_atr": ("close to the previous week's high", "atr"),
    "prev_week_low_atr": ("close to the previous week's low", "atr"),
    "htf_trend": ("higher-timeframe trend", "side"),
    "htf_slope_atr": ("higher-timeframe slope", "atr"),
    "atr_percentile": ("volatility (ATR rank)", "rank"),
    "range_atr": ("range of the last 20 bars", "atr"),
    "relative_volume": ("volume vs its average", "ratio"),
    "direction": ("direction", "trade"),
    "stop_atr": ("stop distance", "atr"),
    "r_planned": ("planned reward", "r"),
    "entry_offset_atr": ("entry beyond the close", "atr"),
    "limit_entry": ("limit entry", "flag"),
}
# per-condition detection features: "<condition>_size_atr" -> "<condition> size", ...
_PATTERNS = (("_size_atr", "{} size", "atr"), ("_depth_atr", "{} depth", "atr"),
             ("_bars_since", "bars since the {}", "bars"), ("_direction", "{} direction", "side"))
_SUFFIX_UNITS = (("_atr", "atr"), ("_minutes", "min"), ("_min", "min"), ("_bars", "bars"),
                 ("_pct", "pct"), ("_ratio", "ratio"), ("_r", "r"))
_PREFIX_UNITS = (("bars_", "bars"), ("minutes_", "min"), ("is_", "flag"), ("in_", "flag"))
_NO_USUAL = {"weekday", "hour", "side", "trade", "flag"}  # "above usual" means nothing there
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_OUTCOME_COLUMNS = ("hit_target", "r_multiple")


@dataclass(frozen=True)
class Reason:
    """One feature's part in a prediction."""

    feature: str
    label: str  # display name: "gap"
    value: float
    contribution: float  # log-odds, from pred_contribs
    effect: float  # probability points on the raw score: p - p(without this contribution)
    text: str  # "gap 1.8× ATR: above this setup's usual (+0.06)"


@dataclass(frozen=True)
class Explanation:
    probability: float  # the model's calibrated probability of reaching target
    strengths: tuple[Reason, ...]
    weaknesses: tuple[Reason, ...]

    def lines(self) -> list[str]:
        """Plain lines for an alert: "+ gap 1.8× ATR: ..." and "− stop distance ..."."""
        return [f"+ {r.text}" for r in self.strengths] + [f"− {r.text}" for r in self.weaknesses]


@dataclass(frozen=True)
class SimilarCases:
    rows: pd.DataFrame  # the nearest past signals, nearest first, with a "distance" column
    reached: int  # how many of them reached target
    average_r: float  # their mean net R (NaN when there are none)
    summary: str  # "7 of the 10 most similar reached target"


# ------------------------------------------------------------------------------ names

def display_name(feature: str) -> tuple[str, str]:
    """(display name, unit) of a feature: from `DISPLAY`, else read from its name."""
    if feature in DISPLAY:
        return DISPLAY[feature]
    if feature.startswith("param_") and len(feature) > len("param_"):
        label, unit = display_name(feature.removeprefix("param_"))
        return f"setup parameter {label}", unit
    for suffix, label, unit in _PATTERNS:
        if feature.endswith(suffix) and len(feature) > len(suffix):
            return label.format(feature[: -len(suffix)].replace("_", " ")), unit
    stem, unit = feature, ""
    for suffix, suffix_unit in _SUFFIX_UNITS:
        if feature.endswith(suffix) and len(feature) > len(suffix):
            stem, unit = feature[: -len(suffix)], suffix_unit
            break
    else:
        for prefix, prefix_unit in _PREFIX_UNITS:
            if feature.startswith(prefix):
                unit = prefix_unit
                break
    return stem.replace("_", " ").strip(), unit


def format_value(value: float, unit: str) -> str:
    """A feature value in the trader's units: "1.8× ATR", "35 min", "Tuesday", "long"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    value = float(value)
    formats = {
        "atr": lambda v: f"{v:.1f}× ATR", "min": lambda v: f"{v:.0f} min",
        "bars": lambda v: f"{v:.0f} bars", "pct": lambda v: f"{v:.1f} %",
        "r": lambda v: f"{v:.1f} R", "ratio": lambda v: f"{v:.1f}×",
        "hour": lambda v: f"{v:.0f}h UTC",
        "weekday": lambda v: _WEEKDAYS[int(v) % 7] if v == int(v) else f"{v:g}",
        "side": lambda v: "up" if v > 0 else "down" if v < 0 else "flat",
        "trade": lambda v: "long" if v > 0 else "short" if v < 0 else "none",
        "rank": lambda v: f"{_ordinal(round(v * 100))} percentile",
        "flag": lambda v: "yes" if v else "no",
    }
    return formats.get(unit, lambda v: f"{v:.3g}")(value)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def typical_values(frame: pd.DataFrame, features) -> dict[str, float]:
    """Each feature's median over the setup's signals (NaN when a feature is always missing)."""
    values = frame[list(features)].to_numpy(dtype="float64")
    with np.errstate(all="ignore"):
        medians = [float(np.nanmedian(col)) if np.isfinite(col).any() else math.nan
                   for col in values.T]
    return dict(zip(features, medians, strict=True))


# ------------------------------------------------------------------------------ explain

def explain(model, row: pd.DataFrame, *, top: int = 3,
            typical: dict[str, float] | None = None) -> Explanation:
    """The probability of `row` (one signal's features) with its `top` strengths and
    weaknesses in plain words."""
    features = list(model.features)
    X = row.iloc[[0]][features]
    probability = float(np.asarray(model.probability(X)).ravel()[0])
    contributions = model.contributions(X)
    values = X.iloc[0].to_numpy(dtype="float64")
    parts = contributions[features].iloc[0].to_numpy(dtype="float64")
    margin = float(parts.sum() + contributions["bias"].iloc[0])
    reasons = [_reason(name, value, part, margin, typical)
               for name, value, part in zip(features, values, parts, strict=True)]
    order = np.argsort(-parts, kind="stable")
    strengths = tuple(reasons[i] for i in order if parts[i] > 0)[:top]
    weaknesses = tuple(reasons[i] for i in order[::-1] if parts[i] < 0)[:top]
    return Explanation(probability=probability, strengths=strengths, weaknesses=weaknesses)


def _reason(feature: str, value: float, part: float, margin: float,
            typical: dict[str, float] | None) -> Reason:
    label, unit = display_name(feature)
    effect = _sigmoid(margin) - _sigmoid(margin - part)
    relation = ""
    usual = (typical or {}).get(feature, math.nan)
    if not math.isnan(value) and not math.isnan(usual) and unit not in _NO_USUAL:
        relation = ("above this setup's usual " if value > usual else
                    "below this setup's usual " if value < usual else "this setup's usual ")
    text = f"{label} {format_value(value, unit)}: {relation}({_signed(effect)})"
    return Reason(feature=feature, label=label, value=float(value), contribution=float(part),
                  effect=float(effect), text=text)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _signed(effect: float) -> str:
    text = f"{abs(effect):.2f}"
    return f"+{text}" if effect >= 0 else f"−{text}"


# ------------------------------------------------------------------------------ similar

class SimilarIndex:
    """A dataset prepared for repeated `similar` queries (a live alert's): the features
    standardised once (mean and spread over the dataset's signals, missing values at the
    mean), and the setup, signal id and outcome time of every row as arrays.

    `weights` (feature -> weight ≥ 0, e.g. `feature_weights`) stretch the space: a feature
    of weight 4 counts like a distance twice as large, weight 0 not at all; unnamed features
    weigh 1.

    >>> index = SimilarIndex(dataset, weights=feature_weights(model, dataset.frame))
    ... # doctest: +SKIP
    >>> similar(index, row).summary  # doctest: +SKIP
    """

    def __init__(self, dataset, *, weights: dict[str, float] | None = None) -> None:
        frame, features = dataset.frame, list(dataset.features)
        stretch = np.sqrt(np.array([max(float((weights or {}).get(name, 1.0)), 0.0)
                                    for name in features]))
        history = frame[features].to_numpy(dtype="float64")
        present = np.isfinite(history)
        counts = present.sum(axis=0)
        filled = np.where(present, history, 0.0)
        mean = filled.sum(axis=0) / np.maximum(counts, 1)
        deviation = np.where(present, history - mean, 0.0)
        spread = np.sqrt((deviation ** 2).sum(axis=0) / np.maximum(counts, 1))
        self.frame = frame
        self.features = features
        self.mean = mean
        self.spread = np.where(spread > 0, spread, 1.0) / np.where(stretch > 0, stretch, 1.0)
        self.known = (counts > 0) & (stretch > 0)  # missing everywhere or weight 0: never counts
        self.scaled = deviation / self.spread
        self.setup_ids = frame["setup_id"].to_numpy() if "setup_id" in frame else None
        self.signal_ids = frame["signal_id"].to_numpy() if "signal_id" in frame else None
        self.outcome_at = (_nanoseconds(frame["outcome_at"]) if "outcome_at" in frame
                           else None)

    def candidates(self, query: pd.Series, *, known_only: bool,
                   same_setup: bool = True) -> np.ndarray:
        keep = np.ones(len(self.frame), dtype=bool)
        if same_setup and self.setup_ids is not None and "setup_id" in query.index:
            keep &= self.setup_ids == query["setup_id"]
        if self.signal_ids is not None and "signal_id" in query.index:
            keep &= self.signal_ids != query["signal_id"]
        if known_only and self.outcome_at is not None and "known_at" in query.index:
            keep &= self.outcome_at <= pd.Timestamp(query["known_at"]).value
        return np.flatnonzero(keep)

    def distances(self, rows: np.ndarray, point: np.ndarray) -> np.ndarray:
        used = np.isfinite(point) & self.known
        target = np.where(used, (point - self.mean) / self.spread, 0.0)
        gaps = self.scaled[np.ix_(rows, np.flatnonzero(used))] - target[used]
        return np.sqrt(np.einsum("ij,ij->i", gaps, gaps))


def similar(dataset, row: pd.DataFrame, *, k: int = 10, known_only: bool = True,
            weights: dict[str, float] | None = None, fallback: bool = False) -> SimilarCases:
    """The `k` past signals of `row`'s setup nearest to it in standardised feature space, with
    their outcomes (module docstring). `dataset` is a `Dataset` or, for repeated queries, a
    `SimilarIndex` of one (which carries its own weights). `fallback` (a pooled dataset): when
    the setup has fewer than `k` such signals, draw from every setup's, and say so."""
    index = (dataset if isinstance(dataset, SimilarIndex) else
             SimilarIndex(dataset, weights=weights))
    query = row.iloc[0]
    pool = index.candidates(query, known_only=known_only)
    own = len(pool)
    if fallback and own < k:
        wider = index.candidates(query, known_only=known_only, same_setup=False)
        pool = wider if len(wider) > own else pool
    point = np.array([_number(query.get(name)) for name in index.features], dtype="float64")
    distance = index.distances(pool, point)
    nearest = np.argsort(distance, kind="stable")[:k]
    rows = index.frame.iloc[pool[nearest]].copy()
    rows["distance"] = distance[nearest]
    reached = int(rows["hit_target"].sum()) if len(rows) else 0
    average_r = float(rows["r_multiple"].mean()) if len(rows) else math.nan
    summary = _summary(reached, len(rows))
    if len(pool) > own:
        summary += ((f" (this setup has only {own} earlier signal{'s' if own != 1 else ''}" if own
                     else " (this setup has no earlier signal") + ": "
                    "drawn from every setup of the pool)")
    return SimilarCases(rows=rows, reached=reached, average_r=average_r, summary=summary)


def feature_weights(model, frame: pd.DataFrame, *, sample: int = 2000) -> dict[str, float]:
    """How much each feature moves the model's score: its mean absolute contribution over (an
    evenly spaced sample of at most `sample` rows of) `frame`, scaled so the weights average 1.
    For `similar`: past signals alike in what the model finds important."""
    features = list(model.features)
    rows = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, min(sample, len(frame)),
                                            dtype=int))] if len(frame) else frame
    if rows.empty:
        return dict.fromkeys(features, 1.0)
    strength = model.contributions(rows[features])[features].abs().mean().to_numpy()
    total = float(strength.sum())
    scale = len(features) / total if total > 0 else 0.0
    return {name: float(value * scale) if total > 0 else 1.0
            for name, value in zip(features, strength, strict=True)}


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """Times as int64 nanoseconds; a missing time (no outcome yet) as "never"."""
    stamps = pd.to_datetime(times, utc=True)
    values = stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype("int64")
    return np.where(stamps.isna().to_numpy(), np.iinfo("int64").max, values)


def _summary(reached: int, found: int) -> str:
    if found == 0:
        return "no similar past signals yet"
    if found == 1:
        return ("the most similar past signal reached target" if reached else
                "the most similar past signal did not reach target")
    return f"{reached} of the {found} most similar reached target"
