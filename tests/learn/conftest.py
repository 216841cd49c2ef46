"""Fixtures the learning tests share."""

from __future__ import annotations

import pytest

from tests.conftest import home_env


@pytest.fixture(scope="module")
def home(new_demo_home):
    """An ITA home with the demo candles and the example setups, made once per module (the
    tests that use it point `ITA_HOME` at it themselves)."""
    with home_env(new_demo_home("home")) as folder:
        yield folder
