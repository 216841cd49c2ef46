"""Findings and the Theory section quote the version's learning verdict, read from the model
registry (never trained there): the champion, else the newest model, pooled or not, or "no
model trained yet"."""

from __future__ import annotations

import json

import pytest

from engine.kb.findings import write_findings
from engine.kb.verified import NO_MODEL, learning_verdict, theory_of
from engine.learn.registry import consider, save_model
from engine.settings import Settings
from engine.setups.store import SetupStore
from tests.conftest import ROOT
from tests.learn._registry_fixtures import DATASET_META, evaluation, tiny_model

SMA = (ROOT / "examples" / "setups" / "sma-cross.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def model():
    return tiny_model()  # a real (tiny) XGBoost fit, shared by the tests


@pytest.fixture()
def settings(tmp_path):
    settings = Settings(home=tmp_path, analyst="anna", _env_file=None)
    store = SetupStore.from_settings(settings)
    store.save(SMA)  # sma-cross v1
    store.save(SMA.replace("fast: 10", "fast: 12"))  # sma-cross v2
    return settings


def meta(version: int, **extra) -> dict:
    return {**DATASET_META, "setup_id": "sma-cross", "setup_version": version, **extra}


def test_without_a_model_findings_say_so(settings):
    text = write_findings(settings, "sma-cross", 1).read_text("utf-8")
    assert f"Learning: {NO_MODEL}." in text
    assert "not built yet" not in text


def test_findings_quote_the_champions_verdict(settings, model):
    card = save_model(settings, model, evaluation(auc=0.62, low=0.55), meta(1))
    assert consider(settings, card).promoted

    said = (f"champion model {card.model_id} (trained {card.trained_at[:10]}): better than "
            "chance, AUC 0.62 [0.55, 0.68] on 300 out-of-sample signals")
    assert learning_verdict(settings, "sma-cross", 1) == said
    assert f"Learning: {said}." in write_findings(settings, "sma-cross", 1).read_text("utf-8")
    assert theory_of(settings, "sma-cross", 1).learning == said
    assert learning_verdict(settings, "sma-cross", 2) == NO_MODEL  # per version


def test_a_model_worse_than_chance_is_called_so(settings, model):
    card = save_model(settings, model, evaluation(auc=0.40, low=0.35), meta(2))
    assert not consider(settings, card).promoted  # stays a challenger
    assert learning_verdict(settings, "sma-cross", 2) == (
        f"challenger model {card.model_id} (trained {card.trained_at[:10]}): worse than "
        "chance, AUC 0.40 [0.35, 0.46] on 300 out-of-sample signals")


def test_a_pooled_model_names_its_pool(settings, model):
    pool = {"members": ["sma-cross@1", "london-fvg@3"], "rows": 1313,
            "signals": {"sma-cross@1": 40, "london-fvg@3": 1273}}
    card = save_model(settings, model, evaluation(auc=0.47, low=0.43, n=1313), meta(1, pool=pool))
    assert not consider(settings, card).promoted
    said = learning_verdict(settings, "sma-cross", 1)
    assert said.startswith(f"challenger pooled model {card.model_id} over 2 setups")
    assert "this setup's own 40 signals are too few to judge alone" in said
    assert said.endswith("not better than chance, AUC 0.47 [0.43, 0.53] on 1,313 "
                         "out-of-sample signals")


def test_a_champion_not_synced_yet_is_said_not_raised(settings, model):
    card = save_model(settings, model, evaluation(), meta(1))
    consider(settings, card)
    pointer = card.path.parent / "champion.json"
    pointer.write_text(json.dumps({**json.loads(pointer.read_text()), "model_id": "feedbeef"}))
    said = learning_verdict(settings, "sma-cross", 1)
    assert said.startswith("the model registry cannot be read: ") and "feedbeef" in said
    assert f"Learning: {said}." in write_findings(settings, "sma-cross", 1).read_text("utf-8")
