"""Explanations (signs match the contributions, plain words) and similar past cases (nearest
neighbours on a hand-made case, NaN-safe, only outcomes known at the time)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from engine.learn.explain import (
    SimilarIndex,
    display_name,
    explain,
    feature_weights,
    format_value,
    similar,
    typical_values,
)
from tests.learn._registry_fixtures import FEATURES, synthetic_frame, tiny_model


@dataclass(frozen=True)
class DatasetShape:
    frame: pd.DataFrame
    features: tuple[str, ...]
    meta: dict


@pytest.fixture(scope="module")
def model():
    return tiny_model(trees=20)


def test_strengths_and_weaknesses_match_the_contributions(model) -> None:
    frame = synthetic_frame(15, seed=5)
    typical = typical_values(synthetic_frame(), FEATURES)
    for i in range(len(frame)):
        row = frame.iloc[[i]]
        explanation = explain(model, row, top=3, typical=typical)
        contributions = model.contributions(row[list(FEATURES)]).iloc[0]
        assert explanation.probability == pytest.approx(float(model.probability(row)[0]))
        for reason in explanation.strengths:
            assert reason.contribution == pytest.approx(contributions[reason.feature])
            assert reason.contribution > 0
            assert reason.effect > 0 and "(+" in reason.text
        for reason in explanation.weaknesses:
            assert reason.contribution == pytest.approx(contributions[reason.feature])
            assert reason.contribution < 0
            assert reason.effect < 0 and "(−" in reason.text
        strongest = contributions[list(FEATURES)].idxmax()
        if contributions[strongest] > 0:
            assert explanation.strengths[0].feature == strongest
        weakest = contributions[list(FEATURES)].idxmin()
        if contributions[weakest] < 0:
            assert explanation.weaknesses[0].feature == weakest


def test_the_explanation_reads_like_a_trader_would_say_it(model) -> None:
    row = synthetic_frame(1).assign(gap_atr=3.0, sweep_depth_atr=0.5, minutes_into_session=35.0)
    explanation = explain(model, row, top=1, typical={"gap_atr": 1.2})
    assert len(explanation.strengths) <= 1 and len(explanation.weaknesses) <= 1
    gap = explanation.strengths[0]
    assert gap.feature == "gap_atr"  # the label truly depends on the gap
    assert gap.text.startswith("gap 3.0× ATR: above this setup's usual (+0.")
    assert explanation.lines()[0] == f"+ {gap.text}"
    effect = 1 / (1 + math.exp(-(sum_margin := _margin(model, row)))) - 1 / (
        1 + math.exp(-(sum_margin - gap.contribution)))
    assert gap.effect == pytest.approx(effect)


def _margin(model, row) -> float:
    return float(model.contributions(row[list(FEATURES)]).iloc[0].sum())


def test_display_names_and_units() -> None:
    # the names of engine/learn/features.py (features_v1)
    assert display_name("fvg_size_atr") == ("fvg size", "atr")
    assert display_name("sweep_depth_atr") == ("sweep depth", "atr")
    assert display_name("sweep_bars_since") == ("bars since the sweep", "bars")
    assert display_name("bos_direction") == ("bos direction", "side")
    assert display_name("session_minutes") == ("minutes into the session", "min")
    assert display_name("param_fvg_min_size_atr") == ("setup parameter fvg min size", "atr")
    assert display_name("gap_atr") == ("gap", "atr")
    assert display_name("bars_since_bos") == ("bars since bos", "bars")
    assert format_value(0.823, "rank") == "82nd percentile"
    assert format_value(0.11, "rank") == "11th percentile"
    assert format_value(1.0, "trade") == "long" and format_value(1.0, "flag") == "yes"
    assert format_value(1.84, "atr") == "1.8× ATR"
    assert format_value(2.0, "weekday") == "Wednesday"
    assert format_value(-1.0, "side") == "down"
    assert format_value(float("nan"), "atr") == "unknown"


def _hand_made() -> DatasetShape:
    known = pd.date_range("2024-03-01", periods=6, freq="1D", tz="UTC")
    frame = pd.DataFrame({
        "gap_atr":    [1.0, 1.1, 3.0, 0.9, 5.0, np.nan],
        "stop_atr":   [1.0, 1.0, 1.0, 2.0, 1.0, 1.0],
        "known_at": known, "outcome_at": known + pd.Timedelta(hours=2),
        "hit_target": [1, 1, 0, 0, 1, 1], "r_multiple": [2.0, 2.0, -1.0, -1.0, 2.0, 2.0],
        "signal_id": [f"s{i}" for i in range(6)], "setup_id": "a",
    })
    return DatasetShape(frame=frame, features=("gap_atr", "stop_atr"), meta={})


def test_nearest_neighbours_on_a_hand_made_case() -> None:
    dataset = _hand_made()
    row = pd.DataFrame({"gap_atr": [1.02], "stop_atr": [1.0], "signal_id": ["new"],
                        "setup_id": ["a"], "known_at": [pd.Timestamp("2024-04-01", tz="UTC")]})
    cases = similar(dataset, row, k=3)
    # gap: mean 2.2, spread 1.60 over the five known values; stop: mean 7/6, spread 0.37.
    # s0 is 0.02 gap away (0.012 sd), s1 0.08 (0.05 sd), s5 has no gap and counts as the mean
    # (0.74 sd), s2 1.23 sd, s3 2.7 sd (its stop), s4 2.5 sd
    assert list(cases.rows["signal_id"]) == ["s0", "s1", "s5"]
    assert cases.rows["distance"].is_monotonic_increasing
    assert cases.reached == 3 and cases.average_r == 2.0
    expected = [0.02 / np.std([1.0, 1.1, 3.0, 0.9, 5.0]), 0.08 / np.std([1.0, 1.1, 3.0, 0.9, 5.0]),
                1.18 / np.std([1.0, 1.1, 3.0, 0.9, 5.0])]
    np.testing.assert_allclose(cases.rows["distance"], expected, rtol=1e-9)
    assert cases.summary == "3 of the 3 most similar reached target"
    assert similar(dataset, row, k=10).summary == "4 of the 6 most similar reached target"


def test_a_missing_feature_of_the_signal_does_not_count() -> None:
    dataset = _hand_made()
    row = pd.DataFrame({"gap_atr": [np.nan], "stop_atr": [2.0], "signal_id": ["new"],
                        "setup_id": ["a"], "known_at": [pd.Timestamp("2024-04-01", tz="UTC")]})
    cases = similar(dataset, row, k=1)
    assert list(cases.rows["signal_id"]) == ["s3"] and cases.rows["distance"].iloc[0] == 0.0
    assert cases.summary == "the most similar past signal did not reach target"


def test_only_outcomes_known_at_the_signal_and_its_own_setup() -> None:
    dataset = _hand_made()
    third = dataset.frame.iloc[[3]]  # known 2024-03-04: only s0..s2 had outcomes by then
    cases = similar(dataset, third, k=10)
    assert set(cases.rows["signal_id"]) == {"s0", "s1", "s2"}
    everything = similar(dataset, third, k=10, known_only=False)
    assert "s3" not in set(everything.rows["signal_id"]) and len(everything.rows) == 5
    pending = DatasetShape(dataset.frame.assign(outcome_at=dataset.frame["outcome_at"].where(
        dataset.frame["signal_id"] != "s1")), dataset.features, {})
    assert set(similar(pending, third).rows["signal_id"]) == {"s0", "s2"}  # s1: no outcome yet
    other_setup = third.assign(setup_id="b")
    assert similar(dataset, other_setup).summary == "no similar past signals yet"


def test_a_prepared_index_answers_like_the_dataset() -> None:
    frame = synthetic_frame(400, seed=2)
    frame.loc[::7, "sweep_depth_atr"] = np.nan
    dataset = DatasetShape(frame=frame, features=FEATURES, meta={})
    index = SimilarIndex(dataset)
    for i in (50, 200, 399):
        row = frame.iloc[[i]]
        by_index, by_dataset = similar(index, row), similar(dataset, row)
        pd.testing.assert_frame_equal(by_index.rows, by_dataset.rows)
        assert len(by_index.rows) == 10 and by_index.summary == by_dataset.summary
        assert (by_index.rows["outcome_at"] <= row["known_at"].iloc[0]).all()
        assert row["signal_id"].iloc[0] not in set(by_index.rows["signal_id"])


def test_weights_make_neighbours_alike_in_what_matters(model) -> None:
    dataset = _hand_made()
    row = pd.DataFrame({"gap_atr": [0.92], "stop_atr": [1.0], "signal_id": ["new"],
                        "setup_id": ["a"], "known_at": [pd.Timestamp("2024-04-01", tz="UTC")]})
    # unweighted, s3's stop (2.0 vs 1.0) pushes it behind s0 and s1
    assert list(similar(dataset, row, k=3).rows["signal_id"]) == ["s0", "s1", "s5"]
    # weight on the gap only: s3 (gap 0.9) is the nearest, s4 (gap 5.0) the farthest
    by_gap = similar(dataset, row, k=6, weights={"gap_atr": 1.0, "stop_atr": 0.0})
    assert list(by_gap.rows["signal_id"])[:3] == ["s3", "s0", "s1"]
    assert by_gap.rows["signal_id"].iloc[-1] == "s4"
    weights = feature_weights(model, synthetic_frame(200, seed=4))
    assert max(weights, key=weights.get) == "gap_atr"  # the label depends on the gap
    assert sum(weights.values()) == pytest.approx(len(FEATURES))
