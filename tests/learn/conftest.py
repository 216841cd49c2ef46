"""Fixtures the learning tests share."""

from __future__ import annotations

import pytest

from engine.demo import run_demo


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An ITA home with the demo candles and the example setups, made once per module (the
    tests that use it point `ITA_HOME` at it themselves)."""
    folder = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(folder))
        run_demo()
        yield folder
