"""Settings from the environment or `.env` (pydantic-settings). Secrets are `SecretStr`.

`ITA_HOME` holds ITA's runtime folders (layout in docs/ARCHITECTURE.md). By default it is
the project folder (the one holding `engine/`), whatever the current directory; an `ITA_HOME`
environment variable (or line in `.env`) wins. `.env` is read from the project folder too, so
`ita` run from any directory sees the same settings and secrets. Real environment variables win
over `.env` lines.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The project folder: the default `ITA_HOME` and where `.env` is read from."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ITA_", env_file=PROJECT_DIR / ".env", env_file_encoding="utf-8",
        extra="ignore"
    )

    home: Path = Field(default=PROJECT_DIR, description="Folder holding ITA's data folders")
    analyst: str = Field(default="analyst", description="Your name in the shared folder")
    telegram_token: SecretStr | None = Field(default=None, description="Telegram bot token")
    telegram_chat_id: str | None = Field(default=None, description="Telegram chat for alerts")
    notion_token: SecretStr | None = Field(default=None, description="Notion integration token")
    openai_api_key: SecretStr | None = Field(default=None, description="LLM API key (optional)")
    exchange_api_key: SecretStr | None = Field(default=None, description="Exchange API key")
    exchange_secret: SecretStr | None = Field(default=None, description="Exchange API secret")
    app_password: SecretStr | None = Field(
        default=None, description="Password the app asks for before showing any page; needed "
        "to serve it beyond this machine")
    allow_remote: bool = Field(
        default=False, description="Let the app listen on an address other than 127.0.0.1 "
        "(needs app_password too)")
    mt5_server_tz: str | None = Field(
        default=None, description="MetaTrader 5 broker server time zone, used by `ita data "
                                  "fetch --source mt5` without --tz (Europe/Athens, +02:00, ...)")

    chart_tz: str = Field(
        default="UTC", description="Time zone of the chart axes and tables (UTC, "
                                   "Europe/London, America/New_York, +02:00, ...)")

    @field_validator("app_password", mode="after")
    @classmethod
    def _empty_password_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

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
                 "exchange_secret", "app_password"]
        return {name: getattr(self, name) is not None for name in names}


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; no caching so tests can monkeypatch)."""
    return Settings()
