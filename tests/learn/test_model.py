"""The model: deterministic bytes, calibrated probabilities, contributions, baselines on the same
splits, tables that add up, and no information from later signals in earlier predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.errors import DataError
from engine.learn import metrics
from engine.learn.model import Calibrator, evaluate, fit_calibrator, train
from tests.learn.synthetic import market

TREES = 40


@pytest.fixture(scope="module")
def dataset():
    return market(360, dependent=True, seed=11, missing=0.05)


@pytest.fixture(scope="module")
def evaluation(dataset):
    return evaluate(dataset, trees=TREES)


@pytest.fixture(scope="module")
def model(dataset):
    return train(dataset, trees=TREES)


def test_two_trainings_give_identical_bytes(dataset, model) -> None:
    again = train(dataset, trees=TREES)
    assert again.booster_bytes == model.booster_bytes
    assert again.calibrator == model.calibrator
    assert again.params == model.params
    other_seed = train(dataset, trees=TREES, seed=1)
    assert other_seed.booster_bytes != model.booster_bytes


def test_evaluation_is_deterministic(dataset, evaluation) -> None:
    again = evaluate(dataset, trees=TREES)
    assert (again.auc, again.auc_low, again.auc_high, again.brier, again.log_loss) == (
        evaluation.auc, evaluation.auc_low, evaluation.auc_high, evaluation.brier,
        evaluation.log_loss)
    pd.testing.assert_frame_equal(again.oof, evaluation.oof)


def test_probabilities_are_calibrated_and_contributions_add_up(dataset, model) -> None:
    rows = dataset.frame.head(25)
    p = model.probability(rows)
    assert p.shape == (25,) and ((p > 0) & (p < 1)).all()
    assert model.calibrator is not None
    np.testing.assert_allclose(p, model.calibrator.apply(model.raw_score(rows)))
    contributions = model.contributions(rows)
    assert list(contributions.columns) == [*dataset.features, "bias"]
    assert contributions.index.equals(rows.index)
    raw = model.raw_score(rows)
    np.testing.assert_allclose(contributions.sum(axis=1), np.log(raw / (1 - raw)), atol=1e-4)


def test_a_model_rebuilt_from_bytes_and_json_calibrator_predicts_the_same(dataset, model) -> None:
    from engine.learn.model import TrainedModel

    calibrator = Calibrator.from_dict(json.loads(json.dumps(model.calibrator.to_dict())))
    rebuilt = TrainedModel(features=model.features, booster_bytes=model.booster_bytes,
                           calibrator=calibrator, params=model.params)
    rows = dataset.frame.tail(30)
    np.testing.assert_array_equal(rebuilt.probability(rows), model.probability(rows))


def test_missing_feature_column_names_it(model, dataset) -> None:
    with pytest.raises(DataError, match="noise_2"):
        model.probability(dataset.frame.drop(columns=["noise_2"]))


def test_tables_add_up_and_baselines_are_present(dataset, evaluation) -> None:
    assert evaluation.folds == 5
    assert evaluation.n == len(evaluation.oof) == evaluation.calibration["count"].sum()
    assert evaluation.n == 300  # the oldest 60 of 360 only train
    assert set(evaluation.baselines) == {"constant", "logistic"}
    for scores in evaluation.baselines.values():
        assert set(scores) == {"auc", "brier", "log_loss"}
    assert evaluation.baselines["constant"]["auc"] == pytest.approx(0.5, abs=0.05)
    tested = dataset.frame.set_index("signal_id").loc[evaluation.oof["signal_id"]]
    assert evaluation.positives == tested["hit_target"].sum()
    curve = evaluation.thresholds
    assert curve["trades"].iloc[0] == evaluation.n
    assert curve["expected_r"].iloc[0] == pytest.approx(tested["r_multiple"].mean())
    assert (np.diff(curve["trades"]) <= 0).all()
    assert evaluation.calibration["observed"].between(0, 1).all()
    folds = evaluation.by_fold
    assert folds["fold"].tolist() == [0, 1, 2, 3, 4]
    assert folds["test_signals"].sum() == evaluation.n
    assert folds["positives"].sum() == evaluation.positives
    assert (np.diff(folds["train_signals"]) > 0).all()
    assert (folds["test_start"].iloc[1:].to_numpy() > folds["test_end"].iloc[:-1].to_numpy()).all()


def test_earlier_predictions_do_not_see_later_signals(dataset, evaluation) -> None:
    """Flip every outcome after the third fold's test block starts: the first folds' probabilities
    (model, calibrator and all) must not move."""
    oof = evaluation.oof
    third_fold_start = oof.index[oof["fold"] == 2].min()
    cut = dataset.frame.index[dataset.frame["signal_id"] == oof.loc[third_fold_start,
                                                                    "signal_id"]][0]
    frame = dataset.frame.copy()
    frame.loc[cut:, "hit_target"] = 1 - frame.loc[cut:, "hit_target"]
    altered = evaluate(type(dataset)(frame=frame, features=dataset.features, meta=dataset.meta),
                       trees=TREES)
    early = oof["fold"] < 2
    np.testing.assert_array_equal(altered.oof.loc[early, "probability"],
                                  oof.loc[early, "probability"])
    assert not np.array_equal(altered.oof.loc[~early, "probability"],
                              oof.loc[~early, "probability"])


def test_too_few_signals_give_a_not_yet_verdict_not_an_error() -> None:
    small = market(40, dependent=True)
    result = evaluate(small, trees=TREES)
    assert not result.better_than_chance
    assert result.n == 0 and result.oof.empty and result.calibration.empty
    positives = small.frame["hit_target"].sum()
    assert result.verdict == (f"not yet — 40 signals ({positives} reached target); a walk-forward "
                              "test needs at least 55: need more signals")


def test_signals_all_open_past_every_test_block_say_so() -> None:
    data = market(120)
    frame = data.frame.assign(outcome_at=data.frame["known_at"].max() + pd.Timedelta(hours=1))
    result = evaluate(type(data)(frame=frame, features=data.features, meta=data.meta), trees=5)
    assert "after purging overlapping signals no fold keeps 50 to train on" in result.verdict


def test_one_outcome_only_is_not_yet_and_cannot_train() -> None:
    data = market(120, dependent=False)
    frame = data.frame.assign(hit_target=0)
    same = type(data)(frame=frame, features=data.features, meta=data.meta)
    assert evaluate(same, trees=TREES).verdict == (
        "not yet — 120 signals (0 reached target); a model needs signals that reached target and "
        "signals that did not: need more signals")
    with pytest.raises(DataError, match="same outcome"):
        train(same, trees=TREES)


def test_calibrator_is_isotonic_with_enough_of_both_outcomes_else_platt() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random(400)
    labels = (rng.random(400) < raw).astype(int)
    assert fit_calibrator(raw, labels).kind == "isotonic"
    few = fit_calibrator(raw[:60], labels[:60])
    assert few.kind == "platt" and few.slope > 0
    assert fit_calibrator(raw, np.zeros(400, dtype=int)) is None
    p = fit_calibrator(raw, labels).apply(np.array([0.0, 0.5, 1.0]))
    assert (np.diff(p) >= 0).all() and p.min() >= metrics.PROBABILITY_FLOOR


def test_unknown_calibrator_kind_is_a_data_error() -> None:
    with pytest.raises(DataError, match="unknown kind 'beta'"):
        Calibrator.from_dict({"kind": "beta"})


def test_evaluation_round_trips_through_json(evaluation) -> None:
    from engine.learn.model import Evaluation

    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))
    back = Evaluation.from_dict(data)
    assert back.verdict == evaluation.verdict and back.n == evaluation.n
    assert back.auc_low == evaluation.auc_low and back.baselines == evaluation.baselines
    pd.testing.assert_frame_equal(back.calibration, evaluation.calibration)
    pd.testing.assert_frame_equal(back.thresholds, evaluation.thresholds)
    pd.testing.assert_frame_equal(back.by_fold, evaluation.by_fold, check_dtype=False)
    assert back.oof.empty


def test_a_not_yet_evaluation_round_trips_through_strict_json() -> None:
    from engine.learn.model import Evaluation

    result = evaluate(market(40), trees=TREES)
    back = Evaluation.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert np.isnan(back.auc) and back.verdict == result.verdict and back.calibration.empty
    assert back.by_fold is None and result.by_fold is None


def test_infinite_feature_values_count_as_missing() -> None:
    data = market(200, seed=4)
    frame = data.frame.copy()
    frame.loc[::7, "noise_1"] = np.inf
    frame.loc[3::11, "noise_2"] = -np.inf
    infinite = type(data)(frame=frame, features=data.features, meta=data.meta)
    model = train(infinite, trees=10)
    as_nan = frame.replace([np.inf, -np.inf], np.nan)
    np.testing.assert_array_equal(model.probability(frame), model.probability(as_nan))
    assert np.isfinite(evaluate(infinite, trees=10).auc)


def test_one_live_signal_is_scored_and_explained_in_a_few_milliseconds(dataset, model) -> None:
    import time

    row = dataset.frame.tail(1)
    model.probability(row)
    times = []
    for _ in range(21):
        start = time.perf_counter()
        model.probability(row)
        model.contributions(row)
        times.append(time.perf_counter() - start)
    assert sorted(times)[10] < 0.010  # the live alert's budget is 20 ms with the similar cases
