"""Report pages under "ITA reports": one live page per report key, written whole each time.

`publish_report(home, settings, key, title, build)` is the machinery the backtest and period
reports use: `build(notion)` returns the page's blocks (it may upload images with
`notion.upload_image` and show them with `blocks.image`). The key is stable (``run:<id>``,
``setup:<id>@v3:2024-03-01..2024-03-31``): publishing the same key again moves the previous
page to the trash and makes a fresh one, so a report never appears twice and never shows a
mix of old and new numbers. The page ids are kept in ``<home>/.ita/notion.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.adapters.notion.config import NotionSettings, require_enabled
from engine.adapters.notion.state import NotionState, notion_lock
from engine.errors import ConfigurationError

if TYPE_CHECKING:
    from engine.adapters.notion.gateway import NotionGateway

BlocksBuilder = Callable[["NotionGateway"], list[dict[str, Any]]]


def publish_report(home: str | Path, settings: NotionSettings, key: str, title: str,
                   build: BlocksBuilder) -> str:
    """Write the report `key` as a page under "ITA reports"; returns the page's id."""
    require_enabled(settings)
    from engine.adapters.notion.gateway import NotionGateway  # httpx: only when used
    with notion_lock(home), NotionGateway(settings) as notion:
        state = NotionState(home, settings.parent_page_id())
        parent = state.data.get("reports_page_id")
        if parent is None:
            raise ConfigurationError("Notion's 'ITA reports' page does not exist yet: run "
                                     "`ita notion setup` first")
        children = build(notion)
        page_id = notion.create_page(title, children, parent_page_id=parent)
        reports = state.data.setdefault("reports", {})
        previous = reports.get(key)
        reports[key] = page_id
        state.save()  # the new page is recorded before the old one goes
        if previous is not None and previous != page_id:
            try:
                notion.call(lambda: notion.client.pages.update(previous, in_trash=True),
                            what="replacing the report's previous page", object_id=previous)
            except ConfigurationError:
                pass  # already deleted in Notion
        return page_id
