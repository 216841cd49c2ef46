"""Notion: the signal journal, the parameter table and reports, where traders read them.

Optional: without NOTION_TOKEN and NOTION_PARENT_PAGE every command says how to enable it
(`config.ENABLE_HINT`, docs/NOTION.md), and nothing else in ITA depends on Notion.

| module | role |
| --- | --- |
| `config` | NotionSettings: the Notion fields of `engine.settings.Settings` (token as SecretStr, parent page) |
| `gateway` | NotionGateway: the real notion_client (API 2025-09-03), paced at ~3 requests/s, errors translated to ItaError, `upsert_row` by a stable id, pages, blocks, image uploads |
| `blocks` | block and property builders; text split at 2,000 characters |
| `state` | the ids ITA created, in `<home>/.ita/notion.json` (never synced), one writer lock |
| `outbox` | writes kept on disk while Notion is down, delivered later in order, once |
| `workspace` | `setup_workspace` (databases + reports page, idempotent), `workspace_status` |
| `sync` | `sync_journal`, `deliver_outbox` |
| `params` | the parameter table: `push_parameters`, `pull_parameters` (edit → new setup version) |
| `reports` | `publish_report`: one page per report key under "ITA reports", blocks and images |
| `periodic` | `notion_tick`: what the daemon runs every few minutes |

**The exactly-once rule.** Every row ITA writes carries a stable id column (``Signal id``,
``Setup id``). A write is first appended to the outbox, then delivered as an upsert: find the
row by that id (or by the page id remembered in the state), update it, else create it. A
repeated delivery (after a crash or a lost answer) updates the same row, so no row is ever
made twice; a write is marked done only after Notion confirmed it, so none is lost. Rows are
never found by title.

Importing the package (or `config`) is light: the modules that talk to Notion (httpx,
notion_client) load when first used.
"""  # noqa: E501

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, imported on first use: the package itself stays light
    from engine.adapters.notion.config import ENABLE_HINT, NotionSettings, notion_settings
    from engine.adapters.notion.gateway import NotionGateway
    from engine.adapters.notion.sync import SyncResult, deliver_outbox, sync_journal
    from engine.adapters.notion.workspace import SetupResult, setup_workspace, workspace_status

_HOMES = {"ENABLE_HINT": "config", "NotionSettings": "config", "notion_settings": "config",
          "NotionGateway": "gateway", "SyncResult": "sync", "deliver_outbox": "sync",
          "sync_journal": "sync", "SetupResult": "workspace", "setup_workspace": "workspace",
          "workspace_status": "workspace"}
__all__ = ["ENABLE_HINT", "NotionGateway", "NotionSettings", "SetupResult", "SyncResult",
           "deliver_outbox", "notion_settings", "setup_workspace", "sync_journal",
           "workspace_status"]


def __getattr__(name: str) -> Any:
    """`engine.adapters.notion.NotionGateway` and the like, imported when first asked for:
    reading the settings (the Settings page, `ita` without Notion) never pays for httpx and
    notion_client."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value
