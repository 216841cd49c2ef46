"""The read-only engine helpers the Learning page is built on (engine/learn/ops.py):
`early_verdict` says "not yet" without fitting a model, `signal_story` explains one signal of a
dataset at hand, `latest_card` prefers the champion."""

from __future__ import annotations

import dataclasses

import pytest

from engine.learn import model as model_module
from engine.learn.ops import LearnError, early_verdict, signal_story
from tests.learn.synthetic import market


@pytest.fixture()
def no_fitting(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("early_verdict fitted a model")

    monkeypatch.setattr(model_module, "_fit", refuse)


def test_too_few_signals_say_not_yet_without_fitting(no_fitting):
    verdict = early_verdict(market(30))
    assert verdict is not None and verdict.n == 0
    assert verdict.verdict.startswith("not yet — 30 signals") and "need more" in verdict.verdict


def test_enough_signals_leave_the_verdict_to_the_evaluation(no_fitting):
    assert early_verdict(market(400)) is None


def test_one_outcome_only_says_not_yet(no_fitting):
    dataset = market(400)
    frame = dataset.frame.assign(hit_target=0, r_multiple=-1.0)
    verdict = early_verdict(dataclasses.replace(dataset, frame=frame))
    assert verdict is not None and "reached target and signals that did not" in verdict.verdict


def test_signal_story_explains_and_finds_similar_past_cases():
    dataset = market(300)
    trained = model_module.train(dataset, trees=15, folds=3)
    latest = dataset.frame["signal_id"].iloc[-1]
    row, explanation, cases = signal_story(trained, dataset, latest, k=10)
    assert row["signal_id"].iloc[0] == latest
    assert 0.0 < explanation.probability < 1.0
    assert len(cases.rows) == 10 and (cases.rows["known_at"] < row["known_at"].iloc[0]).all()
    with pytest.raises(LearnError, match="not among the 300 signals"):
        signal_story(trained, dataset, "nope-000000")
