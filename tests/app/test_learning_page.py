"""The Learning page as a trader uses it (AppTest): the guidance when no model exists, the
honest verdict of a stored model with its numbers, Promote with a confirm, one signal explained
with its similar past cases, and Retrain submitting a `learn` job on the daemon's bus.

One demo home is trained once for the module (sma-cross, few folds and trees); each test that
writes gets its own copy."""

from __future__ import annotations

import shutil

import pytest

from tests.app._pages import page, texts

FAST = {"folds": 3, "trees": 15}


@pytest.fixture(scope="module")
def trained_home(demo_home, tmp_path_factory):
    """The demo home with one model of sma-cross@1 in the registry (not the champion: on the
    demo's three weeks it is no better than chance)."""
    from engine.learn.ops import learn
    from engine.settings import get_settings

    home = tmp_path_factory.mktemp("ita-learn") / "home"
    shutil.copytree(demo_home, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(home))
        result = learn(get_settings(), "sma-cross", **FAST)
    assert result.trained
    return home


@pytest.fixture()
def learned(trained_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    monkeypatch.setenv("ITA_HOME", str(home))
    return home


def _settings():
    from engine.settings import get_settings

    return get_settings()


def _open(setup_id: str):
    at = page("learning")
    at.selectbox(key="learning_setup").set_value(setup_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at, column: str):
    """The first table with `column` (AppTest does not find dataframes by key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_too_few_signals_says_not_yet_and_shows_the_dataset(app_home):
    at = _open("bos-order-block-retest")
    warnings = " ".join(texts(at.warning))
    assert "not yet — 22 signals" in warnings and "need more signals" in warnings
    numbers = _metrics(at)
    assert numbers["Signals"] != "0" and numbers["Symbols"]
    assert any("more signals first" in t for t in texts(at.info))
    assert not at.button(key="learning_retrain_bos-order-block-retest_1").disabled


def test_no_model_yet_tells_what_to_do(app_home):
    at = _open("sma-cross")
    assert any("No model of sma-cross@1 yet" in t and "Retrain" in t for t in texts(at.info))
    assert int(_metrics(at)["Signals"].replace(",", "")) > 1000
    assert not at.warning  # enough signals: no "not yet" before a model was trained


def test_a_stored_model_shows_its_verdict_numbers_and_baselines(learned):
    from engine.learn.ops import latest_card

    card = latest_card(_settings(), "sma-cross", 1)
    at = _open("sma-cross")
    verdict = " ".join(texts(at.warning) + texts(at.success))
    assert card.metrics["verdict"] in verdict and card.model_id in verdict
    numbers = _metrics(at)
    assert numbers["AUC"] == f"{card.metrics['auc']:.2f}"
    scores = _table(at, "log loss")
    assert list(scores.iloc[:, 0]) == ["model (walk-forward)", "baseline: constant",
                                       "baseline: logistic"]
    assert len(at.get("plotly_chart")) >= 2  # calibration and threshold curves
    features = _table(at, "feature")
    assert len(features) and not features["feature"].str.contains("_").any()  # plain words


def test_promote_needs_a_confirm_and_makes_the_champion(learned):
    from engine.learn.registry import champion

    at = _open("sma-cross")
    button = at.button(key="learning_promote_button_sma-cross_1")
    assert button.disabled  # not without the confirm
    at.checkbox(key="learning_promote_sure_sma-cross_1").check()
    at.run()
    at.button(key="learning_promote_button_sma-cross_1").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    current = champion(_settings(), "sma-cross", 1)
    assert current is not None
    assert any(current.model_id in t and "champion" in t for t in texts(at.success))
    models = _table(at, "status")
    assert models.iloc[0]["status"] == "champion"


def test_one_signal_explained_with_its_similar_cases(learned):
    from engine.learn.ops import latest_card
    from engine.learn.registry import promote

    promote(_settings(), latest_card(_settings(), "sma-cross", 1).model_id)
    at = _open("sma-cross")
    signal = at.selectbox(key="learning_signal_sma-cross_1")
    assert signal.value == signal.options[0].split(" · ")[-1]  # the latest signal first
    assert signal.options[0] > signal.options[-1]  # labels open with the signal's time
    assert "Probability of reaching target" in _metrics(at)
    assert any("of the 10 most similar" in m.value for m in at.markdown)
    cases = _table(at, "outcome")
    assert len(cases) == 10 and set(cases["outcome"]) <= {"target", "stop / exit"}
    assert set(cases["side"]) <= {"long", "short"}
    assert len(at.get("plotly_chart")) == 4  # two curves, this signal and a similar case
    signal.set_value(signal.options[-1].split(" · ")[-1])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Probability of reaching target" in _metrics(at)
    assert at.selectbox(key="learning_signal_sma-cross_1").index == len(signal.options) - 1


def test_retrain_submits_a_learn_job(learned):
    from engine.jobs.bus import JobBus

    at = _open("sma-cross")
    at.button(key="learning_retrain_sma-cross_1").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    jobs = [j for j in JobBus.from_settings(_settings()).list() if j["kind"] == "learn"]
    assert len(jobs) == 1 and jobs[0]["params"]["setup"] == "sma-cross@1"
    assert jobs[0]["state"] == "queued"


def test_the_page_is_in_the_navigation_and_remembers_the_setup(app_home):
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/learning.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="learning_setup").set_value("sma-cross").run()
    at.switch_page("views/data.py").run()
    at.switch_page("views/learning.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="learning_setup").value == "sma-cross"
    assert at.selectbox(key="learning_version_sma-cross").value == 1
