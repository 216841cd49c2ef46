"""A demo home with one backtest run, made once per module (tests point ITA_HOME at it)."""

from __future__ import annotations

import pytest

from engine.backtest.run import run_backtest
from engine.demo import run_demo


@pytest.fixture(scope="module")
def run_home(tmp_path_factory):
    """(home, run result): the demo setups and candles and one sma-cross run over them."""
    folder = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(folder))
        run_demo()
        yield folder, run_backtest("sma-cross")


@pytest.fixture()
def home(run_home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(run_home[0]))
    return run_home[0]


@pytest.fixture()
def run(run_home, home):
    return run_home[1]
