"""A demo home with one backtest run, made once per module (tests point ITA_HOME at it)."""

from __future__ import annotations

import pytest

from engine.backtest.run import run_backtest
from tests.conftest import home_env


@pytest.fixture(scope="module")
def run_home(new_demo_home):
    """(home, run result): the demo setups and candles and one sma-cross run over them."""
    with home_env(new_demo_home("home")) as folder:
        yield folder, run_backtest("sma-cross")


@pytest.fixture()
def home(run_home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(run_home[0]))
    return run_home[0]


@pytest.fixture()
def run(run_home, home):
    return run_home[1]
