"""Walk-forward splits: purged (no training label window reaches into its test block), embargoed,
expanding, covering every later signal exactly once."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import engine.learn.splits as splits_module
from engine.errors import DataError
from engine.learn.splits import walk_forward_splits

HOUR = pd.Timedelta(hours=1)


def _times(n: int, seed: int = 0, max_hold_hours: int = 30):
    rng = np.random.default_rng(seed)
    known = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, 2000, size=n)), unit="h")
    outcome = known + pd.to_timedelta(rng.integers(0, max_hold_hours, size=n), unit="h")
    return pd.Series(known), pd.Series(outcome)


def test_docstring_example() -> None:
    assert doctest.testmod(splits_module).failed == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_training_label_window_reaches_its_test_block(seed: int) -> None:
    known, outcome = _times(300, seed)
    result = walk_forward_splits(known, outcome, folds=5, min_train=40)
    assert len(result) == 5
    for train, test in result:
        test_start = known.iloc[test].min()
        assert (outcome.iloc[train] < test_start).all()
        assert (known.iloc[train] < test_start).all()
        assert not set(train) & set(test)


def test_purging_drops_a_signal_still_open_when_the_test_block_starts() -> None:
    known = pd.Series(pd.date_range("2024-01-01", periods=12, freq="h", tz="UTC"))
    outcome = known + pd.Timedelta(minutes=10)
    outcome.iloc[2] = known.iloc[5]  # signal 2 resolves inside the first test block (rows 4-7)
    outcome.iloc[3] = known.iloc[4]  # signal 3 resolves exactly when the block starts
    (train, test), (train2, _) = walk_forward_splits(known, outcome, folds=2, min_train=2)
    assert test.tolist() == [4, 5, 6, 7]
    assert train.tolist() == [0, 1]
    assert train2.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]  # resolved before the second block


def test_embargo_drops_the_signals_right_after_an_earlier_test_block() -> None:
    known = pd.Series(pd.date_range("2024-01-01", periods=16, freq="h", tz="UTC"))
    outcome = known + pd.Timedelta(minutes=10)
    plain = walk_forward_splits(known, outcome, folds=3, min_train=4)
    held = walk_forward_splits(known, outcome, folds=3, min_train=4, embargo=2 * HOUR)
    # blocks: train 0-3 | test 4-7 | test 8-11 | test 12-15
    assert plain[1][0].tolist() == list(range(8))
    assert held[1][0].tolist() == list(range(8))
    assert plain[2][0].tolist() == list(range(12))
    assert held[2][0].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11]  # 8, 9 within 2 h of block 1


@pytest.mark.parametrize("seed", [0, 3])
def test_embargo_holds_on_random_times(seed: int) -> None:
    known, outcome = _times(400, seed)
    embargo = 24 * HOUR
    result = walk_forward_splits(known, outcome, folds=4, min_train=40, embargo=embargo)
    for k, (train, _) in enumerate(result):
        train_known = known.iloc[train]
        for _, earlier_test in result[:k]:
            end = known.iloc[earlier_test].max()
            assert not ((train_known > end) & (train_known <= end + embargo)).any()


def test_windows_expand_and_test_blocks_cover_every_later_signal_once() -> None:
    known, outcome = _times(300, 5, max_hold_hours=1)
    result = walk_forward_splits(known, outcome, folds=5, min_train=40)
    tested = np.concatenate([test for _, test in result])
    assert sorted(tested.tolist()) == list(range(50, 300))  # n // (folds + 1) = 50 only train
    sizes = [len(train) for train, _ in result]
    assert sizes == sorted(sizes) and sizes[0] >= 40
    starts = [known.iloc[test].min() for _, test in result]
    assert starts == sorted(starts)


def test_positions_refer_to_the_given_order_when_unsorted() -> None:
    known, outcome = _times(120, 7, max_hold_hours=1)
    shuffle = np.random.default_rng(1).permutation(120)
    result = walk_forward_splits(known.iloc[shuffle], outcome.iloc[shuffle], folds=2,
                                 min_train=30)
    shuffled_known = known.iloc[shuffle].reset_index(drop=True)
    for train, test in result:
        assert shuffled_known.iloc[train].max() < shuffled_known.iloc[test].min()


def test_too_few_signals_is_a_data_error_that_says_how_many() -> None:
    known, outcome = _times(30)
    with pytest.raises(DataError, match="30 signals; at least 55"):
        walk_forward_splits(known, outcome, folds=5, min_train=50)


def test_an_outcome_before_its_signal_is_a_data_error() -> None:
    known, outcome = _times(100)
    outcome.iloc[3] = known.iloc[3] - HOUR
    with pytest.raises(DataError, match="outcome_at is before its known_at"):
        walk_forward_splits(known, outcome, folds=2, min_train=20)


def test_purging_does_not_cost_the_first_fold_when_every_signal_overlaps_the_next() -> None:
    known = pd.Series(pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC"))
    outcome = known + 3 * HOUR  # each signal resolves after the next three are known
    result = walk_forward_splits(known, outcome, folds=5, min_train=50)
    assert len(result) == 5
    first_train, first_test = result[0]
    assert len(first_train) == 50 and first_test[0] == 53
    assert (outcome.iloc[first_train] < known.iloc[first_test[0]]).all()
