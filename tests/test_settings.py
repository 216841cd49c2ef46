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
