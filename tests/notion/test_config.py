"""Notion's settings are `Settings` fields read under the adapter's short names, and reading them
(the Settings page, `ita` without Notion) never loads the HTTP client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.adapters.notion.config import ENABLE_HINT, NotionSettings, require_enabled
from engine.errors import ConfigurationError
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = "https://www.notion.so/Trading-desk-" + "0123456789abcdef" * 2


@pytest.fixture()
def no_notion(monkeypatch) -> None:
    for name in ("NOTION_TOKEN", "ITA_NOTION_TOKEN", "NOTION_PARENT_PAGE",
                 "ITA_NOTION_PARENT_PAGE", "ITA_NOTION_RATE"):
        monkeypatch.delenv(name, raising=False)


def test_notion_settings_are_the_settings_fields(no_notion, monkeypatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_abc")
    monkeypatch.setenv("NOTION_PARENT_PAGE", PAGE)
    monkeypatch.setenv("ITA_NOTION_RATE", "5")
    notion, settings = NotionSettings(_env_file=None), Settings(_env_file=None)
    assert isinstance(notion, Settings)
    assert notion.token == settings.notion_token and notion.parent_page == PAGE
    assert notion.rate == settings.notion_rate == 5
    assert notion.enabled and settings.notion_enabled
    assert notion.parent_page_id() == "01234567-89ab-cdef-0123-456789abcdef"
    assert "secret_abc" not in repr(notion)


def test_short_names_given_win_over_the_environment(no_notion, monkeypatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "from_env")
    notion = NotionSettings(token="given", parent_page=PAGE, rate=50, _env_file=None)
    assert notion.token.get_secret_value() == "given" and notion.rate == 50
    slower = notion.model_copy(update={"rate": 10.0})
    assert slower.rate == 10.0 and slower.token.get_secret_value() == "given"


def test_a_blank_page_is_not_configured(no_notion, monkeypatch) -> None:
    monkeypatch.setenv("NOTION_TOKEN", "secret_abc")
    monkeypatch.setenv("NOTION_PARENT_PAGE", " ")
    notion = NotionSettings(_env_file=None)
    assert notion.parent_page is None and not notion.enabled
    with pytest.raises(ConfigurationError, match="Notion is not configured") as caught:
        require_enabled(notion)
    assert str(caught.value) == ENABLE_HINT


@pytest.mark.parametrize("module", ["engine.adapters.notion", "engine.adapters.notion.config",
                                    "engine.adapters.notion.workspace",
                                    "engine.adapters.notion.backtest_report"])
def test_reading_the_settings_does_not_load_the_http_client(module) -> None:
    """The Settings page imports these; httpx and notion_client cost ~0.3 s to import."""
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('httpx', 'notion_client') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_the_package_still_offers_the_gateway() -> None:
    import engine.adapters.notion as notion
    from engine.adapters.notion.gateway import NotionGateway

    assert notion.NotionGateway is NotionGateway
    with pytest.raises(AttributeError):
        notion.no_such_name  # noqa: B018
