"""Where ITA's Notion settings come from: `engine.settings.Settings`, like every other setting
(the environment or `.env`, never a synced file).

| variable | `Settings` field | meaning |
| --- | --- | --- |
| ``NOTION_TOKEN`` (or ``ITA_NOTION_TOKEN``) | `notion_token` | the integration's secret |
| ``NOTION_PARENT_PAGE`` (``ITA_NOTION_PARENT_PAGE``) | `notion_parent_page` | the page ITA |
| | | writes under: URL or id |
| ``ITA_NOTION_API_URL`` | `notion_api_url` | API root (tests: a local fake) |
| ``ITA_NOTION_RATE`` | `notion_rate` | requests per second ITA allows itself (Notion: 3) |
| ``ITA_NOTION_RETRY_SECONDS`` | `notion_retry_seconds` | first wait before retrying a read |

A blank value is "not set". The token is a `SecretStr`: it is never printed, logged or written
anywhere by ITA; `Settings.secrets_status` (the Settings page) says whether it is set.
`NotionSettings` is those same settings read under the Notion adapter's short names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import SecretStr

from engine.errors import ConfigurationError
from engine.settings import Settings

ENABLE_HINT = ("Notion is not configured: set NOTION_TOKEN and NOTION_PARENT_PAGE in .env, "
               "then run `ita notion setup` (step by step: docs/NOTION.md)")
_SHORT_NAMES = ("token", "parent_page", "api_url", "rate", "retry_seconds")


class NotionSettings(Settings):
    """`Settings` with the Notion fields under short names: ``NotionSettings(token=...,
    parent_page=...)`` sets `notion_token`, `notion_parent_page`; unset ones come from the
    environment and `.env` as for `Settings`."""

    def __init__(self, **values: Any) -> None:
        super().__init__(**_long_names(values))

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        """A copy with `update` applied; the short names work there too (``{"rate": 10}``)."""
        return super().model_copy(update=_long_names(dict(update or {})), deep=deep)

    @property
    def token(self) -> SecretStr | None:
        return self.notion_token

    @property
    def parent_page(self) -> str | None:
        return self.notion_parent_page

    @property
    def api_url(self) -> str:
        return self.notion_api_url

    @property
    def rate(self) -> float:
        return self.notion_rate

    @property
    def retry_seconds(self) -> float:
        return self.notion_retry_seconds

    @property
    def enabled(self) -> bool:
        return self.notion_enabled

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


def _long_names(values: dict[str, Any]) -> dict[str, Any]:
    for name in _SHORT_NAMES:
        if name in values:
            values[f"notion_{name}"] = values.pop(name)
    return values


def notion_settings() -> NotionSettings:
    """Fresh Notion settings from the environment and `.env`."""
    return NotionSettings()


def require_enabled(settings: NotionSettings) -> None:
    """Raise the one-line how-to-enable message when the token or the page is missing."""
    if not settings.enabled:
        raise ConfigurationError(ENABLE_HINT)
