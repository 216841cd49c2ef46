"""Where ITA's Notion settings come from: the environment or `.env`, never a synced file.

| variable | meaning |
| --- | --- |
| ``NOTION_TOKEN`` (or ``ITA_NOTION_TOKEN``) | the internal integration's secret |
| ``NOTION_PARENT_PAGE`` (``ITA_NOTION_PARENT_PAGE``) | the page ITA writes under: URL or id |
| ``ITA_NOTION_API_URL`` | API root (tests: a local fake); default https://api.notion.com |
| ``ITA_NOTION_RATE`` | requests per second ITA allows itself (Notion's average limit is 3) |
| ``ITA_NOTION_RETRY_SECONDS`` | first wait before retrying a failed read (doubles) |

The token is a `SecretStr`: it is never printed, logged or written anywhere by ITA.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.errors import ConfigurationError
from engine.settings import PROJECT_DIR

ENABLE_HINT = ("Notion is not configured: set NOTION_TOKEN and NOTION_PARENT_PAGE in .env, "
               "then run `ita notion setup` (step by step: docs/NOTION.md)")


class NotionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=PROJECT_DIR / ".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NOTION_TOKEN", "ITA_NOTION_TOKEN"),
        description="Notion internal integration secret (docs/NOTION.md)")
    parent_page: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NOTION_PARENT_PAGE", "ITA_NOTION_PARENT_PAGE"),
        description="URL or id of the Notion page shared with the integration")
    api_url: str = Field(
        default="https://api.notion.com", validation_alias=AliasChoices("ITA_NOTION_API_URL"),
        description="Notion API root; tests use a local fake")
    rate: float = Field(default=3.0, gt=0, le=100, validation_alias=AliasChoices("ITA_NOTION_RATE"),
                        description="Requests per second ITA sends at most")
    retry_seconds: float = Field(
        default=1.0, ge=0, le=60, validation_alias=AliasChoices("ITA_NOTION_RETRY_SECONDS"),
        description="First wait before retrying a failed read (doubles each time; a 429's "
                    "Retry-After wins)")

    @field_validator("token", mode="after")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("parent_page", mode="before")
    @classmethod
    def _empty_page_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def enabled(self) -> bool:
        return self.token is not None and self.parent_page is not None

    def parent_page_id(self) -> str:
        """The parent page's id from its URL or id; a `ConfigurationError` when unusable."""
        from notion_client.helpers import extract_notion_id

        if self.parent_page is None:
            raise ConfigurationError(ENABLE_HINT)
        page_id = extract_notion_id(self.parent_page)
        if page_id is None:
            raise ConfigurationError(
                f"NOTION_PARENT_PAGE {self.parent_page!r} is not a Notion page URL or id: copy "
                "the page's link (••• → Copy link) into .env")
        return page_id


def notion_settings() -> NotionSettings:
    """Fresh Notion settings from the environment and `.env`."""
    return NotionSettings()


def require_enabled(settings: NotionSettings) -> None:
    """Raise the one-line how-to-enable message when the token or the page is missing."""
    if not settings.enabled:
        raise ConfigurationError(ENABLE_HINT)
