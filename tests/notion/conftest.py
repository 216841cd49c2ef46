"""A fake Notion with one shared parent page, and the environment pointing ITA at it."""

from __future__ import annotations

import pytest

from engine.adapters.notion.config import NotionSettings
from tests.fakes.notion_api import FakeNotion


@pytest.fixture()
def fake():
    with FakeNotion() as server:
        server.parent = server.add_root_page("Trading desk")
        yield server


@pytest.fixture()
def notion_env(fake, ita_home, monkeypatch) -> NotionSettings:
    """The environment a configured trader has (fast pacing: the pacing test sets its own)."""
    monkeypatch.setenv("NOTION_TOKEN", fake.token)
    monkeypatch.setenv("NOTION_PARENT_PAGE", f"https://www.notion.so/Trading-desk-"
                                             f"{fake.parent.replace('-', '')}")
    monkeypatch.setenv("ITA_NOTION_API_URL", fake.base_url)
    monkeypatch.setenv("ITA_NOTION_RATE", "100")
    monkeypatch.setenv("ITA_NOTION_RETRY_SECONDS", "0.01")
    return NotionSettings()
