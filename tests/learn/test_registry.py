"""The model registry: round trip, reproducible ids and bytes, champion/challenger decisions,
and a crash before the pointer leaves the old champion."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from engine.learn import registry
from engine.learn.registry import (
    RegistryError,
    champion,
    consider,
    list_models,
    load_model,
    promote,
    save_model,
)
from engine.settings import get_settings
from tests.learn._registry_fixtures import (
    DATASET_META,
    FEATURES,
    evaluation,
    synthetic_frame,
    tiny_model,
)


@pytest.fixture()
def settings(ita_home):
    return get_settings()


def _save(settings, *, seed=0, **numbers):
    return save_model(settings, tiny_model(seed=seed, trees=8 + seed), evaluation(**numbers),
                      DATASET_META)


def test_round_trip_gives_the_same_probabilities(settings) -> None:
    model = tiny_model()
    card = save_model(settings, model, evaluation(), DATASET_META)
    loaded, loaded_card = load_model(settings, card.model_id)
    X = synthetic_frame(50, seed=7)
    np.testing.assert_array_equal(loaded.probability(X), model.probability(X))
    assert loaded.features == FEATURES
    assert loaded.booster_bytes == model.booster_bytes
    assert loaded_card == card
    folder = settings.shared_kb_dir / "analysts" / "analyst" / "models" / "london-fvg" / "v0003"
    assert sorted(p.name for p in (folder / card.model_id).iterdir()) == [
        "calibrator.json", "card.json", "features.json", "model.ubj"]
    stored = json.loads((folder / card.model_id / "calibrator.json").read_text())
    assert stored["kind"] == "isotonic" and len(stored["x"]) == len(stored["y"]) > 1
    assert card.metrics["auc"] == 0.62 and card.metrics["threshold"] == 0.4
    assert card.metrics["expected_r"] == 0.30 and card.metrics["trades_kept"] == 120


def test_uncalibrated_model_round_trips(settings) -> None:
    model = tiny_model(calibrated=False)
    card = save_model(settings, model, evaluation(), DATASET_META)
    loaded, _ = load_model(settings, card.model_id[:6])
    X = synthetic_frame(20, seed=3)
    assert loaded.calibrator is None
    np.testing.assert_array_equal(loaded.probability(X), model.probability(X))


def test_same_inputs_give_the_same_id_and_bytes(settings, tmp_path, monkeypatch) -> None:
    first = save_model(settings, tiny_model(), evaluation(), DATASET_META)
    files = {p.name: p.read_bytes() for p in first.path.iterdir()}
    monkeypatch.setenv("ITA_HOME", str(tmp_path / "other"))
    second = save_model(get_settings(), tiny_model(), evaluation(), DATASET_META)
    assert second.model_id == first.model_id
    for name in ("model.ubj", "calibrator.json", "features.json"):
        assert (second.path / name).read_bytes() == files[name]
    other = save_model(get_settings(), tiny_model(trees=13), evaluation(), DATASET_META)
    assert other.model_id != first.model_id


def test_saving_the_same_model_again_writes_nothing(settings) -> None:
    card = save_model(settings, tiny_model(), evaluation(), DATASET_META)
    before = (card.path / "card.json").stat().st_mtime_ns
    again = save_model(settings, tiny_model(), evaluation(), DATASET_META)
    assert again == card and (card.path / "card.json").stat().st_mtime_ns == before
    assert len(list_models(settings)) == 1


def test_first_model_better_than_chance_becomes_champion(settings) -> None:
    card = _save(settings)
    decision = consider(settings, card)
    assert decision.promoted and "better than chance" in decision.reason
    assert champion(settings, "london-fvg", 3).model_id == card.model_id
    assert [c.status for c in list_models(settings, "london-fvg")] == ["champion"]


def test_a_model_no_better_than_chance_never_becomes_champion(settings) -> None:
    card = _save(settings, auc=0.53, low=0.47)
    decision = consider(settings, card)
    assert not decision.promoted
    assert decision.reason.startswith("not better than chance: AUC 0.53 [0.47, 0.59]")
    assert champion(settings, "london-fvg", 3) is None
    assert list_models(settings)[0].status == "challenger"


def test_challenger_must_beat_champion_on_auc_and_expected_r(settings) -> None:
    first = _save(settings, auc=0.60, expected_r=0.30)
    consider(settings, first)
    better_auc_only = _save(settings, seed=1, auc=0.65, expected_r=0.25)
    decision = consider(settings, better_auc_only)
    assert not decision.promoted
    assert "on expected R" in decision.reason and "AUC 0.650 vs 0.600" in decision.reason
    equal = _save(settings, seed=2, auc=0.60, expected_r=0.40)
    assert "on AUC" in consider(settings, equal).reason
    assert champion(settings, "london-fvg", 3).model_id == first.model_id
    winner = _save(settings, seed=3, auc=0.64, expected_r=0.35)
    decision = consider(settings, winner)
    assert decision.promoted and decision.champion.model_id == first.model_id
    assert champion(settings, "london-fvg", 3).model_id == winner.model_id
    statuses = {c.model_id: (c.status, c.reason) for c in list_models(settings)}
    assert statuses[winner.model_id] == ("champion", decision.reason)
    assert statuses[first.model_id][0] == "challenger"
    assert statuses[first.model_id][1].startswith("former champion (first model of london-fvg@3")
    assert statuses[equal.model_id][1].startswith("does not beat the champion")
    again = consider(settings, winner)
    assert not again.promoted and again.reason == "already the champion"
    assert champion(settings, "london-fvg", 3).model_id == winner.model_id


def test_different_splits_are_not_compared(settings) -> None:
    consider(settings, _save(settings, auc=0.60, n=300))
    other = _save(settings, seed=1, auc=0.70, expected_r=0.5, n=360)
    decision = consider(settings, other)
    assert not decision.promoted and "other splits (300 signals vs 360)" in decision.reason
    rerun = evaluation(auc=0.58, expected_r=0.2, n=360)
    assert consider(settings, other, champion_evaluation=rerun).promoted


def test_a_crash_before_the_pointer_leaves_the_old_champion(settings, monkeypatch) -> None:
    old = _save(settings)
    consider(settings, old)
    new = _save(settings, seed=1, auc=0.70, expected_r=0.5)
    real_replace = os.replace

    def crash_on_pointer(src, dst):
        if str(dst).endswith("champion.json"):
            raise KeyboardInterrupt("power cut")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_pointer)
    with pytest.raises(KeyboardInterrupt):
        consider(settings, new)
    monkeypatch.setattr(os, "replace", real_replace)
    assert champion(settings, "london-fvg", 3).model_id == old.model_id
    pointer_folder = champion(settings, "london-fvg", 3).path.parent
    assert [p.name for p in pointer_folder.iterdir() if p.name.startswith(".")] == []


def test_a_crash_while_saving_leaves_no_model(settings, monkeypatch) -> None:
    real_replace = os.replace

    def crash(src, dst):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _save(settings)
    monkeypatch.setattr(os, "replace", real_replace)
    assert list_models(settings) == []


def test_promote_by_hand_and_unknown_ids(settings) -> None:
    weak = _save(settings, auc=0.52, low=0.45)
    consider(settings, weak)
    promote(settings, weak.model_id)
    assert champion(settings, "london-fvg", 3).model_id == weak.model_id
    with pytest.raises(RegistryError, match="no such model"):
        promote(settings, "ffffffff")
    with pytest.raises(RegistryError, match="setup_id"):
        save_model(settings, tiny_model(), evaluation(), {"symbol": "BTC/USDT"})


def test_models_of_other_analysts_are_listed_but_not_your_champion(settings, monkeypatch) -> None:
    monkeypatch.setenv("ITA_ANALYST", "boris")
    boris = get_settings()
    card = _save(boris)
    consider(boris, card)
    assert champion(boris, "london-fvg", 3).model_id == card.model_id
    assert champion(settings, "london-fvg", 3) is None
    assert [(c.analyst, c.status) for c in list_models(settings)] == [("boris", "challenger")]
    assert registry.find_model(settings, card.model_id).analyst == "boris"


def test_a_damaged_card_is_left_out_of_the_list_and_named(settings) -> None:
    good = _save(settings)
    broken = _save(settings, seed=1)
    (broken.path / "card.json").write_text('{"model_id": "trunc')
    assert [c.model_id for c in list_models(settings)] == [good.model_id]
    problems = registry.unreadable_models(settings)
    assert len(problems) == 1 and broken.model_id in problems[0] and "unreadable" in problems[0]


def test_a_model_of_too_few_signals_is_stored_and_says_so(settings) -> None:
    empty = evaluation(n=0)
    nan = float("nan")
    too_few = dataclasses.replace(
        empty, auc=nan, auc_low=nan, auc_high=nan, brier=nan, log_loss=nan, folds=0,
        better_than_chance=False, verdict="not yet — 30 signals (9 reached target); need more",
        thresholds=empty.thresholds.iloc[0:0], calibration=empty.calibration.iloc[0:0])
    card = save_model(settings, tiny_model(), too_few, DATASET_META)
    assert card.metrics["auc"] is None and card.metrics["trades_kept"] == 0
    decision = consider(settings, card)
    assert not decision.promoted
    assert decision.reason == ("not better than chance: not yet — 30 signals (9 reached target); "
                               "need more — no champion yet")
    assert json.loads((card.path / "card.json").read_text())["metrics"]["auc"] is None
