"""The Learning page answers from what the server built ahead (issue 10, speed of pages): the
keeper's `learn_ui.prebuild` fills the same cached loaders the page reads, so choosing a setup
and opening **Explain a signal** build no dataset and compute no story while the trader waits;
the similar cases' weights are computed once per model, not once per signal picked; a saved
label is a change of the dataset's inputs; each page run's server time can be logged for the
browser test."""

from __future__ import annotations

import json

import pytest

from app import learn_ui, state
from engine.learn import explain, ops
from tests.app._pages import page
from tests.app.test_learning_page import learned, trained_home  # noqa: F401  (fixtures)


def _settings():
    from engine.settings import get_settings

    return get_settings()


def _clear() -> None:
    for loader in (learn_ui._dataset, learn_ui._cards, learn_ui._model, learn_ui._story,
                   learn_ui._weights, learn_ui._case_weights, learn_ui._pool):
        loader.clear()
    learn_ui._prebuilt.clear()  # what the keeper built with: gone with the caches


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the page computed {what} while the trader waited")

    return refuse


def test_prebuilt_learning_page_builds_nothing_when_opened(learned, monkeypatch):  # noqa: F811
    from engine.learn.registry import promote

    promote(_settings(), ops.latest_card(_settings(), "sma-cross", 1).model_id)
    _clear()
    learn_ui.prebuild_active(_settings())
    monkeypatch.setattr(ops, "dataset_for", _refuse("a dataset"))
    monkeypatch.setattr(ops, "signal_story", _refuse("a signal's story"))
    monkeypatch.setattr(explain, "feature_weights", _refuse("feature weights"))
    at = page("learning")
    at.selectbox(key="learning_setup").set_value("sma-cross")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Signals" for m in at.metric)
    at.segmented_control(key="learning_view").set_value("Explain a signal")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.label == "Probability of reaching target" for m in at.metric)


def test_the_keeper_skips_a_version_built_with_the_same_stamps(learned, monkeypatch):  # noqa: F811
    settings = _settings()
    _clear()
    learn_ui.prebuild(settings, "sma-cross", 1)
    monkeypatch.setattr(learn_ui, "_dataset", _refuse("the dataset again"))
    learn_ui.prebuild(settings, "sma-cross", 1)  # the keeper's next round: nothing changed
    learn_ui._prebuilt.clear()
    with pytest.raises(AssertionError, match="the dataset again"):
        learn_ui.prebuild(settings, "sma-cross", 1)


def test_another_signal_reuses_the_models_weights(learned, monkeypatch):  # noqa: F811
    settings = _settings()
    _clear()
    learn_ui.prebuild(settings, "sma-cross", 1)
    monkeypatch.setattr(explain, "feature_weights", _refuse("feature weights"))
    learning = learn_ui.Learning(settings, "sma-cross", 1)
    dataset = learn_ui._dataset(learning.home, learning.data_stamp, learning.ref,
                                learning.symbol, settings)
    oldest = str(dataset.frame.sort_values("known_at")["signal_id"].iloc[0])
    row, explanation, cases = learn_ui._story(
        learning.home, (learning.model_stamp, learning.data_stamp), learning.card.model_id,
        learning.ref, learning.symbol, oldest, settings)
    assert row["signal_id"].iloc[0] == oldest and 0 < explanation.probability < 1


def test_signal_story_with_weights_given_matches_the_computed_ones():
    from engine.learn import model as model_module
    from tests.learn.synthetic import market

    dataset = market(300)
    trained = model_module.train(dataset, trees=15, folds=3)
    latest = dataset.frame["signal_id"].iloc[-1]
    weights = explain.feature_weights(trained, dataset.frame)
    computed = ops.signal_story(trained, dataset, latest, k=10)[2]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(explain, "feature_weights", _refuse("feature weights"))
        given = ops.signal_story(trained, dataset, latest, k=10, weights=weights)[2]
    assert given.rows["signal_id"].tolist() == computed.rows["signal_id"].tolist()


def test_a_saved_label_changes_the_dataset_stamp(learned):  # noqa: F811
    from engine.learn.labels import Label, LabelStore

    before = learn_ui._data_stamp("sma-cross")
    LabelStore.from_settings(_settings()).save(Label(
        label_id="speed-test-1", setup_id="sma-cross", symbol="BTC/USDT", timeframe="5m",
        time="2024-01-02T10:00:00+00:00", label="setup"))
    assert learn_ui._data_stamp("sma-cross") != before


def test_page_runs_are_logged_for_the_browser_test(tmp_path, monkeypatch):
    target = tmp_path / "runs.jsonl"
    monkeypatch.setenv(state.PAGE_RUN_LOG, str(target))
    with state.page_run():
        pass
    with state.page_run():
        pass
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 2 and all(0 <= line["seconds"] < 1 for line in lines)
