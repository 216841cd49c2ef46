"""`ita learn dataset|evaluate|train` on the demo home (needs the dataset and registry slices of
issue 13: skipped on a branch without them)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.settings import get_settings

datasets = pytest.importorskip("engine.learn.dataset")
registry = pytest.importorskip("engine.learn.registry")


@pytest.fixture()
def runner(home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return CliRunner(env={"COLUMNS": "160"})


def test_dataset_is_built_and_written(runner, home) -> None:
    out = home / "sma.parquet"
    result = runner.invoke(app, ["learn", "dataset", "sma-cross", "--out", str(out)])
    assert result.exit_code == 0, result.output
    dataset = datasets.load_dataset(out)
    assert f"sma-cross: {len(dataset.frame):,} signals" in result.output
    assert "written to" in result.output


def test_evaluate_prints_the_verdict_baselines_and_threshold_curve(runner) -> None:
    result = runner.invoke(app, ["learn", "evaluate", "sma-cross", "--trees", "20"])
    assert result.exit_code == 0, result.output
    assert "out-of-sample signals" in result.output
    assert "constant" in result.output and "logistic" in result.output
    assert "R per trade" in result.output
    few = runner.invoke(app, ["learn", "evaluate", "pdh-sweep-reversal", "--trees", "20"])
    assert few.exit_code == 0, few.output
    assert "not yet" in few.output and "need more signals" in few.output


def test_train_stores_a_model_and_says_whether_it_is_champion(runner) -> None:
    result = runner.invoke(app, ["learn", "train", "sma-cross", "--trees", "20"])
    assert result.exit_code == 0, result.output
    cards = registry.list_models(get_settings(), "sma-cross")
    assert len(cards) == 1
    assert f"model {cards[0].model_id} saved as" in result.output
    alone = runner.invoke(app, ["learn", "train", "pdh-sweep-reversal", "--symbol", "BTC/USDT",
                                "--trees", "20"])  # one symbol: its own signals only
    assert alone.exit_code == 1 and "nothing trained" in alone.output
    assert registry.list_models(get_settings(), "pdh-sweep-reversal") == []
    few = runner.invoke(app, ["learn", "train", "pdh-sweep-reversal", "--trees", "20"])
    assert few.exit_code == 0 and "trained the pooled model of 5 setups" in few.output
    [card] = registry.list_models(get_settings(), "pdh-sweep-reversal")
    assert card.dataset["pool"]["signals"]["pdh-sweep-reversal@1"] == 4


def test_an_unknown_setup_is_a_one_line_error(runner) -> None:
    result = runner.invoke(app, ["learn", "evaluate", "no-such-setup"])
    assert result.exit_code == 1
    assert "no setup 'no-such-setup'" in result.output + str(result.exception)
