"""The learning operation end to end: the demo candles through dataset, walk-forward evaluation,
training, registry and champion/challenger; symbols pooled; the retrain trigger; the ``learn``
job kind. Few trees and folds keep it fast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.demo import run_demo
from engine.errors import DataError, JobError
from engine.jobs.kinds import KINDS
from engine.learn.dataset import Dataset, load_dataset
from engine.learn.ops import (
    DATASET_FILE,
    LearnError,
    dataset_for,
    due_for_training,
    learn,
    learn_dataset,
    signal_row,
)
from engine.learn.registry import champion, list_models
from engine.settings import get_settings
from engine.setups.store import SetupStore

FAST = {"folds": 3, "trees": 15}


@pytest.fixture()
def settings(home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return get_settings()


def market(n: int, *, dependent: bool = True, seed: int = 0) -> Dataset:
    """Signals whose outcome depends on ``edge`` (or on nothing), two hours apart."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, 3))
    chance = 1 / (1 + np.exp(-2.0 * values[:, 0])) if dependent else np.full(n, 0.4)
    hit = (rng.random(n) < chance).astype(np.int64)
    frame = pd.DataFrame(values, columns=["edge", "noise_1", "noise_2"])
    known = pd.date_range("2024-01-01", periods=n, freq="2h", tz="UTC")
    frame["known_at"] = known
    frame["outcome_at"] = known + pd.Timedelta(minutes=90)
    frame["hit_target"] = hit
    frame["r_multiple"] = np.where(hit == 1, 2.0, -1.0)
    frame["side"] = 1
    frame["signal_id"] = pd.Series([f"syn-{i:05d}" for i in range(n)], dtype=object)
    frame["symbol"] = "EURUSD"
    frame["setup_id"] = "synthetic"
    frame["setup_version"] = 1
    meta = {"setup_id": "synthetic", "setup_version": 1, "symbol": "EURUSD",
            "rule_hash": "r1", "feature_set": "features_v1", "rows": n}
    return Dataset(frame, ("edge", "noise_1", "noise_2"), meta)


def test_learn_on_the_demo_saves_a_model_with_its_dataset_and_an_honest_verdict(settings):
    steps = []
    result = learn(settings, "sma-cross", progress=lambda f, m: steps.append((f, m)), **FAST)
    card = result.card
    assert (card.path / "model.ubj").is_file() and (card.path / "card.json").is_file()
    stored = load_dataset(result.dataset_path)
    assert result.dataset_path == card.path / DATASET_FILE
    assert len(stored.frame) == result.dataset_meta["rows"] == card.params["rows"] > 100
    assert stored.meta["setup_id"] == "sma-cross" and stored.meta["rule_hash"]
    # the demo's sma-cross reversed out of sample: said plainly, and not made the champion
    assert "chance" in result.evaluation.verdict and f"{result.evaluation.n}" in \
        result.evaluation.verdict.replace(",", "")
    assert not result.decision.promoted and "no champion yet" in result.decision.reason
    assert champion(settings, "sma-cross", card.setup_version) is None
    assert result.status == "challenger"
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(steps) >= 5
    job = result.to_dict()
    assert job["model_id"] == card.model_id and job["rows"] == len(stored.frame)

    files = {p: p.read_bytes() for p in card.path.iterdir()}
    again = learn(settings, "sma-cross", **FAST)
    assert again.card.model_id == card.model_id  # the same inputs: the same model
    assert {p: p.read_bytes() for p in card.path.iterdir()} == {
        **files, card.path / "decision.json": (card.path / "decision.json").read_bytes()}
    assert [c.model_id for c in list_models(settings, "sma-cross")] == [card.model_id]


def test_a_model_better_than_chance_becomes_champion_once(ita_home):
    settings = get_settings()
    first = learn_dataset(settings, market(300), **FAST)
    assert first.evaluation.better_than_chance, first.evaluation.verdict
    assert first.decision.promoted and first.status == "champion"
    assert "first model of synthetic@1" in first.decision.reason
    assert champion(settings, "synthetic", 1).model_id == first.card.model_id

    second = learn_dataset(settings, market(300), **FAST)
    assert second.card.model_id == first.card.model_id
    assert not second.decision.promoted and second.decision.reason == "already the champion"
    assert len(list_models(settings, "synthetic")) == 1


def test_more_signals_for_the_champions_recipe_replace_it_and_noise_does_not(ita_home):
    settings = get_settings()
    old = learn_dataset(settings, market(300), **FAST)
    grown = learn_dataset(settings, market(400), **FAST)  # 100 more signals, same recipe
    assert grown.card.model_id != old.card.model_id
    assert grown.decision.promoted, grown.decision.reason
    assert "retrained on" in grown.decision.reason
    assert champion(settings, "synthetic", 1).model_id == grown.card.model_id

    noise = learn_dataset(settings, market(450, dependent=False, seed=3), **FAST)
    assert not noise.decision.promoted and "not better than chance" in noise.decision.reason
    assert champion(settings, "synthetic", 1).model_id == grown.card.model_id
    statuses = {c.model_id: c.status for c in list_models(settings, "synthetic")}
    assert statuses[grown.card.model_id] == "champion"
    assert statuses[old.card.model_id] == statuses[noise.card.model_id] == "challenger"


def test_retraining_is_due_after_enough_new_outcomes(ita_home):
    settings = get_settings()
    never = due_for_training(settings, "synthetic", 1, dataset=market(300))
    assert never.due and never.trained == 0 and "never trained" in never.reason
    learn_dataset(settings, market(300), **FAST)
    few = due_for_training(settings, "synthetic", 1, dataset=market(340))
    assert not few.due and (few.known, few.trained) == (340, 300) and "+40" in few.reason
    many = due_for_training(settings, "synthetic", 1, dataset=market(350))
    assert many.due and "+50" in many.reason  # 50 signals (17 %)
    small = learn_dataset(settings, market(120, seed=1), **FAST)  # the latest, not champion
    assert champion(settings, "synthetic", 1).model_id != small.card.model_id
    share = due_for_training(settings, "synthetic", 1, dataset=market(361))
    assert share.due and share.trained == 300  # +20 % of the champion's 300


def test_every_symbol_of_the_setup_is_pooled_and_a_missing_one_named(settings):
    text = SetupStore.from_settings(settings).load("sma-cross").text
    store = SetupStore.from_settings(settings)
    version = store.save(text.replace("symbols: [BTC/USDT]",
                                      "symbols: [BTC/USDT, BTC/USD, ETH/USDT]"),
                         activate=False)
    ref = f"sma-cross@{version.version}"
    pooled = dataset_for(settings, ref)
    usdt = dataset_for(settings, ref, symbol="BTC/USDT")
    usd = dataset_for(settings, ref, symbol="BTC/USD")
    assert len(pooled.frame) == len(usdt.frame) + len(usd.frame)
    assert set(pooled.frame["symbol"]) == {"BTC/USDT", "BTC/USD"}
    assert pooled.features == usdt.features  # no constant setup_<id> column
    assert pooled.frame["known_at"].is_monotonic_increasing
    assert pooled.frame["signal_id"].is_unique
    meta = pooled.meta
    assert meta["skipped_symbols"] == ["ETH/USDT"] and meta["symbols"] == ["BTC/USDT", "BTC/USD"]
    assert (meta["setup_id"], meta["setup_version"]) == ("sma-cross", version.version)
    assert meta["rule_hash"] == usdt.meta["rule_hash"] and meta["rows"] == len(pooled.frame)
    with pytest.raises(DataError, match="ETH/USDT"):
        dataset_for(settings, ref, symbol="ETH/USDT")


def test_a_signal_is_found_by_its_id_or_a_prefix():
    dataset = market(50)
    assert signal_row(dataset, "syn-00007")["signal_id"].iloc[0] == "syn-00007"
    assert signal_row(dataset, " syn-00049 ").index[0] == 49
    with pytest.raises(LearnError, match="not among the 50 signals of synthetic"):
        signal_row(dataset, "syn-99999")
    with pytest.raises(LearnError, match="matches 10 signals"):
        signal_row(dataset, "syn-0000")


def test_the_learn_job_checks_its_parameters():
    kind = KINDS["learn"]
    assert kind.requeue
    params = kind.validate({"setup": "sma-cross@2"})
    assert (params.folds, params.trees, params.seed, params.symbol) == (5, 200, 0, None)
    for bad, field in (({"setup": "../etc"}, "setup"), ({"setup": "x", "folds": 1}, "folds"),
                       ({"setup": "x", "trees": 0}, "trees"), ({"setup": "x", "tree": 5}, "tree"),
                       ({}, "setup")):
        with pytest.raises(JobError, match=f"job parameter {field}"):
            kind.validate(bad)


def test_the_learn_job_runs_the_operation(settings):
    kind = KINDS["learn"]
    seen = []
    result = kind.run(kind.validate({"setup": "sma-cross", **FAST}),
                      lambda f, m: seen.append(f), job_id="j1")
    assert result["setup"].startswith("sma-cross@") and result["model_id"]
    assert result["status"] in {"champion", "challenger"} and result["verdict"]
    assert seen[-1] == 1.0


def test_too_few_signals_train_nothing_and_say_why(ita_home):
    settings = get_settings()
    result = learn_dataset(settings, market(30), **FAST)
    assert not result.trained and result.card is None and result.status == "not trained"
    assert "need" in result.evaluation.verdict
    assert result.to_dict()["trained"] is False and "model_id" not in result.to_dict()
    assert list_models(settings, "synthetic") == []


def test_a_learn_job_runs_in_the_engine_daemon(ita_home):
    from engine.jobs.bus import JobBus
    from tests.jobs._processes import engine_once

    run_demo()
    bus = JobBus.from_settings()
    job = bus.submit("learn", {"setup": "sma-cross", "end": "2023-03-08", **FAST})
    done = engine_once(ita_home)
    assert done.returncode == 0, done.stderr
    status = bus.status(job)
    assert status["state"] == "done" and status["progress"] == 1.0, status
    result = status["result"]
    card = list_models(get_settings(), "sma-cross")[0]
    assert result["model_id"] == card.model_id and result["trained"] is True
    assert result["rows"] == card.params["rows"] and result["verdict"]
