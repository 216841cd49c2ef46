"""Settings shows Notion's state from the local state file (no request to Notion): enabled or
how to enable it, set up or `ita notion setup`, the links, the outbox, the last write."""

from __future__ import annotations

import pytest

from app.reports_ui import SETUP_HINT
from engine.adapters.notion.config import ENABLE_HINT, NotionSettings
from engine.adapters.notion.outbox import Outbox
from engine.adapters.notion.workspace import setup_workspace
from tests.app._pages import page, texts
from tests.fakes.notion_api import FakeNotion


@pytest.fixture()
def home(app_home, monkeypatch):
    for name in ("NOTION_TOKEN", "ITA_NOTION_TOKEN", "NOTION_PARENT_PAGE",
                 "ITA_NOTION_PARENT_PAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(NotionSettings, "model_config",
                        {**NotionSettings.model_config, "env_file": None})
    return app_home


@pytest.fixture()
def fake(home, monkeypatch):
    with FakeNotion() as server:
        server.parent = server.add_root_page("Trading desk")
        monkeypatch.setenv("NOTION_TOKEN", server.token)
        monkeypatch.setenv("NOTION_PARENT_PAGE", server.parent)
        monkeypatch.setenv("ITA_NOTION_API_URL", server.base_url)
        monkeypatch.setenv("ITA_NOTION_RATE", "100")
        yield server


def _notion_table(at) -> dict[str, str]:
    [table] = [d.value for d in at.dataframe if list(d.value.columns) == ["what", "state"]]
    return dict(zip(table["what"], table["state"], strict=True))


def test_without_notion_settings_says_how_to_enable_it(home):
    at = page("settings")
    assert ENABLE_HINT in texts(at.info)


def test_configured_but_not_set_up_says_run_setup(home, fake):
    at = page("settings")
    assert SETUP_HINT in texts(at.warning)
    shown = _notion_table(at)
    assert shown["ITA signal journal"] == "not created: run `ita notion setup`"
    assert shown["last write Notion confirmed"] == "never"


def test_set_up_shows_the_links_and_the_outbox(home, fake, monkeypatch):
    setup_workspace(home, NotionSettings())
    Outbox(home).add("journal", "sig-1", {})
    calls = []
    monkeypatch.setattr("engine.adapters.notion.gateway.NotionGateway.call",
                        lambda *a, **k: calls.append(a))  # opening Settings asks nothing
    at = page("settings")
    assert any(s.startswith("Notion is enabled and set up") for s in texts(at.success))
    shown = _notion_table(at)
    assert shown["ITA signal journal"].startswith("https://www.notion.so/")
    assert shown["ITA reports"].startswith("https://www.notion.so/")
    assert shown["parent page"] == f"https://www.notion.so/{fake.parent.replace('-', '')}"
    assert shown["writes waiting in the outbox"] == "1"
    assert shown["last write Notion confirmed"] != "never"
    assert calls == []
