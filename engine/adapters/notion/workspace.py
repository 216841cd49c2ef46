"""`ita notion setup` and `ita notion status`: what ITA keeps under the trader's parent page.

Under the page NOTION_PARENT_PAGE names (shared with the integration), ITA creates:

| name | kind | holds |
| --- | --- | --- |
| ITA signal journal | database (one data source) | one row per live alert, key ``Signal id`` |
| ITA parameters | database (one data source) | one row per setup, keyed by ``Setup id`` |
| ITA reports | page | one child page per report (a report is a document: tables, images) |

Reports are pages, not database rows: a report is read, not filtered, and a page holds
tables and images natively. Everything is found again by the ids stored in
``<home>/.ita/notion.json`` (engine/adapters/notion/state.py); `setup` checks each stored id
still opens and creates only what is missing, so running it twice creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.adapters.notion.config import NotionSettings
from engine.adapters.notion.outbox import Outbox
from engine.adapters.notion.state import NotionState, notion_lock
from engine.errors import ConfigurationError

if TYPE_CHECKING:
    from engine.adapters.notion.gateway import NotionGateway

JOURNAL_KEY = "Signal id"
PARAMETERS_KEY = "Setup id"
STATUS_COLUMN = "ITA status"
DIFF_COLUMN = "Diff"  # the YAML diff of the last version saved from the row

JOURNAL_SCHEMA: dict[str, Any] = {
    "Alert": {"title": {}},
    JOURNAL_KEY: {"rich_text": {}},
    "Time": {"date": {}},
    "Setup": {"rich_text": {}},
    "Version": {"number": {"format": "number"}},
    "Symbol": {"rich_text": {}},
    "Timeframe": {"rich_text": {}},
    "Direction": {"select": {"options": [{"name": "long", "color": "green"},
                                         {"name": "short", "color": "red"}]}},
    "Entry": {"number": {"format": "number"}},
    "Stop": {"number": {"format": "number"}},
    "Target": {"number": {"format": "number"}},
    "Planned R": {"number": {"format": "number"}},
    "Score": {"number": {"format": "number"}},
    "Probability": {"number": {"format": "percent"}},
    "Decision": {"select": {"options": [{"name": "Taken"}, {"name": "Skipped"},
                                        {"name": "Missed"}]}},
    "Outcome": {"rich_text": {}},
    "R": {"number": {"format": "number"}},
}
PARAMETERS_SCHEMA: dict[str, Any] = {
    "Setup": {"title": {}},
    PARAMETERS_KEY: {"rich_text": {}},
    "Version": {"number": {"format": "number"}},
    STATUS_COLUMN: {"rich_text": {}},
    DIFF_COLUMN: {"rich_text": {}},
}
DATABASES = {"journal": ("ITA signal journal", JOURNAL_SCHEMA),
             "parameters": ("ITA parameters", PARAMETERS_SCHEMA)}
REPORTS_TITLE = "ITA reports"


@dataclass
class SetupResult:
    created: list[str] = field(default_factory=list)  # names of what this run created
    kept: list[str] = field(default_factory=list)  # names found again by their stored ids
    parent_title: str = ""


def setup_workspace(home: str | Path, settings: NotionSettings) -> SetupResult:
    """Check the token and the parent page, create the databases and the reports page that
    are missing, store their ids. Idempotent."""
    from engine.adapters.notion.gateway import NotionGateway  # httpx: only when used
    with notion_lock(home), NotionGateway(settings) as notion:
        parent = notion.check()
        state = NotionState(home, notion.parent_page_id)
        result = SetupResult(parent_title=_title(parent))
        for name, (title, schema) in DATABASES.items():
            stored = state.database(name)
            if stored is not None and _still_there(notion, stored["database_id"]):
                _add_missing_columns(notion, stored["data_source_id"], schema)
                result.kept.append(title)
                continue
            database_id, source_id = notion.create_database(title, schema)
            state.set_database(name, database_id, source_id)
            state.save()  # at once: a crash later must not forget what exists
            result.created.append(title)
        page_id = state.data.get("reports_page_id")
        if page_id is not None and _still_there(notion, page_id, page=True):
            result.kept.append(REPORTS_TITLE)
        else:
            state.data["reports_page_id"] = notion.create_page(REPORTS_TITLE)
            state.save()
            result.created.append(REPORTS_TITLE)
        return result


def _still_there(notion: NotionGateway, object_id: str, *, page: bool = False) -> bool:
    try:
        found = notion.page(object_id) if page else notion.database(object_id)
    except ConfigurationError:  # deleted, or no longer shared: make a new one
        return False
    return not found.get("in_trash") and not found.get("archived")


def _add_missing_columns(notion: NotionGateway, source_id: str, schema: dict[str, Any]) -> None:
    have = notion.data_source(source_id)["properties"]
    missing = {name: spec for name, spec in schema.items()
               if name not in have and "title" not in spec}
    if missing:
        notion.update_schema(source_id, missing)


def _title(page: dict[str, Any]) -> str:
    for prop in page.get("properties", {}).values():
        if prop.get("type") == "title":
            return "".join(t.get("plain_text", "") for t in prop["title"])
    return ""


def workspace_status(home: str | Path, settings: NotionSettings) -> dict[str, Any]:
    """What `ita notion status` and Settings show, without a request to Notion."""
    if not settings.enabled:
        return {"enabled": False}
    state = NotionState(home, settings.parent_page_id())
    return {"enabled": True, "parent_page_id": state.parent_page_id,
            "databases": dict(state.data["databases"]),
            "reports_page_id": state.data.get("reports_page_id"),
            "journal_rows": len(state.data["rows"].get("journal", {})),
            "outbox_pending": len(Outbox(home).pending()),
            "set_up": all(name in state.data["databases"] for name in DATABASES)}
