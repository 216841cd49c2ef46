"""Helpers the page tests share: open a page under AppTest, read messages."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.app.conftest import ROOT


def page(name: str) -> AppTest:
    """`views/<name>.py` run once under AppTest, without an exception."""
    at = AppTest.from_file(str(ROOT / "views" / f"{name}.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    """The texts of messages (`at.error`, `at.success`, ...)."""
    return [e.value for e in elements]
