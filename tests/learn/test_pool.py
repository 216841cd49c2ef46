"""Pooled models (issue 13): a setup version with too few signals of its own shares one model
trained on the signals of every active setup version (the setup as a feature), evaluated
walk-forward on the pooled signals, registered for each small member with a verdict naming the
pool and its own count; its explanations use the pooled model, its similar cases come from its
own setup's signals (the pool's when it has fewer than k, said so); a setup with enough signals
keeps its own model; the same inputs give the same bytes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.learn import ops
from engine.learn.dataset import Dataset
from engine.learn.registry import BOOSTER, champion, list_models, load_model
from engine.settings import Settings

FAST = {"folds": 3, "trees": 15}


def setup_market(setup_id: str, n: int, *, seed: int, offset_minutes: int = 0,
                 extra: str | None = None) -> Dataset:
    """`n` signals of `setup_id` two hours apart whose outcome depends on ``edge``."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 2))
    hit = (rng.random(n) < 1 / (1 + np.exp(-2.5 * values[:, 0]))).astype(np.int64)
    frame = pd.DataFrame(values, columns=["edge", "noise"])
    features = ["edge", "noise"]
    if extra:  # a parameter of this setup alone
        frame[extra] = 3.0
        features.append(extra)
    known = pd.date_range("2024-01-01", periods=n, freq="2h", tz="UTC") \
        + pd.Timedelta(minutes=offset_minutes)
    frame["known_at"] = known
    frame["outcome_at"] = known + pd.Timedelta(minutes=90)
    frame["hit_target"] = hit
    frame["r_multiple"] = np.where(hit == 1, 2.0, -1.0)
    frame["side"] = 1
    frame["signal_id"] = pd.Series([f"{setup_id}-{i:05d}" for i in range(n)], dtype=object)
    frame["symbol"] = "EURUSD"
    frame["setup_id"] = setup_id
    frame["setup_version"] = 1
    meta = {"setup_id": setup_id, "setup_version": 1, "symbol": "EURUSD",
            "rule_hash": f"r-{setup_id}", "feature_set": "features_v1", "rows": n,
            "data_hash": f"h-{setup_id}-{n}"}
    return Dataset(frame, tuple(features), meta)


def pool_of_three() -> dict[str, Dataset]:
    return {"big@1": setup_market("big", 260, seed=1),
            "mid@1": setup_market("mid", 120, seed=2, offset_minutes=30),
            "tiny@1": setup_market("tiny", 10, seed=3, offset_minutes=50, extra="tiny_depth")}


@pytest.fixture()
def settings(ita_home):
    return Settings(home=ita_home)


def test_a_small_setup_gets_the_pooled_model_with_an_honest_verdict(settings):
    datasets = pool_of_three()
    result = ops.learn_pool(settings, datasets=datasets, **FAST)
    assert result.members == {"big@1": 260, "mid@1": 120, "tiny@1": 10}
    assert set(result.results) == {"tiny@1"}  # big and mid have enough of their own
    mine = result.results["tiny@1"]
    assert mine.trained and mine.pool == ("big@1", "mid@1", "tiny@1")
    card = mine.card
    assert card.ref == "tiny@1" and ops.is_pooled(card)
    assert card.dataset["pool"]["members"] == ["big@1", "mid@1", "tiny@1"]
    assert card.dataset["pool"]["signals"] == {"big@1": 260, "mid@1": 120, "tiny@1": 10}
    verdict = card.metrics["verdict"]
    assert verdict.startswith("pooled over 3 setups (390 signals): better than chance: AUC")
    assert verdict.endswith("this setup's own 10 signals are too few to judge alone")
    # the setup as a feature, and a setup's own parameter (NaN for the others)
    assert {"setup_big", "setup_mid", "setup_tiny", "tiny_depth"} <= set(card.features)
    assert card.status == "champion"  # better than chance: the first champion of tiny@1
    assert mine.to_dict()["pooled"] == ["big@1", "mid@1", "tiny@1"]
    assert champion(settings, "big", 1) is None and champion(settings, "mid", 1) is None


def test_the_pooled_model_explains_a_small_setups_signal_with_its_own_similar_cases(settings):
    datasets = pool_of_three()
    card = ops.learn_pool(settings, datasets=datasets, **FAST).results["tiny@1"].card
    model, card = load_model(settings, card.model_id)
    pool = ops.pool_of(card)
    assert pool is not None and len(pool.frame) == 390
    own = datasets["tiny@1"]
    last = str(own.frame["signal_id"].iloc[-1])
    row, explanation, cases = ops.signal_story(model, own, last, k=5, pool=pool)
    assert 0 < explanation.probability < 1
    assert explanation.strengths or explanation.weaknesses
    assert len(cases.rows) == 5 and set(cases.rows["setup_id"]) == {"tiny"}  # its own setup's
    assert "drawn from every setup" not in cases.summary
    assert row.iloc[0]["setup_tiny"] == 1.0 and row.iloc[0]["setup_big"] == 0.0
    # fewer than k of its own: the pool's, and said so
    _, _, wider = ops.signal_story(model, own, last, k=10, pool=pool)
    assert len(wider.rows) == 10 and set(wider.rows["setup_id"]) > {"tiny"}
    assert "this setup has only 9 earlier signals: drawn from every setup of the pool" \
        in wider.summary
    # past cases only: none of them is later than the signal
    assert (wider.rows["outcome_at"] <= row.iloc[0]["known_at"]).all()


def test_a_setup_with_its_own_champion_keeps_it(settings):
    datasets = pool_of_three()
    datasets["tiny@1"] = setup_market("tiny", 260, seed=3)  # enough of its own now
    own = ops.learn_dataset(settings, datasets["tiny@1"], **FAST)
    assert own.trained and own.card.status == "champion"
    datasets["tiny@1"] = setup_market("tiny", 10, seed=3)  # a smaller slice asked later
    result = ops.learn_pool(settings, datasets=datasets, **FAST)
    assert result.results == {} and result.evaluation is None  # nothing to pool for
    assert champion(settings, "tiny", 1).model_id == own.card.model_id


def test_the_same_inputs_give_the_same_pooled_bytes(tmp_path):
    ids, boosters = [], []
    for name in ("a", "b"):
        settings = Settings(home=tmp_path / name)
        card = ops.learn_pool(settings, datasets=pool_of_three(), **FAST).results["tiny@1"].card
        ids.append(card.model_id)
        boosters.append((card.path / BOOSTER).read_bytes())
        again = ops.learn_pool(settings, datasets=pool_of_three(), **FAST).results["tiny@1"]
        assert again.card.model_id == card.model_id  # trained again: nothing new stored
        assert len(list_models(settings, "tiny")) == 1
    assert ids[0] == ids[1] and boosters[0] == boosters[1]


def test_a_pool_too_small_for_a_walk_forward_test_says_so_and_trains_nothing(settings):
    datasets = {"tiny@1": setup_market("tiny", 10, seed=3),
                "small@1": setup_market("small", 20, seed=4, offset_minutes=30)}
    result = ops.learn_pool(settings, datasets=datasets, **FAST)
    assert set(result.results) == {"small@1", "tiny@1"}
    for mine in result.results.values():
        assert not mine.trained
        assert mine.evaluation.verdict.startswith("pooled over 2 setups (30 signals): not yet")
    assert list_models(settings) == []


def test_the_pooled_card_is_not_due_alone_until_the_setup_has_enough(settings):
    datasets = pool_of_three()
    ops.learn_pool(settings, datasets=datasets, **FAST)
    due = ops.due_for_training(settings, "tiny", 1, dataset=datasets["tiny@1"])
    assert not due.due and "pooled model" in due.reason
    grown = ops.due_for_training(settings, "tiny", 1, dataset=setup_market("tiny", 200, seed=3))
    assert grown.due and "enough for a model of its own" in grown.reason


def test_a_grown_pool_judges_each_members_champion_once_on_the_new_splits(settings,
                                                                          monkeypatch):
    from engine.learn import model

    datasets = pool_of_three()
    datasets["wee@1"] = setup_market("wee", 12, seed=5, offset_minutes=70)
    first = ops.learn_pool(settings, datasets=datasets, **FAST)
    assert {ref for ref, r in first.results.items() if r.card.status == "champion"} == \
        {"tiny@1", "wee@1"}
    calls = []
    evaluate = model.evaluate
    monkeypatch.setattr(model, "evaluate", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    datasets["new@1"] = setup_market("new", 14, seed=6, offset_minutes=90)  # the pool changed
    grown = ops.learn_pool(settings, datasets=datasets, **FAST)
    assert set(grown.results) == {"new@1", "tiny@1", "wee@1"}
    assert "setup_new" in grown.results["tiny@1"].card.features
    # the pooled evaluation, and the old champions' recipe once on the new splits (not per
    # member)
    assert len(calls) == 2
    for ref in ("tiny@1", "wee@1"):
        assert grown.results[ref].decision.champion.model_id == first.results[ref].card.model_id
