"""Settings from the environment or `.env` (pydantic-settings). Secrets are `SecretStr`.

`ITA_HOME` holds ITA's runtime folders (layout in docs/ARCHITECTURE.md). By default it is
the project folder (the one holding `engine/`), whatever the current directory; an `ITA_HOME`
environment variable (or line in `.env`) wins. `.env` is read from the project folder too, so
`ita` run from any directory sees the same settings and secrets. Real environment variables win
over `.env` lines.
"""

from __future__ import annotations

from datetime import tzinfo
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import ConfigurationError
from engine.timezones import parse_timezone

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""The project folder: the default `ITA_HOME` and where `.env` is read from."""

_SECRETS = ("telegram_token", "notion_token", "openai_api_key", "exchange_api_key",
            "exchange_secret", "app_password")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ITA_", env_file=PROJECT_DIR / ".env", env_file_encoding="utf-8",
        extra="ignore", populate_by_name=True
    )

    home: Path = Field(default=PROJECT_DIR, description="Folder holding ITA's data folders")
    analyst: str = Field(default="analyst", description="Your name in the shared folder")
    # sharing the knowledge base (engine/kb/sync.py, docs/SHARED_KB.md)
    kb_remote: str = Field(
        default="", description="rclone remote the shared folder syncs with, e.g. gdrive:ITA "
                                "(docs/SHARED_KB.md); empty: sync off")
    sync_minutes: float = Field(
        default=5.0, ge=0, le=24 * 60, description="Minutes between the engine's automatic "
                                                   "syncs of the shared folder; 0: only on "
                                                   "demand (`ita sync`, the Knowledge page)")
    learn_minutes: float = Field(
        default=30.0, ge=0, le=7 * 24 * 60, description="Minutes between the engine's checks "
                                                        "whether a setup's model is due for "
                                                        "training (engine/learn/retrain.py); "
                                                        "0: train only on demand")
    notion_minutes: float = Field(
        default=5.0, ge=0, le=24 * 60, description="Minutes between the engine's Notion "
                                                   "rounds (journal rows, parameter edits; "
                                                   "docs/NOTION.md) when Notion is set up; 0: "
                                                   "only on demand (`ita notion ...`)")
    weekly_summary: bool = Field(
        default=True, description="Send the weekly summary (Monday 08:00 in the display time "
                                  "zone) to Telegram, and to Notion when it is set up")
    rclone_config: Path | None = Field(
        default=None, description="rclone's config file (remotes and their tokens); empty: "
                                  "rclone's own (RCLONE_CONFIG or ~/.config/rclone/rclone.conf)")
    sync_max_delete: int = Field(
        default=25, ge=0, le=100, description="A sync that would delete more than this percent "
                                              "of the shared files on either side (and more "
                                              "than 10 files) stops and asks (`ita sync "
                                              "--force`)")
    telegram_token: SecretStr | None = Field(default=None, description="Telegram bot token")
    telegram_chat_id: str | None = Field(
        default=None, description="Telegram chat id(s) for alerts; several separated by commas")
    telegram_api_url: str | None = Field(
        default=None, description="Bot API address ending in /bot (a self-hosted Bot API "
                                  "server); empty: https://api.telegram.org/bot")
    # Notion (engine/adapters/notion, docs/NOTION.md): on when both the token and the page are set
    notion_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NOTION_TOKEN", "ITA_NOTION_TOKEN"),
        description="Notion internal integration secret (NOTION_TOKEN; docs/NOTION.md)")
    notion_parent_page: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NOTION_PARENT_PAGE", "ITA_NOTION_PARENT_PAGE"),
        description="URL or id of the Notion page shared with the integration "
                    "(NOTION_PARENT_PAGE)")
    notion_api_url: str = Field(
        default="https://api.notion.com", description="Notion API root; tests use a local fake")
    notion_rate: float = Field(default=3.0, gt=0, le=100,
                               description="Requests per second ITA sends Notion at most")
    notion_retry_seconds: float = Field(
        default=1.0, ge=0, le=60, description="First wait before retrying a failed Notion read "
                                              "(doubles each time; a 429's Retry-After wins)")
    openai_api_key: SecretStr | None = Field(default=None, description="LLM API key (optional)")
    llm_comment: bool = Field(
        default=False, description="Add a short LLM comment to each live alert: the alert is "
        "sent first, the comment is edited into its caption when it arrives (or skipped)")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint for the comment (a local Ollama: "
                                  "http://127.0.0.1:11434/v1, LM Studio: "
                                  "http://127.0.0.1:1234/v1); empty: OpenAI")
    llm_model: str | None = Field(
        default=None, description="Model name at that endpoint (llama3.1, gpt-4o-mini, ...)")
    llm_timeout_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Seconds to wait for the LLM's comment before "
                                                "the alert stays without one")
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
    display_tz: str = Field(
        default="UTC", description="Time zone the app and reports show times in (UTC, "
                                   "Europe/London, America/New_York, +02:00, ...)")
    live: bool = Field(default=False, description="Start the live monitor (alerts on every "
                                                  "candle close) with `make run`")
    live_exchange: str = Field(
        default="binanceus", description="ccxt exchange id the live monitor polls for symbols "
                                         "written with a slash (BTC/USDT)")
    account_size: float = Field(
        default=10_000.0, gt=0, description="Account size the alerts' position sizes are for")
    risk_pct: float = Field(default=0.5, gt=0, le=100,
                            description="Percent of the account risked per alert's trade")
    late_after_bars: int = Field(
        default=2, ge=0, le=10_000, description="An alert whose bar closed this many bars ago "
                                                "or more (catch-up after a gap) is marked late")
    late_policy: Literal["send", "record"] = Field(
        default="send", description="Late alerts: send (marked late) or record only (journal "
                                    "and Live page, no Telegram)")
    mt5_folder: Path | None = Field(
        default=None, description="Folder the MT5 ITAExport script writes bars to; symbols "
                                  "without a slash (EURUSD) are watched there")
    live_delay_seconds: float = Field(
        default=0.5, ge=0, le=60, description="Seconds after a candle's close the live monitor "
                                              "asks for it (a bar the exchange has not closed "
                                              "yet is asked for again 2 s later)")

    dask_scheduler: str | None = Field(
        default=None, description="Dask scheduler (tcp://HOST:8786, or 'local' for this "
                                  "machine's cores) that sweeps, studies and walk-forward use "
                                  "when no --scheduler is given; empty: they run in the "
                                  "calling process (grids: a local cluster)")
    kb_max_file_mb: float = Field(
        default=100.0, gt=0, le=10_000, description="Largest file (MB) the knowledge base "
                                                    "accepts; bigger files are refused with a "
                                                    "message")

    @field_validator("display_tz", mode="after")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        parse_timezone(value, field="ITA_DISPLAY_TZ", error=ConfigurationError)
        return value.strip()

    @field_validator(*_SECRETS, "notion_parent_page", "llm_base_url", "llm_model",
                     "dask_scheduler", "mt5_folder", "rclone_config", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        """A blank line in `.env` (``ITA_APP_PASSWORD=``) means not set, not an empty value."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @property
    def telegram_chat_ids(self) -> list[str]:
        """`telegram_chat_id` split on commas: ``"123, -100456"`` -> ``["123", "-100456"]``."""
        text = self.telegram_chat_id or ""
        return [part.strip() for part in text.split(",") if part.strip()]

    @property
    def notion_enabled(self) -> bool:
        """Notion is on: both its token and its parent page are set."""
        return self.notion_token is not None and self.notion_parent_page is not None

    @property
    def display_zone(self) -> tzinfo:
        """`display_tz` as a tzinfo."""
        return parse_timezone(self.display_tz, field="ITA_DISPLAY_TZ",
                              error=ConfigurationError)

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
        return {name: getattr(self, name) is not None for name in _SECRETS}


def get_settings() -> Settings:
    """Fresh settings from the current environment (cheap; no caching so tests can monkeypatch)."""
    return Settings()
