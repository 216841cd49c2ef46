"""The signal journal and its outbox: every live signal recorded once, every delivery tracked.

A SQLite file at ``<home>/.ita/live.sqlite`` (local state: it never syncs), in WAL mode so the
Live page and ``ita live status`` read while the monitor writes. Exports for DuckDB:
`SignalJournal.export_parquet`.

**signals** — one row per live signal, unique on `signal_id`:

| column | meaning |
| --- | --- |
| signal_id | stable text id: setup@vN, source:symbol, timeframe, known_at, long/short |
| short_key | 16 hex digits of the id's sha256: what Telegram buttons carry (64-byte limit) |
| known_at ... reasons | the signal contract's fields (engine/signals.py; known_at as ISO UTC) |
| timeframe, source | the feed it came from |
| score, late | the alert's rank score (NULL: none); recorded after its bar was already old |
| probability | the champion model's calibrated probability of reaching target (NULL: no champion) |
| created_at | when the monitor recorded it (ISO UTC) |
| decision, decision_reason, decided_at | Taken / Skipped / Missed, from the app or Telegram |
| outcome | what became of it, traded alone as the backtester would (`engine.live.outcomes`): |
| | target / stop / time / breakeven (exit reason), unfilled (a limit order that expired); |
| | NULL while unknown (a trade still open, an order still working, bars not closed yet) |
| outcome_r | the trade's net R after the setup version's costs (`r_net`); NULL when unfilled |
| outcome_at | the exit bar (the last working bar when unfilled), a bar label like `known_at`: |
| | the outcome became known at that bar's close. Written once by `set_outcome`, never changed |
| comment | the LLM's short comment on the alert, when one came (`engine/live/comment.py`) |

**outbox** — one row per (signal_id, channel):

| column | meaning |
| --- | --- |
| state | `pending` → `sending` → `sent`; `failed` (refused for good); `suppressed` (paused) |
| attempts, last_error | sends tried and the last error, in the trader's words |
| message_ids | JSON {chat id: message id} of the chats that confirmed |
| resent | 1 when it was sent again after a crash left it unconfirmed (see below) |
| buttons | after an album: JSON {chat id: id of the buttons message, null while owed} |
| created_at, updated_at, sending_at, sent_at | ISO UTC |

**Exactly once.** `record(signal, channels=...)` writes the signal and its outbox rows in one
transaction, before anything is sent: a crash before it leaves nothing (the monitor evaluates
that bar again), a crash after it leaves pending rows. The sender marks a row `sending`, sends,
records each chat's message id as that chat confirms, then marks it `sent`. On restart a
row still `sending` is the one ambiguous case: the process died between asking the channel and
writing its answer, and Telegram cannot tell whether it delivered. Such a row is sent again to
the chats without a recorded message id, its caption marked "(resent)": an alert may then
arrive twice, never zero times. Every other crash point delivers exactly once.

**Albums.** Several alerts of one close go to a chat as one album, their buttons in a message
after it. The album's message ids are recorded for every alert of it in one transaction, with
the buttons marked owed; a restart that finds buttons owed sends only them (never the album
again). A crash after Telegram accepted the buttons and before their id was recorded sends
the buttons again: the one duplicate an album can cause, and only of its buttons.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from engine._io import atomic_path
from engine._sqlite import SqliteFile
from engine.errors import DataError

JOURNAL_FILE = Path(".ita") / "live.sqlite"
DECISIONS = ("Taken", "Skipped", "Missed")
OUTCOMES = ("target", "stop", "time", "breakeven", "unfilled")
STATES = ("pending", "sending", "sent", "failed", "suppressed")

# (name, SQL type) of the signal fields stored from a LiveSignal, in the contract's order
SIGNAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("known_at", "TEXT NOT NULL"), ("symbol", "TEXT NOT NULL"), ("direction", "INTEGER NOT NULL"),
    ("entry_type", "TEXT NOT NULL"), ("entry", "REAL"), ("stop", "REAL"), ("target", "REAL"),
    ("r_planned", "REAL"), ("expiry_bars", "INTEGER"), ("time_exit_bars", "INTEGER"),
    ("breakeven_r", "REAL"), ("partial_r", "REAL"), ("partial_fraction", "REAL"),
    ("setup_id", "TEXT NOT NULL"), ("setup_version", "INTEGER NOT NULL"), ("reasons", "TEXT"),
    ("timeframe", "TEXT NOT NULL"), ("source", "TEXT NOT NULL"),
)
_FLOATS = {name for name, kind in SIGNAL_FIELDS if kind == "REAL"}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS signals (
    signal_id TEXT PRIMARY KEY,
    short_key TEXT NOT NULL UNIQUE,
    {", ".join(f"{name} {kind}" for name, kind in SIGNAL_FIELDS)},
    score REAL, late INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
    decision TEXT, decision_reason TEXT, decided_at TEXT,
    outcome TEXT, outcome_r REAL, outcome_at TEXT
);
CREATE INDEX IF NOT EXISTS signals_known_at ON signals (known_at);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id TEXT NOT NULL REFERENCES signals (signal_id),
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)})),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    message_ids TEXT NOT NULL DEFAULT '{{}}',
    resent INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, sending_at TEXT, sent_at TEXT,
    UNIQUE (signal_id, channel)
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (channel, state);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# columns added after the first release: (table, name, SQL type), added to older files on open
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (("signals", "comment", "TEXT"),
                                                    ("outbox", "buttons", "TEXT"),
                                                    ("signals", "probability", "REAL"))


def journal_path(home: str | Path) -> Path:
    """Where the journal of the ITA home `home` lives."""
    return Path(home) / JOURNAL_FILE


def short_key(signal_id: str) -> str:
    """The 16-hex-digit key Telegram buttons carry instead of the (long) signal id."""
    return hashlib.sha256(signal_id.encode("utf-8")).hexdigest()[:16]


def _iso(moment: datetime | pd.Timestamp) -> str:
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JournalSignal:
    """One journaled signal as the pages, the status and the alert renderer read it."""

    signal_id: str
    fields: dict[str, Any]  # the LiveSignal fields (known_at as a UTC Timestamp, NaN for none)
    score: float | None
    late: bool
    created_at: pd.Timestamp
    decision: str | None
    decision_reason: str | None
    deliveries: dict[str, str] = field(default_factory=dict)  # channel -> state
    comment: str | None = None  # the LLM's comment, if any
    probability: float | None = None  # the champion model's, when there was one
    outcome: str | None = None  # OUTCOMES; None while unknown
    outcome_r: float | None = None  # net R (None: unknown or unfilled)
    outcome_at: pd.Timestamp | None = None  # the exit bar (UTC), known at its close

    def __getattr__(self, name: str) -> Any:  # signal.symbol, signal.entry, ...
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class OutboxItem:
    """A delivery still to do: the signal, its channel and how far earlier attempts got."""

    signal: JournalSignal
    channel: str
    state: str
    attempts: int
    last_error: str | None
    message_ids: dict[str, int]
    buttons: dict[str, int | None] = field(default_factory=dict)  # after an album, per chat

    @property
    def signal_id(self) -> str:
        return self.signal.signal_id

    @property
    def owed_buttons(self) -> list[str]:
        """The chats that have this alert in an album but not yet its decision buttons."""
        return [chat for chat, message_id in self.buttons.items() if message_id is None]

    @property
    def unconfirmed(self) -> bool:
        """A send was started and never confirmed (the process died): resend, marked."""
        return self.state == "sending"


class SignalJournal(SqliteFile):
    """The live signal journal at `path` (usually `journal_path(home)`).

    Safe for several threads of one process (one connection behind a lock) and for several
    processes (SQLite WAL, writes in `BEGIN IMMEDIATE` transactions, a busy timeout).

    >>> journal = SignalJournal(journal_path(home))  # doctest: +SKIP
    >>> journal.record(signal, score=0.7, channels=["telegram"])  # doctest: +SKIP
    True
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = _now) -> None:
        super().__init__(path, schema=_SCHEMA)
        self._clock = clock
        self._add_columns()

    def _add_columns(self) -> None:
        """Give a journal written by an older ITA the columns added since (idempotent)."""
        with self._write() as db:
            for table, name, kind in _ADDED_COLUMNS:
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if name not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    # -- signals ---------------------------------------------------------------------------
    def record(self, signal: Any, *, score: float | None = None, late: bool = False,
               channels: Iterable[str] = (), probability: float | None = None) -> bool:
        """Record `signal` (a LiveSignal) once; True when it is new. `channels` queues its
        delivery in the same transaction (a crash can never leave it recorded but unqueued).
        A signal already recorded is left as it was, its deliveries included."""
        signal_id = signal.signal_id
        values = {name: _stored(name, getattr(signal, name)) for name, _ in SIGNAL_FIELDS}
        names = ["signal_id", "short_key", *values, "score", "late", "created_at",
                 "probability"]
        row = [signal_id, short_key(signal_id), *values.values(), _real(score), int(late),
               _iso(self._clock()), _real(probability)]
        with self._write() as db:
            cursor = db.execute(
                f"INSERT OR IGNORE INTO signals ({', '.join(names)}) "
                f"VALUES ({', '.join('?' * len(names))})", row)
            new = cursor.rowcount == 1
            if new:
                for channel in channels:
                    self._enqueue(db, signal_id, channel)
        return new

    def get(self, signal_id: str) -> JournalSignal:
        rows = self._signal_rows("WHERE s.signal_id = ?", [signal_id])
        if not rows:
            raise DataError(f"{self.path}: no signal {signal_id!r} in the live journal")
        return rows[0]

    def signal_for_key(self, key: str) -> str | None:
        """The signal id behind a Telegram button's short key, or None."""
        rows = self._read("SELECT signal_id FROM signals WHERE short_key = ?", [key])
        return rows[0]["signal_id"] if rows else None

    def signal_for_message(self, chat_id: str | int, message_id: int) -> str | None:
        """The signal whose alert is message `message_id` in chat `chat_id`, or None."""
        rows = self._read(
            "SELECT o.signal_id FROM outbox o, json_each(o.message_ids) m "
            "WHERE m.key = ? AND m.value = ?", [str(chat_id), int(message_id)])
        return rows[0]["signal_id"] if rows else None

    def set_decision(self, signal_id: str, decision: str, reason: str | None = None) -> None:
        """Record the trader's decision (Taken / Skipped / Missed, any case) and an optional
        reason; a later decision replaces an earlier one."""
        chosen = _decision(decision)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE signals SET decision = ?, decision_reason = COALESCE(?, decision_reason),"
                " decided_at = ? WHERE signal_id = ?",
                [chosen, reason, _iso(self._clock()), signal_id])
        if cursor.rowcount == 0:
            raise DataError(f"{self.path}: no signal {signal_id!r} in the live journal")

    def set_reason(self, signal_id: str, reason: str) -> None:
        """Attach the trader's reason to a signal (the decision, if any, stays)."""
        with self._write() as db:
            db.execute("UPDATE signals SET decision_reason = ? WHERE signal_id = ?",
                       [reason, signal_id])

    def set_comment(self, signal_id: str, comment: str) -> None:
        """Store the LLM's comment on a signal (a later one replaces it)."""
        with self._write() as db:
            cursor = db.execute("UPDATE signals SET comment = ? WHERE signal_id = ?",
                                [comment, signal_id])
        if cursor.rowcount == 0:
            raise DataError(f"{self.path}: no signal {signal_id!r} in the live journal")

    def set_outcome(self, signal_id: str, outcome: str, r: float | None,
                    at: datetime | pd.Timestamp) -> bool:
        """Record what became of a signal (`OUTCOMES`), its net R (None when unfilled) and its
        exit bar `at`; True when newly recorded. Recording the same outcome again is a no-op
        (False); a known outcome is never replaced by a different one (`DataError`)."""
        chosen = _outcome(outcome)
        value = None if r is None or math.isnan(float(r)) else float(r)
        stamp = _iso(at)
        with self._write() as db:
            row = db.execute("SELECT outcome, outcome_r, outcome_at FROM signals "
                             "WHERE signal_id = ?", [signal_id]).fetchone()
            if row is None:
                raise DataError(f"{self.path}: no signal {signal_id!r} in the live journal")
            if row["outcome"] is None:
                db.execute("UPDATE signals SET outcome = ?, outcome_r = ?, outcome_at = ? "
                           "WHERE signal_id = ?", [chosen, value, stamp, signal_id])
                return True
        if _same_outcome(row, chosen, value, stamp):
            return False
        raise DataError(f"{self.path}: signal {signal_id!r} already has the outcome "
                        f"{row['outcome']} ({row['outcome_r']} R at {row['outcome_at']}); "
                        f"an outcome is never replaced (refused: {chosen}, {value} R at {stamp})")

    def unresolved(self, *, since: datetime | pd.Timestamp | None = None
                   ) -> list[JournalSignal]:
        """Signals whose outcome is not known yet (bar at or after `since`), oldest first."""
        where, args = "WHERE s.outcome IS NULL", []
        if since is not None:
            where += " AND s.known_at >= ?"
            args.append(_iso(since))
        return self._signal_rows(where + " ORDER BY s.known_at, s.signal_id", args)

    def today(self, *, tz: str = "UTC") -> list[JournalSignal]:
        """Signals whose bar (`known_at`) falls on today's date in `tz`, oldest first."""
        now = pd.Timestamp(self._clock()).tz_convert(tz)
        start = now.normalize()
        end = start + pd.Timedelta(days=1)
        return self._signal_rows("WHERE s.known_at >= ? AND s.known_at < ? "
                                 "ORDER BY s.known_at, s.score DESC NULLS LAST",
                                 [_iso(start), _iso(end)])

    def recent(self, n: int = 20) -> list[JournalSignal]:
        """The `n` latest signals, newest first."""
        return self._signal_rows("ORDER BY s.known_at DESC, s.score DESC NULLS LAST LIMIT ?",
                                 [int(n)])

    def _signal_rows(self, where: str, args: list[Any]) -> list[JournalSignal]:
        rows = self._read(
            "SELECT s.*, (SELECT json_group_object(o.channel, o.state) FROM outbox o "
            f"WHERE o.signal_id = s.signal_id) AS deliveries FROM signals s {where}", args)
        return [_journal_signal(row) for row in rows]

    # -- outbox ----------------------------------------------------------------------------
    def enqueue(self, signal_id: str, channel: str) -> bool:
        """Queue `signal_id` for `channel`; True when newly queued."""
        with self._write() as db:
            return self._enqueue(db, signal_id, channel)

    def _enqueue(self, db: sqlite3.Connection, signal_id: str, channel: str) -> bool:
        now = _iso(self._clock())
        cursor = db.execute(
            "INSERT OR IGNORE INTO outbox (signal_id, channel, state, created_at, updated_at) "
            "VALUES (?, ?, 'pending', ?, ?)", [signal_id, channel, now, now])
        return cursor.rowcount == 1

    def pending(self, channel: str) -> list[OutboxItem]:
        """What `channel` still has to deliver, oldest bar first, best score first within a bar:
        `pending` rows and `sending` rows left unconfirmed by a crash."""
        rows = self._read(
            "SELECT o.signal_id, o.state, o.attempts, o.last_error, o.message_ids, o.buttons "
            "FROM outbox o JOIN signals s USING (signal_id) "
            "WHERE o.channel = ? AND o.state IN ('pending', 'sending') "
            "ORDER BY s.known_at, s.score DESC NULLS LAST, o.seq", [channel])
        if not rows:
            return []
        signals = {s.signal_id: s for s in self._signal_rows(
            "WHERE s.signal_id IN (SELECT signal_id FROM outbox WHERE channel = ? "
            "AND state IN ('pending', 'sending'))", [channel])}
        return [OutboxItem(signals[row["signal_id"]], channel, row["state"], row["attempts"],
                           row["last_error"], json.loads(row["message_ids"]),
                           json.loads(row["buttons"] or "{}")) for row in rows]

    def mark_sending(self, signal_id: str, channel: str, *, resent: bool = False) -> None:
        self._set_state(signal_id, channel, "sending", attempts=1, sending=True,
                        resent=resent)

    def mark_chat_sent(self, signal_id: str, channel: str, chat_id: str | int,
                       message_id: int) -> None:
        """One chat confirmed while the row is still `sending`."""
        with self._write() as db:
            db.execute("UPDATE outbox SET message_ids = json_set(message_ids, ?, ?), "
                       "updated_at = ? WHERE signal_id = ? AND channel = ?",
                       [f'$."{chat_id}"', int(message_id), _iso(self._clock()), signal_id,
                        channel])

    def mark_album_sent(self, signal_ids: list[str], channel: str, chat_id: str | int,
                        message_ids: list[int]) -> None:
        """One chat confirmed an album: each alert's message id, and its buttons owed, for all
        the album's alerts at once (a crash never records half an album)."""
        if len(signal_ids) != len(message_ids):
            raise ValueError(f"{len(signal_ids)} alerts but {len(message_ids)} message ids")
        path, now = f'$."{chat_id}"', _iso(self._clock())
        with self._write() as db:
            for signal_id, message_id in zip(signal_ids, message_ids, strict=True):
                db.execute("UPDATE outbox SET message_ids = json_set(message_ids, ?, ?), "
                           "buttons = json_set(COALESCE(buttons, '{}'), ?, json('null')), "
                           "updated_at = ? WHERE signal_id = ? AND channel = ?",
                           [path, int(message_id), path, now, signal_id, channel])

    def mark_buttons_sent(self, signal_ids: list[str], channel: str, chat_id: str | int,
                          message_id: int) -> None:
        """The decision buttons of these album alerts reached `chat_id` as `message_id`."""
        path, now = f'$."{chat_id}"', _iso(self._clock())
        with self._write() as db:
            for signal_id in signal_ids:
                db.execute("UPDATE outbox SET buttons = json_set(COALESCE(buttons, '{}'), ?, ?),"
                           " updated_at = ? WHERE signal_id = ? AND channel = ?",
                           [path, int(message_id), now, signal_id, channel])

    def mark_sent(self, signal_id: str, channel: str,
                  message_id: dict[str, int] | int | None = None) -> None:
        """The channel confirmed: `message_id` is one id or {chat id: message id}."""
        ids = message_id if isinstance(message_id, dict) else (
            {} if message_id is None else {"": int(message_id)})
        with self._write() as db:
            row = db.execute("SELECT message_ids FROM outbox WHERE signal_id = ? AND channel = ?",
                             [signal_id, channel]).fetchone()
            merged = {**(json.loads(row["message_ids"]) if row else {}),
                      **{str(k): int(v) for k, v in ids.items()}}
            self._update(db, signal_id, channel, state="sent", message_ids=json.dumps(merged),
                         sent_at=_iso(self._clock()))

    def mark_retry(self, signal_id: str, channel: str, error: str) -> None:
        """A temporary failure: back to `pending` (delivered later, in order)."""
        self._set_state(signal_id, channel, "pending", error=error)

    def mark_failed(self, signal_id: str, channel: str, error: str) -> None:
        """The channel refused this alert for good (it is not retried)."""
        self._set_state(signal_id, channel, "failed", error=error)

    def suppress_pending(self, channel: str) -> int:
        """Alerts are paused: what `channel` still had to send is kept but never sent."""
        with self._write() as db:
            return db.execute(
                "UPDATE outbox SET state = 'suppressed', last_error = 'alerts paused', "
                "updated_at = ? WHERE channel = ? AND state IN ('pending', 'sending')",
                [_iso(self._clock()), channel]).rowcount

    def deliveries(self, signal_id: str) -> dict[str, dict[str, Any]]:
        """{channel: outbox row as a dict} for one signal."""
        rows = self._read("SELECT * FROM outbox WHERE signal_id = ?", [signal_id])
        return {row["channel"]: {**dict(row), "message_ids": json.loads(row["message_ids"]),
                                 "buttons": json.loads(row["buttons"] or "null")}
                for row in rows}

    def _set_state(self, signal_id: str, channel: str, state: str, *, attempts: int = 0,
                   sending: bool = False, resent: bool = False, error: str | None = None) -> None:
        now = _iso(self._clock())
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + ?, updated_at = ?, "
                "sending_at = CASE WHEN ? THEN ? ELSE sending_at END, "
                "resent = MAX(resent, ?), last_error = COALESCE(?, last_error) "
                "WHERE signal_id = ? AND channel = ?",
                [state, attempts, now, int(sending), now, int(resent), error, signal_id,
                 channel])

    def _update(self, db: sqlite3.Connection, signal_id: str, channel: str,
                **values: Any) -> None:
        values["updated_at"] = _iso(self._clock())
        sets = ", ".join(f"{name} = ?" for name in values)
        db.execute(f"UPDATE outbox SET {sets} WHERE signal_id = ? AND channel = ?",
                   [*values.values(), signal_id, channel])

    # -- state and exports -----------------------------------------------------------------
    @property
    def paused(self) -> bool:
        rows = self._read("SELECT value FROM kv WHERE key = 'paused'")
        return bool(rows) and rows[0]["value"] == "1"

    def set_paused(self, paused: bool) -> None:
        self.set_value("paused", "1" if paused else "0")

    def value(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM kv WHERE key = ?", [key])
        return rows[0]["value"] if rows else default

    def set_value(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO kv (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])

    def frame(self) -> pd.DataFrame:
        """Every signal with its deliveries' states (one column per channel), oldest first."""
        with self._lock:
            signals = pd.read_sql_query("SELECT * FROM signals ORDER BY known_at", self._db)
            outbox = pd.read_sql_query("SELECT signal_id, channel, state FROM outbox", self._db)
        for name in ("known_at", "created_at", "decided_at", "outcome_at"):
            signals[name] = pd.to_datetime(signals[name], utc=True, format="ISO8601")
        signals["late"] = signals["late"].astype(bool)
        if not outbox.empty:
            states = outbox.pivot(index="signal_id", columns="channel", values="state")
            states.columns = [f"delivery_{c}" for c in states.columns]
            signals = signals.join(states, on="signal_id")
        return signals

    def export_parquet(self, path: str | Path) -> Path:
        """Write `frame()` to `path` atomically (for DuckDB); returns the path."""
        target = Path(path)
        with atomic_path(target) as tmp:
            self.frame().to_parquet(tmp, index=False)
        return target


def _stored(name: str, value: Any) -> Any:
    if name == "known_at":
        return _iso(value)
    if value is None:
        return None
    if name in _FLOATS:
        number = float(value)
        return None if math.isnan(number) else number
    if name in {"direction", "expiry_bars", "time_exit_bars", "setup_version"}:
        return int(value)
    return str(value)


def _real(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _journal_signal(row: sqlite3.Row) -> JournalSignal:
    fields = {name: row[name] for name, _ in SIGNAL_FIELDS}
    fields["known_at"] = pd.Timestamp(fields["known_at"])
    for name in _FLOATS:
        fields[name] = math.nan if fields[name] is None else float(fields[name])
    return JournalSignal(
        signal_id=row["signal_id"], fields=fields, score=row["score"], late=bool(row["late"]),
        created_at=pd.Timestamp(row["created_at"]), decision=row["decision"],
        decision_reason=row["decision_reason"], deliveries=json.loads(row["deliveries"] or "{}"),
        comment=row["comment"], probability=row["probability"], outcome=row["outcome"],
        outcome_r=row["outcome_r"],
        outcome_at=None if row["outcome_at"] is None else pd.Timestamp(row["outcome_at"]))


def _same_outcome(row: sqlite3.Row, outcome: str, r: float | None, at: str) -> bool:
    if row["outcome"] != outcome or row["outcome_at"] != at:
        return False
    if row["outcome_r"] is None or r is None:
        return row["outcome_r"] is None and r is None
    return math.isclose(row["outcome_r"], r, rel_tol=1e-9, abs_tol=1e-12)


def _outcome(text: str) -> str:
    chosen = str(text).strip().lower()
    if chosen in OUTCOMES:
        return chosen
    close = difflib.get_close_matches(chosen, OUTCOMES, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise DataError(f"outcome {text!r} is not one of {', '.join(OUTCOMES)}{hint}")


def _decision(text: str) -> str:
    for decision in DECISIONS:
        if text.strip().lower() == decision.lower():
            return decision
    close = difflib.get_close_matches(text.strip().title(), DECISIONS, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise DataError(f"decision {text!r} is not one of {', '.join(DECISIONS)}{hint}")
