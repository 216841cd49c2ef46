"""An ITA home with the demo candles and example setups, shared by the page tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    import os

    home = tmp_path_factory.mktemp("ita-home")
    previous = os.environ.get("ITA_HOME")
    os.environ["ITA_HOME"] = str(home)
    try:
        from engine.demo import run_demo

        run_demo()
    finally:
        if previous is None:
            os.environ.pop("ITA_HOME")
        else:
            os.environ["ITA_HOME"] = previous
    return home


@pytest.fixture()
def app_home(demo_home, tmp_path, monkeypatch) -> Path:
    """A copy of the demo home (2 MB) for one test: what a test saves does not leak into the
    next one."""
    import shutil

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("ITA_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def run_home(demo_home, tmp_path_factory) -> tuple[Path, str]:
    """The demo home with one backtest run of sma-cross (read-only: shared by tests)."""
    import os
    import shutil

    home = tmp_path_factory.mktemp("ita-runs") / "home"
    shutil.copytree(demo_home, home)
    previous = os.environ.get("ITA_HOME")
    os.environ["ITA_HOME"] = str(home)
    try:
        from engine.backtest.run import run_backtest

        run_id = run_backtest("sma-cross", symbol="BTC/USDT", start="2023-03-01",
                              end="2023-03-08").run_id
    finally:
        if previous is None:
            os.environ.pop("ITA_HOME")
        else:
            os.environ["ITA_HOME"] = previous
    return home, run_id
