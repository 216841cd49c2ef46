"""The one door to Notion: the real `notion_client`, paced, with its errors translated.

- **Pacing**: at most `NotionSettings.rate` requests per second (3 by default, Notion's
  average limit), counted on every HTTP request, retries included, by an httpx request hook;
  the client's own waits on a 429's ``Retry-After`` come on top, so the two compose.
- **Retries**: notion_client retries 429s (honouring ``Retry-After``) on every method and
  5xx on GET; a data-source query is a read sent as POST, so the gateway retries its 5xx too.
  Creates and updates are never retried blindly: `upsert_row` finds the row by its stable id
  first, which makes a repeated create harmless.
- **Errors** become `ItaError`s at this boundary: a page not shared with the integration
  (``object_not_found``) → `ConfigurationError` saying how to share it; a refused token →
  `ConfigurationError`; rate limits after the retries, 5xx, timeouts and refused connections
  → `TemporaryError` (the outbox keeps the write for later); a refused body → `DataError`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from notion_client import APIErrorCode, APIResponseError, Client
from notion_client.client import ClientOptions, RetryOptions
from notion_client.errors import RequestTimeoutError

from engine.adapters.notion import blocks
from engine.adapters.notion.config import NotionSettings, require_enabled
from engine.errors import ConfigurationError, DataError, TemporaryError

NOTION_VERSION = "2025-09-03"
INTEGRATION_NAME = "ITA"
READ_RETRIES = 3
_T = TypeVar("_T")
log = logging.getLogger("ita.notion")


def not_shared_message(object_id: str) -> str:
    return (f"Notion page {object_id} is not shared with the integration "
            f"'{INTEGRATION_NAME}': open the page → ••• → Connections → add it")


class Pacer:
    """At most `rate` calls per second: `wait()` sleeps until the next slot is free."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, *_: object) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class NotionGateway:
    """ITA's Notion client. `settings` must be enabled (token and page)."""

    def __init__(self, settings: NotionSettings, *, max_retry_delay: float = 60.0) -> None:
        require_enabled(settings)
        token = settings.token.get_secret_value() if settings.token else ""
        self.settings = settings
        self.parent_page_id = settings.parent_page_id()
        self.pacer = Pacer(settings.rate)
        self.read_retry_delay = settings.retry_seconds
        http = httpx.Client(event_hooks={"request": [self.pacer.wait]})
        options = ClientOptions(
            auth=token, base_url=settings.api_url.rstrip("/"),
            notion_version=NOTION_VERSION, timeout_ms=30_000, logger=log,
            log_level=logging.WARNING,
            retry=RetryOptions(max_retries=4,
                               initial_retry_delay_ms=int(settings.retry_seconds * 500),
                               max_retry_delay_ms=int(max_retry_delay * 1000)))
        self.client = Client(options, client=http)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> NotionGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the boundary ------------------------------------------------------------------------
    def call(self, action: Callable[[], _T], *, what: str, object_id: str | None = None,
             read: bool = False) -> _T:
        """Run one notion_client call, translating its errors. `read`: a read sent as POST
        (a query), whose 5xx the gateway retries (notion_client retries those of GETs)."""
        attempt = 0
        while True:
            try:
                return action()
            except APIResponseError as error:
                translated = _translate(error, what=what, object_id=object_id)
                if read and isinstance(translated, TemporaryError) and attempt < READ_RETRIES:
                    attempt += 1
                    time.sleep(self.read_retry_delay * 2 ** (attempt - 1))
                    continue
                raise translated from None
            except (RequestTimeoutError, httpx.TransportError) as error:
                raise TemporaryError(f"Notion did not answer ({what}): "
                                     f"{type(error).__name__}; will retry later") from None

    # -- operations --------------------------------------------------------------------------
    def check(self) -> dict[str, Any]:
        """The token and the parent page work: returns the parent page."""
        self.call(lambda: self.client.users.me(), what="checking the token")
        return self.call(lambda: self.client.pages.retrieve(self.parent_page_id),
                         what="opening the parent page", object_id=self.parent_page_id)

    def page(self, page_id: str) -> dict[str, Any]:
        return self.call(lambda: self.client.pages.retrieve(page_id), what="reading a page",
                         object_id=page_id)

    def database(self, database_id: str) -> dict[str, Any]:
        return self.call(lambda: self.client.databases.retrieve(database_id),
                         what="reading a database", object_id=database_id)

    def create_database(self, title: str, properties: dict[str, Any]) -> tuple[str, str]:
        """A database under the parent page with one data source: (database id, source id)."""
        made = self.call(lambda: self.client.databases.create(
            parent={"type": "page_id", "page_id": self.parent_page_id},
            title=blocks.rich_text(title), is_inline=False,
            initial_data_source={"properties": properties}),
            what=f"creating the database {title!r}", object_id=self.parent_page_id)
        return made["id"], made["data_sources"][0]["id"]

    def create_page(self, title: str, children: list[dict[str, Any]] | None = None, *,
                    parent_page_id: str | None = None) -> str:
        """A page under `parent_page_id` (default: the parent page); its blocks appended in
        calls of at most 100. Returns its id."""
        parent = parent_page_id or self.parent_page_id
        made = self.call(lambda: self.client.pages.create(
            parent={"type": "page_id", "page_id": parent},
            properties={"title": blocks.title_value(title)}),
            what=f"creating the page {title!r}", object_id=parent)
        if children:
            self.append_blocks(made["id"], children)
        return made["id"]

    def append_blocks(self, block_id: str, children: list[dict[str, Any]]) -> None:
        for start in range(0, len(children), blocks.BLOCKS_PER_CALL):
            chunk = children[start:start + blocks.BLOCKS_PER_CALL]
            self.call(lambda c=chunk: self.client.blocks.children.append(block_id, children=c),
                      what="adding blocks to a page", object_id=block_id)

    def list_blocks(self, block_id: str) -> list[dict[str, Any]]:
        return self._collect(lambda **kw: self.client.blocks.children.list(block_id, **kw),
                             what="reading a page's blocks", object_id=block_id, read=False)

    def upload_image(self, path: str | Path, *, content_type: str = "image/png") -> str:
        """Send a file with the file upload API; returns the id an `blocks.image` shows."""
        source = Path(path)
        made = self.call(lambda: self.client.file_uploads.create(
            mode="single_part", filename=source.name, content_type=content_type),
            what=f"uploading {source.name}")
        data = source.read_bytes()
        self.call(lambda: self.client.file_uploads.send(
            made["id"], file=(source.name, data, content_type)),
            what=f"uploading {source.name}")
        return made["id"]

    def query(self, data_source_id: str, *, filter: dict[str, Any] | None = None,
              page_size: int = 100) -> list[dict[str, Any]]:
        """Every row of a data source (all pages of the answer), optionally filtered."""
        extra = {"filter": filter} if filter else {}
        return self._collect(
            lambda **kw: self.client.data_sources.query(data_source_id, **extra, **kw),
            what="reading a database", object_id=data_source_id, page_size=page_size)

    def data_source(self, data_source_id: str) -> dict[str, Any]:
        return self.call(lambda: self.client.data_sources.retrieve(data_source_id),
                         what="reading a database", object_id=data_source_id)

    def update_schema(self, data_source_id: str, properties: dict[str, Any]) -> None:
        self.call(lambda: self.client.data_sources.update(data_source_id,
                                                          properties=properties),
                  what="changing a database's columns", object_id=data_source_id)

    def find_row(self, data_source_id: str, key_property: str, key: str) -> str | None:
        rows = self.query(data_source_id,
                          filter={"property": key_property, "rich_text": {"equals": key}})
        return rows[0]["id"] if rows else None

    def upsert_row(self, data_source_id: str, key_property: str, key: str,
                   properties: dict[str, Any], *, page_id: str | None = None) -> str:
        """Update the row whose `key_property` is `key` (or `page_id` when known), else create
        it; returns its page id. Safe to repeat: a second call never makes a second row."""
        values = {**properties, key_property: blocks.text_value(key)}
        if page_id is not None:
            try:
                self._update(page_id, values, key)
                return page_id
            except (ConfigurationError, DataError):
                pass  # deleted or trashed in Notion: find it by its id, else make it again
        found = self.find_row(data_source_id, key_property, key)
        if found is not None:
            self._update(found, values, key)
            return found
        made = self.call(lambda: self.client.pages.create(
            parent={"type": "data_source_id", "data_source_id": data_source_id},
            properties=values), what=f"adding the row {key!r}", object_id=data_source_id)
        return made["id"]

    def _update(self, page_id: str, values: dict[str, Any], key: str) -> None:
        self.call(lambda: self.client.pages.update(page_id, properties=values),
                  what=f"updating the row {key!r}", object_id=page_id)

    def _collect(self, method: Callable[..., Any], *, what: str, object_id: str,
                 page_size: int = 100, read: bool = True) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"page_size": page_size}
            if cursor:
                kwargs["start_cursor"] = cursor
            answer = self.call(lambda kw=kwargs: method(**kw), what=what, object_id=object_id,
                               read=read)
            results.extend(answer["results"])
            if not answer.get("has_more"):
                return results
            cursor = answer["next_cursor"]


def _translate(error: APIResponseError, *, what: str, object_id: str | None) -> Exception:
    code = error.code
    if code == APIErrorCode.ObjectNotFound:
        return ConfigurationError(not_shared_message(object_id or "?"))
    if code in (APIErrorCode.Unauthorized, APIErrorCode.RestrictedResource):
        return ConfigurationError(
            f"Notion refused the token ({what}): check NOTION_TOKEN in .env is the "
            f"integration's secret (docs/NOTION.md)")
    if code == APIErrorCode.RateLimited or error.status >= 500:
        return TemporaryError(f"Notion is busy or down ({what}: HTTP {error.status}); "
                              "will retry later")
    return DataError(f"Notion refused {what}: {error}")
