"""One SQLite file shared by the threads of a process and by several processes.

The plumbing under the live signal journal (`engine.live.journal`) and the paper ledger
(`engine.paper.ledger`): each opens its file through `SqliteFile` and adds only its tables and
queries.

| what | how |
| --- | --- |
| several processes | WAL mode (readers never wait for the writer), a 30 s busy timeout |
| several threads | one connection (``check_same_thread=False``) behind a re-entrant lock |
| a write | ``BEGIN IMMEDIATE`` … ``COMMIT`` under the lock (`SqliteFile._write`); any exception |
| | rolls it back, so a transaction is all or nothing |
| durability | ``synchronous=FULL``: a committed transaction survives a power cut |
| schema | created in one ``BEGIN IMMEDIATE`` transaction (``CREATE … IF NOT EXISTS``): two |
| | processes opening a new file at once both succeed |

>>> with SqliteFile(tmp / "x.sqlite", schema="CREATE TABLE IF NOT EXISTS t (v);") as store:
...     with store._write() as db:  # doctest: +SKIP
...         db.execute("INSERT INTO t VALUES (1)")
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another process's transaction


class SqliteFile:
    """The SQLite file at `path`, its `schema` (idempotent SQL) created on open."""

    def __init__(self, path: str | Path, *, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._use_wal()
        self._db.execute("PRAGMA synchronous=FULL")
        with self._lock:  # idempotent; one transaction, so a racing process waits
            self._db.executescript(f"BEGIN IMMEDIATE;{schema}COMMIT;")

    def _use_wal(self, wait: float = BUSY_TIMEOUT) -> None:
        """Switch the file to WAL. SQLite answers "database is locked" at once, without its busy
        timeout, while another process is creating or switching the same file: retry."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()
