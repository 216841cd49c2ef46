"""The paper ledger: every order, fill, position event and balance change, append-only.

A SQLite file at ``<home>/.ita/paper.sqlite`` (local state), WAL mode so pages and
``ita paper status`` read while the follower writes; writes in ``BEGIN IMMEDIATE``
transactions. Nothing is ever updated or deleted: positions and the balance are *derived*
from the rows (`Ledger.positions`, `Ledger.balance`), never kept apart where they could
disagree.

| table     | one row per                         | kinds                          |
| --------- | ----------------------------------- | ------------------------------ |
| orders    | order placed for a signal           | market, limit; refused (reason) |
| fills     | fill of an order or an exit         | entry, partial, exit           |
| positions | position event                      | open, closed                   |
| balance   | change of the cash balance          | fee, pnl                       |
| exchange  | real order event (engine.paper.execute) | intent, answer, rejected, ... |

Every row has a **stable id**: the first 24 hex digits of sha256(account, signal id, table,
kind, bar time). Rows are written with ``INSERT OR IGNORE``, so processing the same bars again
(after a restart or a ``kill -9`` at any point) inserts nothing twice; one call's rows go in
one transaction, so a crash leaves all of them or none.

A position's id is derived from (account, signal id) the same way (`position_id`).
"""

from __future__ import annotations

import hashlib
import os
import signal as _signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from engine._sqlite import SqliteFile

LEDGER_FILE = Path(".ita") / "paper.sqlite"
CRASH_ENV = "ITA_PAPER_CRASH_AT"  # tests: SIGKILL this process at the named point

_COMMON = ("id TEXT PRIMARY KEY, seq INTEGER NOT NULL, account TEXT NOT NULL, "
           "signal_id TEXT NOT NULL, position_id TEXT NOT NULL, kind TEXT NOT NULL, "
           "at TEXT NOT NULL, created_at TEXT NOT NULL")
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (("symbol", "TEXT"), ("setup_id", "TEXT"), ("setup_version", "INTEGER"),
               ("direction", "INTEGER"), ("price", "REAL"), ("stop", "REAL"),
               ("target", "REAL"), ("reason", "TEXT")),
    "fills": (("price", "REAL"), ("size", "REAL"), ("fee", "REAL"), ("reason", "TEXT")),
    "positions": (("symbol", "TEXT"), ("setup_id", "TEXT"), ("direction", "INTEGER"),
                  ("signal_time", "TEXT"), ("entry_time", "TEXT"), ("entry_price", "REAL"),
                  ("size", "REAL"), ("stop", "REAL"), ("target", "REAL"),
                  ("exit_price", "REAL"), ("exit_reason", "TEXT"), ("risk", "REAL"),
                  ("pnl", "REAL"), ("fees", "REAL"), ("slippage", "REAL"),
                  ("r_gross", "REAL"), ("r_net", "REAL")),
    "balance": (("amount", "REAL"),),
    "exchange": (("role", "TEXT"), ("client_id", "TEXT"), ("symbol", "TEXT"), ("side", "TEXT"),
                 ("type", "TEXT"), ("amount", "REAL"), ("price", "REAL"),
                 ("exchange_id", "TEXT"), ("status", "TEXT"), ("filled", "REAL"),
                 ("remaining", "REAL"), ("average", "REAL"), ("reason", "TEXT")),
}
_SCHEMA = "".join(
    f"CREATE TABLE IF NOT EXISTS {name} ({_COMMON}, "
    f"{', '.join(f'{c} {t}' for c, t in cols)});"
    f"CREATE INDEX IF NOT EXISTS {name}_account ON {name} (account, seq);"
    for name, cols in TABLES.items())


def ledger_path(home: str | Path) -> Path:
    return Path(home) / LEDGER_FILE


def stable_id(*parts: object) -> str:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def position_id(account: str, signal_id: str) -> str:
    return "p-" + stable_id(account, signal_id)[:16]


def iso(moment) -> str:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_reached: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Die here, as ``kill -9`` would, when the crash tests ask for it: `CRASH_ENV` names the
    point and ``ITA_PAPER_CRASH_NTH`` the how-many-th time it is reached (default 1)."""
    if os.environ.get(CRASH_ENV) != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(os.environ.get("ITA_PAPER_CRASH_NTH", "1")):
        os.kill(os.getpid(), _signal.SIGKILL)


@dataclass(frozen=True)
class Entry:
    """One ledger row to append: its table, kind, account, signal, bar time and values."""

    table: str
    kind: str
    account: str
    signal_id: str
    at: str  # ISO UTC bar time
    values: dict

    @property
    def id(self) -> str:
        return stable_id(self.account, self.signal_id, self.table, self.kind, self.at)


class Ledger(SqliteFile):
    """The ledger at `path` (usually `ledger_path(home)`); one connection behind a lock.

    >>> ledger = Ledger(ledger_path(home))  # doctest: +SKIP
    >>> ledger.append(entries)  # doctest: +SKIP
    3
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, schema=_SCHEMA)

    def append(self, entries: Iterable[Entry]) -> int:
        """Append `entries` in one transaction; rows already there are left alone. Returns
        how many were new."""
        now = iso(pd.Timestamp.now(tz="UTC"))
        added = 0
        with self._write() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM (" + " UNION ALL ".join(
                f"SELECT MAX(seq) AS seq FROM {t}" for t in TABLES) + ")").fetchone()[0]
            for n, entry in enumerate(entries):
                cols = [c for c, _ in TABLES[entry.table]]
                names = ["id", "seq", "account", "signal_id", "position_id", "kind", "at",
                         "created_at", *cols]
                row = [entry.id, seq + added + 1, entry.account, entry.signal_id,
                       position_id(entry.account, entry.signal_id), entry.kind, entry.at, now,
                       *(entry.values.get(c) for c in cols)]
                cursor = db.execute(
                    f"INSERT OR IGNORE INTO {entry.table} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' * len(names))})", row)
                added += cursor.rowcount
                if n == 1:  # one row written, the rest not: the transaction is half done
                    crash_point("ledger:inside_transaction")
        return added

    def rows(self, table: str, account: str) -> pd.DataFrame:
        """The rows of `table` for `account`, in the order they were appended."""
        with self._lock:
            frame = pd.read_sql_query(f"SELECT * FROM {table} WHERE account = ? ORDER BY seq",
                                      self._db, params=[account])
        return frame

    def snapshot(self, account: str) -> dict[str, list[tuple]]:
        """Every row of `account` without its write time: equal for equal ledgers."""
        out = {}
        with self._lock:
            for table in TABLES:
                rows = self._db.execute(f"SELECT * FROM {table} WHERE account = ? ORDER BY seq",
                                        [account]).fetchall()
                out[table] = [tuple(v for k, v in zip(r.keys(), r, strict=True)
                                    if k != "created_at") for r in rows]
        return out

    def balance(self, account: str, starting: float, *, until: str | None = None) -> float:
        """The cash balance: `starting` plus every balance change (up to bar time `until`,
        ISO UTC, when given)."""
        where, args = "account = ?", [account]
        if until is not None:
            where, args = where + " AND at <= ?", [account, until]
        with self._lock:
            row = self._db.execute(f"SELECT SUM(amount) FROM balance WHERE {where}",
                                   args).fetchone()
        return float(starting) + float(row[0] or 0.0)

    def positions(self, account: str) -> pd.DataFrame:
        """One row per position (open ones have no exit): the trades of the account."""
        events = self.rows("positions", account)
        if events.empty:
            return events.assign(exit_time=pd.Series(dtype=object),
                                 status=pd.Series(dtype=object))
        opened = events[events["kind"] == "open"].set_index("position_id")
        closed = events[events["kind"] == "closed"].set_index("position_id")
        keep = ["exit_price", "exit_reason", "risk", "pnl", "fees", "slippage", "r_gross",
                "r_net"]
        out = opened.drop(columns=keep).join(closed[keep].assign(exit_time=closed["at"]))
        out["status"] = out["exit_reason"].map(lambda r: "closed" if isinstance(r, str)
                                               else "open")
        return out.reset_index()

    def open_positions(self, account: str) -> pd.DataFrame:
        positions = self.positions(account)
        return positions[positions["status"] == "open"] if len(positions) else positions
