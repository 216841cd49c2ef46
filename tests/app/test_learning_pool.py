"""The Learning page with a pooled model (issue 13): a demo setup with too few signals of its
own shows the pooled model's card with its pool named and a verdict stating both, its top
features, and its signals explained with similar cases of its own setup (the pool's when it has
too few earlier ones, said so)."""

from __future__ import annotations

import shutil

import pytest

from tests.app._pages import page, texts

FAST = {"folds": 3, "trees": 15}
SMALL = "bos-order-block-retest"


@pytest.fixture(scope="module")
def pooled_home(demo_home, tmp_path_factory):
    from engine.learn.ops import learn
    from engine.settings import get_settings

    home = tmp_path_factory.mktemp("ita-pool") / "home"
    shutil.copytree(demo_home, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(home))
        result = learn(get_settings(), SMALL, **FAST)
    assert result.trained and len(result.pool) == 5
    return home


@pytest.fixture()
def pooled(pooled_home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(pooled_home))  # read only
    return pooled_home


def _open(view: str | None = None):
    at = page("learning")
    at.selectbox(key="learning_setup").set_value(SMALL)
    at.run()
    if view:
        at.segmented_control(key="learning_view").set_value(view)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_pooled_card_names_its_pool_and_states_both_counts(pooled):
    at = _open()
    verdict = " ".join(texts(at.warning) + texts(at.success))
    assert "pooled over 5 setups (" in verdict
    assert "this setup's own 22 signals are too few to judge alone" in verdict
    captions = " ".join(c.value for c in at.caption)
    assert "Pooled model" in captions and "sma-cross@1 (" in captions
    assert f"{SMALL}@1 (22)" in captions
    assert len(at.get("plotly_chart")) >= 2  # the pool's calibration and threshold curves
    features = next(d.value for d in at.dataframe if "feature" in d.value.columns)
    assert len(features)


def test_a_small_setups_signal_is_explained_by_the_pooled_model(pooled):
    at = _open("Explain a signal")
    metrics = {m.label: m.value for m in at.metric}
    assert "Probability of reaching target" in metrics
    summary = " ".join(m.value for m in at.markdown if "Similar past cases" in m.value)
    assert "of the 10 most similar" in summary and "drawn from every setup" not in summary
    signal = at.selectbox(key=f"learning_signal_{SMALL}_1")
    signal.set_value(signal.options[-1].split(" · ")[-1])  # its first signal: none before it
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    summary = " ".join(m.value for m in at.markdown if "Similar past cases" in m.value)
    assert "this setup has no earlier signal: drawn from every setup of the pool" in summary
