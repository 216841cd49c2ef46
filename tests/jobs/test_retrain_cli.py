"""`ita learn train --all`: every setup's active version trained in turn by the one operation
(`engine.learn.ops.learn`); a setup that cannot be trained is reported and the others still
are; --all with a setup is refused."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.demo import run_demo
from engine.learn.registry import list_models
from engine.settings import get_settings
from engine.setups.store import SetupStore

FAST = ["--folds", "3", "--trees", "15"]


@pytest.fixture()
def runner(ita_home):
    run_demo()
    return CliRunner(env={"COLUMNS": "200"})


def test_all_trains_every_active_setup_and_reports_each(runner) -> None:
    store = SetupStore.from_settings()
    text = store.load("sma-cross").text
    store.save(text.replace("id: sma-cross", "id: sma-cross-eth")
               .replace("symbols: [BTC/USDT]", "symbols: [ETH/USDT]"))
    result = runner.invoke(app, ["learn", "train", "--all", *FAST])
    assert result.exit_code == 1, result.output  # one setup failed
    lines = {line.split()[0]: line for line in result.output.splitlines()
             if line.strip() and "@" in line.split()[0]}
    assert set(lines) == {f"{i}@1" for i in store.ids()}, result.output
    assert "failed" in lines["sma-cross-eth@1"] and "ETH/USDT" in lines["sma-cross-eth@1"]
    assert "(pooled)" in lines["pdh-sweep-reversal@1"]  # too few alone: the pooled model
    [card] = list_models(get_settings(), "sma-cross")
    assert card.model_id in lines["sma-cross@1"]
    assert "champion" in lines["sma-cross@1"] or "challenger" in lines["sma-cross@1"]


def test_all_with_a_setup_is_refused(runner) -> None:
    result = runner.invoke(app, ["learn", "train", "sma-cross", "--all"])
    assert result.exit_code == 2 and "--all trains every setup" in result.output
    result = runner.invoke(app, ["learn", "train"])
    assert result.exit_code == 2 and "or use --all" in result.output
