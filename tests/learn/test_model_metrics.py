"""Out-of-sample scores on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.learn import metrics


def test_auc_counts_ties_half_and_matches_the_hand_count() -> None:
    labels = np.array([0, 0, 1, 1])
    assert metrics.auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == 0.75
    assert metrics.auc(labels, np.full(4, 0.3)) == 0.5
    assert np.isnan(metrics.auc(np.ones(4), np.arange(4)))


def test_bootstrap_interval_is_seeded_and_brackets_the_auc() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    p = np.clip(labels * 0.2 + rng.random(500) * 0.8, 0, 1)
    low, high = metrics.auc_interval(labels, p, seed=3)
    assert (low, high) == metrics.auc_interval(labels, p, seed=3)
    assert low < metrics.auc(labels, p) < high


def test_brier_and_log_loss_by_hand() -> None:
    labels = np.array([1, 0])
    assert metrics.brier(labels, np.array([0.8, 0.4])) == pytest.approx((0.04 + 0.16) / 2)
    assert metrics.log_loss(labels, np.array([0.8, 0.4])) == pytest.approx(
        -(np.log(0.8) + np.log(0.6)) / 2)
    assert np.isfinite(metrics.log_loss(labels, np.array([0.0, 1.0])))


def test_calibration_table_and_threshold_curve_by_hand() -> None:
    p = np.array([0.05, 0.07, 0.55, 0.58, 0.95, 1.0])
    labels = np.array([0, 0, 1, 0, 1, 1])
    table = metrics.calibration_table(labels, p)
    assert table["bin"].tolist() == [0.0, 0.5, 0.9]
    assert table["count"].tolist() == [2, 2, 2]
    assert table["observed"].tolist() == [0.0, 0.5, 1.0]
    curve = metrics.threshold_curve(p, np.array([-1, -1, 2, -1, 2, 2]), thresholds=(0, 0.5, 0.9))
    assert curve["trades"].tolist() == [6, 4, 2]
    assert curve["total_r"].tolist() == [3.0, 5.0, 4.0]
    assert curve["expected_r"].tolist() == [0.5, 1.25, 2.0]
