"""What the engine daemon runs every few minutes when Notion is configured (the lead wires it):
deliver the outbox and the journal's new rows, then read the parameter table's edits.

`notion_tick(home)` returns None when Notion is not configured or not set up (nothing to do,
no request made); otherwise what happened, in words, for the daemon's log. A Notion outage is
not an error here: the writes stay in the outbox for the next tick.
"""

from __future__ import annotations

from pathlib import Path

from engine.adapters.notion.config import NotionSettings, notion_settings
from engine.adapters.notion.params import pull_parameters
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.sync import sync_journal
from engine.errors import TemporaryError


def notion_tick(home: str | Path, settings: NotionSettings | None = None) -> list[str] | None:
    settings = settings or notion_settings()
    if not settings.enabled:
        return None
    state = NotionState(home, settings.parent_page_id())
    if state.database("journal") is None:
        return None
    lines = []
    result = sync_journal(home, settings)
    lines.append(f"journal: {result.delivered} delivered, {result.pending} waiting"
                 + (f" ({result.error})" if result.error else ""))
    lines += [f"journal refused: {line}" for line in result.refused or []]
    if state.database("parameters") is not None and result.error is None:
        try:
            outcomes = pull_parameters(home, settings)
        except TemporaryError as error:
            lines.append(f"parameters: not read ({error})")
        else:
            lines += [f"parameters: {o.setup_id}: {o.status}" for o in outcomes]
    return lines
