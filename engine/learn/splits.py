"""Purged and embargoed walk-forward splits in time (pure).

A model is judged only on signals it could not have seen. The rows (signals) are ordered by
``known_at``; the oldest ``max(min_train, n // (folds + 1))`` rows (or a few more, see below)
only ever train, and the rest are cut into ``folds`` consecutive test blocks of (almost) equal
size. The window expands: test block ``k`` is predicted by a model trained on rows older than
the block, with two rules on top:

- **Purging**: a training row's label window ``[known_at, outcome_at]`` must end strictly before
  the test block's first ``known_at``. A signal still open when the test block starts (its outcome
  lies inside the block) would tell the model what the market did during the test: it is dropped.
- **Embargo**: rows whose ``known_at`` falls within ``embargo`` after an earlier test block's last
  ``known_at`` are dropped from every later training set (the market right after a test block is
  serially correlated with it). ``embargo=None`` means no embargo beyond purging.

The first test block starts late enough that its purged training set keeps ``min_train`` rows.
A later fold whose purged (and embargoed) training set has fewer than ``min_train`` rows is
skipped; when no fold is left, ``DataError`` says how many signals are needed.

>>> import pandas as pd
>>> t = pd.date_range("2024-01-01", periods=12, freq="h", tz="UTC")
>>> splits = walk_forward_splits(t, t + pd.Timedelta(minutes=30), folds=2, min_train=4)
>>> [(train.tolist(), test.tolist()) for train, test in splits]
[([0, 1, 2, 3], [4, 5, 6, 7]), ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11])]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.errors import DataError


def minimum_signals(*, folds: int = 5, min_train: int = 50) -> int:
    """The fewest signals a walk-forward test with these settings can run on."""
    return min_train + folds


def _times(values, name: str) -> np.ndarray:
    times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    if times.hasnans:
        raise DataError(f"walk-forward splits: column {name!r} has missing times")
    return times.as_unit("ns").asi8  # one unit: pandas may keep times in us or ms


def _first_test(known, outcome, order, start: int, *, min_train: int, last: int) -> int:
    """The first test position from `start` on whose purged training set keeps `min_train`."""
    for first in range(start, last + 1):
        head = order[:first]
        if np.count_nonzero(outcome[head] < known[order[first]]) >= min_train:
            return first
    return start


def walk_forward_splits(known_at, outcome_at, *, folds: int = 5,
                        embargo: pd.Timedelta | None = None,
                        min_train: int = 50) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window (train positions, test positions) pairs, purged and embargoed.

    Positions index the given arrays (they need not be sorted; blocks follow ``known_at``).
    """
    if folds < 1:
        raise DataError(f"walk-forward splits: folds must be at least 1, got {folds}")
    known = _times(known_at, "known_at")
    outcome = _times(outcome_at, "outcome_at")
    if len(known) != len(outcome):
        raise DataError("walk-forward splits: known_at and outcome_at differ in length")
    if (outcome < known).any():
        raise DataError("walk-forward splits: some outcome_at is before its known_at")
    n = len(known)
    if n < minimum_signals(folds=folds, min_train=min_train):
        raise DataError(f"walk-forward splits: {n} signals; at least "
                        f"{minimum_signals(folds=folds, min_train=min_train)} are needed for "
                        f"{folds} folds with {min_train} training signals")
    order = np.argsort(known, kind="stable")
    first_test = _first_test(known, outcome, order, max(min_train, n // (folds + 1)),
                             min_train=min_train, last=n - folds)
    blocks = np.array_split(order[first_test:], folds)
    embargo_ns = 0 if embargo is None else int(pd.Timedelta(embargo).value)
    embargoed = np.zeros(n, dtype=bool)
    splits: list[tuple[np.ndarray, np.ndarray]] = []
    seen = first_test
    for block in blocks:
        test_start = known[block].min()
        candidates = order[:seen]
        keep = (outcome[candidates] < test_start) & ~embargoed[candidates]
        train = np.sort(candidates[keep])
        if len(train) >= min_train:
            splits.append((train, np.sort(block)))
        block_end = known[block].max()
        embargoed |= (known > block_end) & (known <= block_end + embargo_ns)
        seen += len(block)
    if not splits:
        raise DataError(f"walk-forward splits: after purging no fold keeps {min_train} training "
                        f"signals of {n}; more signals are needed")
    return splits
