"""`ita notion setup`: databases made once under the shared page, found again by stored ids."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from engine.adapters.notion.config import ENABLE_HINT, NotionSettings
from engine.adapters.notion.gateway import NotionGateway
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import (
    DATABASES,
    JOURNAL_SCHEMA,
    REPORTS_TITLE,
    setup_workspace,
    workspace_status,
)
from engine.cli import app
from engine.errors import ConfigurationError

runner = CliRunner()


def test_setup_creates_the_databases_and_the_reports_page_once(fake, notion_env, ita_home):
    first = setup_workspace(ita_home, notion_env)
    assert sorted(first.created) == sorted([t for t, _ in DATABASES.values()] + [REPORTS_TITLE])
    assert first.parent_title == "Trading desk"
    made = dict(fake.created)

    second = setup_workspace(ita_home, notion_env)
    assert second.created == []
    assert fake.created == made  # nothing new in Notion
    state = NotionState(ita_home, fake.parent)
    source = fake.data_sources[state.database("journal")["data_source_id"]]
    assert set(source["properties"]) == set(JOURNAL_SCHEMA)
    kinds = [b["type"] for b in fake.block_children(fake.parent)]
    assert kinds.count("child_database") == 2 and kinds.count("child_page") == 1


def test_setup_never_finds_by_title_and_replaces_a_deleted_database(fake, notion_env,
                                                                    ita_home):
    setup_workspace(ita_home, notion_env)
    state = NotionState(ita_home, fake.parent)
    fake.databases[state.database("journal")["database_id"]]["in_trash"] = True
    again = setup_workspace(ita_home, notion_env)
    assert again.created == ["ITA signal journal"]
    assert NotionState(ita_home, fake.parent).database("journal") != state.database("journal")


def test_setup_adds_columns_a_trader_deleted(fake, notion_env, ita_home):
    setup_workspace(ita_home, notion_env)
    source_id = NotionState(ita_home, fake.parent).database("journal")["data_source_id"]
    del fake.data_sources[source_id]["properties"]["Outcome"]
    setup_workspace(ita_home, notion_env)
    assert "Outcome" in fake.data_sources[source_id]["properties"]


def test_a_page_not_shared_says_how_to_share_it(fake, ita_home, monkeypatch):
    private = fake.add_root_page("Private", shared=False)
    settings = NotionSettings(token=fake.token, parent_page=private, api_url=fake.base_url,
                              rate=100, _env_file=None)
    with pytest.raises(ConfigurationError) as caught:
        setup_workspace(ita_home, settings)
    assert str(caught.value) == (
        f"Notion page {private} is not shared with the integration 'ITA': open the page → "
        "••• → Connections → add it")


def test_a_wrong_token_is_one_clear_line_and_never_printed(fake, notion_env, ita_home,
                                                          monkeypatch):
    monkeypatch.setenv("NOTION_TOKEN", "secret_wrong_value")
    result = runner.invoke(app, ["notion", "setup"])
    assert result.exit_code == 1
    assert "Notion refused the token" in str(result.exception)
    assert "secret_wrong_value" not in result.output + str(result.exception)


def test_setup_from_the_cli_twice(fake, notion_env):
    first = runner.invoke(app, ["notion", "setup"])
    assert first.exit_code == 0, first.output
    assert "created ITA signal journal" in first.output
    second = runner.invoke(app, ["notion", "setup"])
    assert "created" not in second.output and "Notion is ready" in second.output
    status = runner.invoke(app, ["notion", "status"])
    assert status.exit_code == 0 and "not created" not in status.output


@pytest.mark.parametrize("command", [["setup"], ["status"], ["sync-journal"]])
def test_without_a_token_every_command_says_how_to_enable_it(command, ita_home, monkeypatch):
    for name in ("NOTION_TOKEN", "ITA_NOTION_TOKEN", "NOTION_PARENT_PAGE",
                 "ITA_NOTION_PARENT_PAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(NotionSettings, "model_config",
                        {**NotionSettings.model_config, "env_file": None})
    result = runner.invoke(app, ["notion", *command])
    assert result.exit_code == 1
    said = result.output + (str(result.exception) if result.exception else "")
    assert ENABLE_HINT in said
    assert "NOTION_TOKEN" in ENABLE_HINT and "docs/NOTION.md" in ENABLE_HINT
    assert workspace_status(ita_home, NotionSettings()) == {"enabled": False}


def test_pacing_keeps_to_the_rate(fake, notion_env, ita_home):
    settings = notion_env.model_copy(update={"rate": 10.0})
    with NotionGateway(settings) as notion:
        import time

        start = time.monotonic()
        for _ in range(6):
            notion.page(fake.parent)
        elapsed = time.monotonic() - start
    assert elapsed >= 0.5 - 0.02  # 6 requests at 10/s: 5 intervals
