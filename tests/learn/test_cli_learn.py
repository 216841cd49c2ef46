"""`ita learn train|explain|similar|dataset` through the `ita` command (typer's CliRunner) on the
demo home: training by the one operation, a champion chosen by hand, then the champion's view of
one signal; one-line errors without a champion or with an unknown signal."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.learn.registry import champion, list_models
from engine.settings import get_settings

FAST = ["--folds", "3", "--trees", "15"]


@pytest.fixture()
def runner(home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return CliRunner(env={"COLUMNS": "160"})


def _ok(runner, *args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _signal_ids(output: str) -> list[str]:
    return re.findall(r"sma-cross-v\d+-\S+", output)


def test_without_a_champion_explain_says_train_it_first(runner) -> None:
    result = runner.invoke(app, ["learn", "explain", "pdh-sweep-reversal", "whatever"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert "no champion model yet" in message
    assert "train it first: ita learn train pdh-sweep-reversal" in message


def test_train_then_explain_and_similar_from_the_champion(runner) -> None:
    listing = _ok(runner, "learn", "dataset", "sma-cross", "--show", "3")
    assert "left out (no known outcome):" in listing
    ids = _signal_ids(listing)
    assert len(ids) == 3

    trained = _ok(runner, "learn", "train", "sma-cross", *FAST)
    settings = get_settings()
    (card,) = list_models(settings, "sma-cross")
    assert f"model {card.model_id} saved as challenger" in trained
    assert "not better than chance" in trained and "dataset beside it" in trained
    assert champion(settings, "sma-cross", card.setup_version) is None

    _ok(runner, "models", "promote", card.model_id)  # the trader's own choice
    explained = _ok(runner, "learn", "explain", "sma-cross", ids[-1])
    assert re.search(r"\d+% chance to reach target \(champion " + card.model_id, explained)
    assert "strengths:" in explained and "weaknesses:" in explained
    assert "outcome:" in explained

    similar = _ok(runner, "learn", "similar", "sma-cross", ids[-1][:-2], "--k", "7")
    assert re.search(r"\d of the 7 most similar reached target", similar)
    assert len(_signal_ids(similar)) == 1 + 7  # the signal itself, then its 7 neighbours
    assert ids[-1] not in similar.split("\n", 1)[1]  # never its own neighbour

    unknown = runner.invoke(app, ["learn", "similar", "sma-cross", "sma-cross-nope"])
    assert unknown.exit_code == 1
    assert "not among the" in str(unknown.exception)


def test_a_champion_whose_features_are_gone_asks_for_a_retrain(runner, monkeypatch) -> None:
    import engine.learn.ops as ops

    settings = get_settings()
    if champion(settings, "sma-cross", 1) is None:  # run alone (-k): make one
        _ok(runner, "learn", "train", "sma-cross", *FAST)
        _ok(runner, "models", "promote", list_models(settings, "sma-cross")[0].model_id)
    card = champion(settings, "sma-cross", 1)
    real = ops.dataset_for

    def renamed(*args, **kwargs):
        dataset = real(*args, **kwargs)
        first = dataset.features[0]
        frame = dataset.frame.rename(columns={first: first + "_v2"})
        return type(dataset)(frame, (first + "_v2", *dataset.features[1:]), dataset.meta)

    monkeypatch.setattr(ops, "dataset_for", renamed)
    result = runner.invoke(app, ["learn", "explain", "sma-cross", "sma-cross-v1"])
    assert result.exit_code == 1
    message = str(result.exception)
    assert f"champion {card.model_id} of sma-cross@1 needs feature(s)" in message
    assert "retrain it: ita learn train sma-cross" in message


def test_due_says_whether_to_retrain(runner) -> None:
    never = _ok(runner, "learn", "due", "bos-order-block-retest")  # 22 signals: too few
    assert "bos-order-block-retest@1: not due" in never
    assert "never trained" in never and "55 needed for a walk-forward test" in never
    _ok(runner, "learn", "train", "sma-cross", *FAST)
    fresh = _ok(runner, "learn", "due", "sma-cross")
    assert "sma-cross@1: not due" in fresh and "+0 (+0%)" in fresh
