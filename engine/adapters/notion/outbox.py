"""Writes for Notion kept on disk until Notion has them: delivered later, in order, once.

``<home>/.ita/notion_outbox.jsonl`` holds one operation a line, appended (and fsynced) before
any attempt; ``notion_outbox.done`` lists the ids of delivered operations, appended after
Notion confirmed each. An operation is an upsert of a row by its stable id, so delivering it
again after a crash (between Notion's answer and the done line) changes nothing: each write
lands exactly once. When every operation is delivered both files are emptied atomically.

| field | meaning |
| --- | --- |
| op_id | sha256 of (table, key, values): the same write queued twice is one operation |
| table | ITA's name of the database (``journal``, ``parameters``) |
| key | the row's stable id (a signal id, a setup id) |
| properties | the Notion property values to write |
| queued_at | ISO UTC |
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine._io import write_text_atomic

OUTBOX_FILE = Path(".ita") / "notion_outbox.jsonl"
DONE_FILE = Path(".ita") / "notion_outbox.done"


def values_hash(table: str, key: str, properties: dict[str, Any]) -> str:
    text = json.dumps([table, key, properties], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Operation:
    op_id: str
    table: str
    key: str
    properties: dict[str, Any]
    queued_at: str


class Outbox:
    """The queue under one home. Not thread-safe on its own: hold `notion_lock`."""

    def __init__(self, home: str | Path) -> None:
        self.path = Path(home) / OUTBOX_FILE
        self.done_path = Path(home) / DONE_FILE

    def add(self, table: str, key: str, properties: dict[str, Any]) -> Operation | None:
        """Queue a write; None when the same write is already waiting."""
        op_id = values_hash(table, key, properties)
        if op_id in {op.op_id for op in self.pending()}:
            return None
        op = Operation(op_id, table, key, properties, datetime.now(UTC).isoformat())
        _append(self.path, json.dumps(op.__dict__, sort_keys=True, default=str))
        return op

    def pending(self) -> list[Operation]:
        """Operations not yet delivered, oldest first."""
        done = set(_lines(self.done_path))
        ops = []
        for line in _lines(self.path):
            try:
                ops.append(Operation(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by a crash mid-append: never confirmed, not queued
        return [op for op in ops if op.op_id not in done]

    def mark_done(self, op: Operation) -> None:
        _append(self.done_path, op.op_id)

    def compact(self) -> None:
        """Empty both files when nothing is pending (keeps them from growing forever)."""
        if self.path.exists() and not self.pending():
            write_text_atomic(self.path, "")
            write_text_atomic(self.done_path, "")


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    # a line cut by a crash mid-append has no newline: it was never confirmed, drop it
    text = path.read_text(encoding="utf-8")
    return [line for line in text.split("\n")[:-1] if line.strip()]


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if path.stat().st_size and not _ends_with_newline(path):
            os.write(fd, b"\n")  # a torn earlier line stays separate (and is ignored)
        os.write(fd, (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
