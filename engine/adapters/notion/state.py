"""What ITA created in Notion, found again by the ids it stored, never by title.

A JSON file at ``<home>/.ita/notion.json`` (local state like the alert journal: never synced),
written atomically, keyed by the parent page's id so that pointing NOTION_PARENT_PAGE at
another page starts afresh instead of writing into the old one's databases:

```
{"<parent page id>": {"databases": {"journal": {"database_id", "data_source_id"}, ...},
                      "reports_page_id": "...",
                      "rows": {"journal": {"<stable id>": {"page_id", "hash"}}}}}
```

`rows` remembers each row's page id and the hash of the values last delivered, so a sync
sends only what changed. Losing the file loses nothing in Notion: `ita notion setup` asks for
fresh databases and rows are found again by their stable id column.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine._io import write_json_atomic
from engine.errors import DataError

STATE_FILE = Path(".ita") / "notion.json"
LOCK_FILE = Path(".ita") / "notion.lock"


class NotionState:
    """The ids under one parent page; `save()` writes the whole file atomically."""

    def __init__(self, home: str | Path, parent_page_id: str) -> None:
        self.path = Path(home) / STATE_FILE
        self.parent_page_id = parent_page_id
        self._all = self._load()
        self.data: dict[str, Any] = self._all.setdefault(
            parent_page_id, {"databases": {}, "reports_page_id": None, "rows": {}})

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"{self.path}: unreadable ({error}); delete it and run "
                            "`ita notion setup` again (rows are found by their ids)") from None

    def save(self) -> None:
        write_json_atomic(self.path, self._all)

    def database(self, name: str) -> dict[str, str] | None:
        return self.data["databases"].get(name)

    def set_database(self, name: str, database_id: str, data_source_id: str) -> None:
        self.data["databases"][name] = {"database_id": database_id,
                                        "data_source_id": data_source_id}

    def row(self, table: str, key: str) -> dict[str, Any] | None:
        return self.data["rows"].get(table, {}).get(key)

    def set_row(self, table: str, key: str, page_id: str, digest: str) -> None:
        self.data["rows"].setdefault(table, {})[key] = {"page_id": page_id, "hash": digest}


@contextlib.contextmanager
def notion_lock(home: str | Path) -> Iterator[None]:
    """One Notion writer per home at a time (the CLI and the daemon may both sync)."""
    path = Path(home) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
