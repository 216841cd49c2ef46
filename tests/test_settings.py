"""Settings defaults do not depend on the current directory: ITA_HOME and `.env` default to the
project folder; an ITA_HOME from the environment wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch) -> Path:
    """Another current directory, with a `.env` of its own that ITA must not read."""
    for name in ("ITA_HOME", "ITA_ANALYST", "ITA_APP_PASSWORD", "ITA_ALLOW_REMOTE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("ITA_ANALYST=from-the-wrong-folder\nITA_HOME=/nowhere\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_home_defaults_to_the_project_folder_from_any_directory(elsewhere) -> None:
    settings = Settings()
    assert settings.home == ROOT
    assert settings.runs_dir == ROOT / "runs"


def test_env_file_is_the_project_one_not_the_current_directorys(elsewhere) -> None:
    assert Path(Settings.model_config["env_file"]) == ROOT / ".env"
    assert Settings().analyst != "from-the-wrong-folder"


def test_ita_home_from_the_environment_wins(elsewhere, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ITA_HOME", str(tmp_path / "mine"))
    assert Settings().runs_dir == tmp_path / "mine" / "runs"


def test_the_cli_uses_the_project_folder_when_started_elsewhere(elsewhere) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ITA_HOME"}
    env["PYTHONPATH"] = str(ROOT)
    code = "from engine.settings import get_settings; print(get_settings().setups_dir)"
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert Path(out) == ROOT / "setups"


def test_an_empty_app_password_counts_as_none(elsewhere, monkeypatch) -> None:
    monkeypatch.setenv("ITA_APP_PASSWORD", "")
    assert Settings().app_password is None
    monkeypatch.setenv("ITA_APP_PASSWORD", "correct horse")
    settings = Settings()
    assert settings.app_password.get_secret_value() == "correct horse"
    assert "correct horse" not in repr(settings) and settings.secrets_status()["app_password"]


NOTION_NAMES = ("NOTION_TOKEN", "ITA_NOTION_TOKEN", "NOTION_PARENT_PAGE", "ITA_NOTION_PARENT_PAGE")


@pytest.fixture()
def no_notion(monkeypatch) -> None:
    for name in NOTION_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_the_secrets_status_sees_notions_token(no_notion, monkeypatch) -> None:
    """docs/NOTION.md tells traders to set NOTION_TOKEN: the Settings page must see it."""
    assert Settings(_env_file=None).secrets_status()["notion_token"] is False
    monkeypatch.setenv("NOTION_TOKEN", "secret_abc")
    monkeypatch.setenv("NOTION_PARENT_PAGE", "https://www.notion.so/Desk-" + "a" * 32)
    settings = Settings(_env_file=None)
    assert settings.secrets_status()["notion_token"] is True
    assert settings.notion_enabled
    assert "secret_abc" not in repr(settings) and "secret_abc" not in str(settings.model_dump())


def test_notion_settings_come_from_the_project_env_file(no_notion, tmp_path) -> None:
    env = tmp_path / ".env"
    env.write_text("NOTION_TOKEN=secret_from_file\nNOTION_PARENT_PAGE=\nITA_NOTION_RATE=7\n")
    settings = Settings(_env_file=env)
    assert settings.notion_token.get_secret_value() == "secret_from_file"
    assert settings.notion_parent_page is None  # a blank line is "not set"
    assert settings.notion_rate == 7
    assert not settings.notion_enabled


@pytest.mark.parametrize("name", ["ITA_TELEGRAM_TOKEN", "NOTION_TOKEN", "ITA_EXCHANGE_SECRET",
                                  "ITA_OPENAI_API_KEY"])
def test_a_blank_secret_counts_as_not_set(no_notion, monkeypatch, name) -> None:
    monkeypatch.setenv(name, "  ")
    assert not any(Settings(_env_file=None).secrets_status().values())
