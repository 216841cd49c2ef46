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
def app_home(demo_home, monkeypatch) -> Path:
    monkeypatch.setenv("ITA_HOME", str(demo_home))
    return demo_home
