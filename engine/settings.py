"""Settings from the environment or `.env` (pydantic-settings). Secrets are `SecretStr`.

`ITA_HOME` is the folder that holds ITA's runtime folders (DESIGN.md layout); by default the
current working directory, which `make run` sets to the project folder.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ITA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default_factory=Path.cwd, description="Folder holding ITA's data folders")
    analyst: str = Field(default="analyst", description="Your name in the shared folder")
    telegram_token: SecretStr | None = Field(default=None, description="Telegram bot token")
    telegram_chat_id: str | None = Field(default=None, description="Telegram chat for alerts")
    notion_token: SecretStr | None = Field(default=None, description="Notion integration token")
    openai_api_key: SecretStr | None = Field(default=None, description="LLM API key (optional)")
    exchange_api_key: SecretStr | None = Field(default=None, description="Exchange API key")
    exchange_secret: SecretStr | None = Field(default=None, description="Exchange API secret")
    mt5_server_tz: str | None = Field(
        default=None, description="MetaTrader 5 broker server time zone, used by `ita data "
                                  "fetch --source mt5` without --tz (Europe/Athens, +02:00, ...)")

    @cached_property
    def data_dir(self) -> Path:
        return self.home / "data"

    @cached_property
    def candles_dir(self) -> Path:
        return self.data_dir / "candles"

    @cached_property
    def setups_dir(self) -> Path:
        return self.home / "setups"

    @cached_property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @cached_property
    def exchange_dir(self) -> Path:
        return self.home / "exchange"

    @cached_property
    def shared_kb_dir(self) -> Path:
        return self.home / "shared_kb"

    def secrets_status(self) -> dict[str, bool]:
        """Which secrets are set, never their values."""
        names = ["telegram_token", "notion_token", "openai_api_key", "exchange_api_key",
                 "exchange_secret"]
        return {name: getattr(self, name) is not None for name in names}


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; no caching so tests can monkeypatch)."""
    return Settings()
