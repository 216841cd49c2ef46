"""The knowledge base at a glance: one line for the Home page, without Chroma or the model.

    Knowledge: 3 documents (212 passages) · last sync 12 min ago ✓
    Knowledge: 3 documents (212 passages) · sync off
    Knowledge: 3 documents (212 passages, 1 refused) · sync failed: <rclone's reason>

The numbers are the local index's (`.ita/kb/state.json`, `engine.kb.index_state`): documents
indexed and their passages; a file that could not be read is counted as refused. The sync part
is `exchange/sync.json` (`engine.kb.sync.read_status`, without the walk of the shared folder
that counts pending changes): off when no remote is set, never synced, running, the age of the
last sync when it succeeded, else why it failed. Both are small JSON reads.

>>> line(knowledge_status(settings), now=now)  # doctest: +SKIP
'Knowledge: 3 documents (212 passages) · last sync 12 min ago ✓'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from engine.errors import KnowledgeError
from engine.kb.index_state import index_state_path, read_index_state
from engine.kb.sync import read_status

REASON_CHARS = 160  # a failed sync's reason, cut to fit one line


@dataclass(frozen=True)
class KnowledgeStatus:
    """What the Home line shows. `sync`: "off" | "never" | "running" | "ok" | "failed"."""

    documents: int
    passages: int
    refused: int
    sync: str
    last_sync: dt.datetime | None = None  # the last successful sync (UTC)
    reason: str = ""  # why the last sync failed, or why the index cannot be read

    @property
    def failed(self) -> bool:
        return self.sync == "failed" or bool(self.reason and self.sync != "ok")


def knowledge_status(settings) -> KnowledgeStatus:
    """The index's counts and the last sync's outcome (see the module docstring)."""
    try:
        state = read_index_state(index_state_path(settings.home))
        documents, refused = state["documents"], state["failed"]
        passages = sum(int(info.get("chunks") or 0) for info in documents.values())
        unreadable = ""
    except KnowledgeError as error:
        documents, refused, passages, unreadable = {}, {}, 0, str(error)
    sync, last, reason = _sync(read_status(settings, pending=False))
    return KnowledgeStatus(len(documents), passages, len(refused), sync, last,
                           reason or unreadable)


def _sync(status: dict) -> tuple[str, dt.datetime | None, str]:
    last = _when(status.get("last_ok"))
    if not status.get("enabled"):
        return "off", last, ""
    state = status.get("state")
    if state is None:
        return "never", last, ""
    if state == "running":
        return "running", last, ""
    if state == "ok":
        return "ok", last, ""
    return "failed", last, str(status.get("message") or f"state {state}")


def _when(text) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def ago(seconds: float) -> str:
    """``just now``, ``12 min ago``, ``3 h ago``, ``2 days ago``.

    >>> ago(30), ago(720), ago(3 * 3600 + 100), ago(86400 * 2.5)
    ('just now', '12 min ago', '3 h ago', '2 days ago')
    """
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def line(status: KnowledgeStatus, *, now: dt.datetime | None = None) -> str:
    """The Home page's line (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    if status.documents:
        extra = f", {status.refused} refused" if status.refused else ""
        plural = "s" if status.documents != 1 else ""
        head = (f"Knowledge: {status.documents} document{plural} "
                f"({status.passages:,} passage{'s' if status.passages != 1 else ''}{extra})")
    else:
        head = "Knowledge: no documents yet" + (f" ({status.refused} refused)"
                                                 if status.refused else "")
    since = (f"last good sync {ago((now - status.last_sync).total_seconds())}"
             if status.last_sync else "never synced")
    sync = {"off": "sync off", "never": "never synced", "running": "syncing now",
            "ok": (f"last sync {ago((now - status.last_sync).total_seconds())} ✓"
                   if status.last_sync else "synced ✓"),
            "failed": f"sync failed: {_cut(status.reason)} ({since})"}[status.sync]
    if status.reason and status.sync != "failed":  # the index's state is unreadable
        sync += f" · {_cut(status.reason)}"
    return f"{head} · {sync}"


def _cut(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1].rstrip() + "…"
