"""The live monitor's state as the pages and `ita live status` read it.

The monitor (engine/live/monitor.py, the one writer) rewrites ``<home>/exchange/live.json``
atomically after every loop iteration and at least every 5 s, built by `state_json` from
`FeedState` and `SetupState` rows, so the writer and `read_live_state` share these names:

| field | meaning |
| --- | --- |
| pid, started_at, updated_at | the monitor's process and times (ISO UTC) |
| mode | ``live`` or ``replay`` |
| paused | alerts paused for every setup (Telegram /pause, the Live page) |
| telegram | ``off``, ``ok`` or ``error: …`` |
| feeds | per series: source, symbol, timeframe, last_bar (newest closed bar's open), |
| | lag_seconds, behind_bars, silent, error |
| setups | one row per active setup version: setup_id, version, symbols, timeframe, paused |
| alerts_today, last_alert_at | today's alerts and the newest one's time |
| interval_seconds | (optional) the loop interval; 5 s when absent |

**Running or not.** A state older than `STALE_FACTOR` (3) loop intervals, or whose process is
gone (checked on this machine), means the monitor is not running; `read_live_state` says so in
`LiveState.running` and `LiveState.why_not`. No file: no monitor has ever run in this home.

**Per-setup switch.** The journal (`engine/live/journal.py`) keeps the ids of the setups
whose live alerts are paused under the key ``paused_setups`` (a JSON list); the monitor reads it
on each loop, the Live page toggles it (`set_setup_paused`).

>>> state = read_live_state(home)  # doctest: +SKIP
>>> state.running, [f.silent for f in state.feeds]  # doctest: +SKIP
(True, [False, True])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from engine.errors import DataError
from engine.live.journal import SignalJournal

STATE_FILE = Path("exchange") / "live.json"
ALERTS_DIR = Path("exchange") / "alerts"
PAUSED_KEY = "paused_setups"
DEFAULT_INTERVAL_S = 5.0
STALE_FACTOR = 3


def state_path(home: str | Path) -> Path:
    """Where the monitor of ITA home `home` writes its state."""
    return Path(home) / STATE_FILE


def alert_picture(home: str | Path, short_key: str) -> Path:
    """The PNG the monitor saved for the alert whose journal short key is `short_key`."""
    return Path(home) / ALERTS_DIR / f"{short_key}.png"


@dataclasses.dataclass(frozen=True)
class FeedState:
    """One watched series as the monitor last saw it."""

    source: str
    symbol: str
    timeframe: str
    last_bar: pd.Timestamp | None
    lag_seconds: float | None
    behind_bars: int
    silent: bool
    error: str | None

    @property
    def healthy(self) -> bool:
        return not self.silent and not self.error


@dataclasses.dataclass(frozen=True)
class SetupState:
    """One active setup version the monitor evaluates."""

    setup_id: str
    version: int
    symbols: tuple[str, ...]
    timeframe: str
    paused: bool


@dataclasses.dataclass(frozen=True)
class LiveState:
    """`live.json` read and judged at `checked_at`: `running` is False when the state is stale
    (older than 3 loop intervals) or its process is gone; `why_not` says which."""

    pid: int | None
    started_at: pd.Timestamp | None
    updated_at: pd.Timestamp | None
    mode: str
    paused: bool
    telegram: str
    feeds: tuple[FeedState, ...]
    setups: tuple[SetupState, ...]
    alerts_today: int
    last_alert_at: pd.Timestamp | None
    interval_seconds: float
    checked_at: pd.Timestamp
    running: bool
    why_not: str | None

    @property
    def age_seconds(self) -> float | None:
        if self.updated_at is None:
            return None
        return (self.checked_at - self.updated_at).total_seconds()

    @property
    def silent_feeds(self) -> list[FeedState]:
        return [f for f in self.feeds if f.silent]

    @property
    def failing_feeds(self) -> list[FeedState]:
        return [f for f in self.feeds if f.error]

    @property
    def telegram_ok(self) -> bool:
        return self.telegram == "ok"


def _iso(stamp) -> str | None:
    return None if stamp is None else f"{_utc(stamp):%Y-%m-%dT%H:%M:%SZ}"


def _row(item: FeedState | SetupState) -> dict[str, Any]:
    row = dataclasses.asdict(item)
    return {k: _iso(v) if isinstance(v, pd.Timestamp) else list(v) if isinstance(v, tuple)
            else v for k, v in row.items()}


def state_json(*, pid: int, started_at, updated_at, mode: str, paused: bool, telegram: str,
               feeds: list[FeedState], setups: list[SetupState], alerts_today: int,
               last_alert_at, interval_seconds: float, clock=None) -> dict[str, Any]:
    """The document the monitor writes (times as ISO UTC): the field names `read_live_state`
    reads, the feed and setup rows from `FeedState` and `SetupState` themselves."""
    return {"pid": pid, "started_at": _iso(started_at), "updated_at": _iso(updated_at),
            "clock": _iso(clock), "mode": mode, "interval_seconds": interval_seconds,
            "paused": paused, "telegram": telegram, "feeds": [_row(f) for f in feeds],
            "setups": [_row(s) for s in setups], "alerts_today": alerts_today,
            "last_alert_at": _iso(last_alert_at)}


def read_live_state(home: str | Path, *, now: pd.Timestamp | None = None) -> LiveState | None:
    """The monitor's state, or None when no monitor has ever run in `home`. A file that is not
    the monitor's JSON is a `DataError` naming the file and the field."""
    path = state_path(home)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not the live monitor's state ({exc})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: not the live monitor's state (expected a JSON object)")
    checked_at = _utc(now) if now is not None else pd.Timestamp.now(tz="UTC")
    return _state(raw, path, checked_at)


def _state(raw: dict[str, Any], path: Path, checked_at: pd.Timestamp) -> LiveState:
    read = _Reader(raw, path)
    interval = read.number("interval_seconds", DEFAULT_INTERVAL_S)
    interval = interval if interval and interval > 0 else DEFAULT_INTERVAL_S
    pid = read.integer("pid")
    updated = read.time("updated_at")
    why_not = _why_not(pid, updated, checked_at, interval)
    return LiveState(
        pid=pid, started_at=read.time("started_at"), updated_at=updated,
        mode=str(raw.get("mode") or "live"), paused=bool(raw.get("paused", False)),
        telegram=str(raw.get("telegram") or "off"),
        feeds=tuple(_feed(row, path, i) for i, row in enumerate(read.rows("feeds"))),
        setups=tuple(_setup(row, path, i) for i, row in enumerate(read.rows("setups"))),
        alerts_today=read.integer("alerts_today") or 0,
        last_alert_at=read.time("last_alert_at"), interval_seconds=interval,
        checked_at=checked_at, running=why_not is None, why_not=why_not)


def _why_not(pid: int | None, updated: pd.Timestamp | None, now: pd.Timestamp,
             interval: float) -> str | None:
    if updated is None:
        return "its state has no update time"
    age = (now - updated).total_seconds()
    if age > STALE_FACTOR * interval:
        return f"its state was last written {_duration(age)} ago"
    if pid is not None and not pid_alive(pid):
        return f"its process {pid} is gone"
    return None


def pid_alive(pid: int) -> bool:
    """Is process `pid` alive on this machine? (True when that cannot be checked.)"""
    if pid <= 0:
        return False
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _feed(row: dict[str, Any], path: Path, i: int) -> FeedState:
    read = _Reader(row, path, f"feeds[{i}].")
    return FeedState(source=read.text("source"), symbol=read.text("symbol"),
                     timeframe=read.text("timeframe"), last_bar=read.time("last_bar"),
                     lag_seconds=read.number("lag_seconds"),
                     behind_bars=read.integer("behind_bars") or 0,
                     silent=bool(row.get("silent", False)),
                     error=str(row["error"]) if row.get("error") else None)


def _setup(row: dict[str, Any], path: Path, i: int) -> SetupState:
    read = _Reader(row, path, f"setups[{i}].")
    symbols = row.get("symbols") or []
    if isinstance(symbols, str):
        symbols = [symbols]
    return SetupState(setup_id=read.text("setup_id"), version=read.integer("version") or 0,
                      symbols=tuple(str(s) for s in symbols), timeframe=read.text("timeframe"),
                      paused=bool(row.get("paused", False)))


@dataclasses.dataclass
class _Reader:
    """Typed fields of one JSON object; a wrong type is a `DataError` naming the field."""

    raw: dict[str, Any]
    path: Path
    prefix: str = ""

    def _bad(self, name: str, what: str) -> DataError:
        return DataError(f"{self.path}: {self.prefix}{name}: {what}, got "
                         f"{self.raw.get(name)!r}")

    def text(self, name: str) -> str:
        value = self.raw.get(name)
        if not isinstance(value, str) or not value:
            raise self._bad(name, "expected a text")
        return value

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._bad(name, "expected a number")
        return float(value) if math.isfinite(value) else default

    def integer(self, name: str) -> int | None:
        value = self.number(name)
        return None if value is None else int(value)

    def time(self, name: str) -> pd.Timestamp | None:
        value = self.raw.get(name)
        if value in (None, ""):
            return None
        try:
            stamp = _utc(value)
        except (TypeError, ValueError):
            raise self._bad(name, "expected an ISO time") from None
        return None if stamp is pd.NaT else stamp

    def rows(self, name: str) -> list[dict[str, Any]]:
        value = self.raw.get(name) or []
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise self._bad(name, "expected a list of objects")
        return value


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return stamp
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


# -- the per-setup switch ---------------------------------------------------------------------
def paused_setups(journal: SignalJournal) -> set[str]:
    """The ids of the setups whose live alerts are paused."""
    text = journal.value(PAUSED_KEY)
    if not text:
        return set()
    try:
        ids = json.loads(text)
    except json.JSONDecodeError:
        raise DataError(f"{journal.path}: {PAUSED_KEY} is not a JSON list: {text!r}") from None
    if not isinstance(ids, list):
        raise DataError(f"{journal.path}: {PAUSED_KEY} is not a JSON list: {text!r}")
    return {str(i) for i in ids}


def set_setup_paused(journal: SignalJournal, setup_id: str, paused: bool) -> set[str]:
    """Pause (or resume) the live alerts of one setup; returns the paused ids."""
    ids = paused_setups(journal)
    ids = ids | {setup_id} if paused else ids - {setup_id}
    journal.set_value(PAUSED_KEY, json.dumps(sorted(ids)))
    return ids


# -- words ------------------------------------------------------------------------------------
def heartbeat(state: LiveState | None, *, tz: str = "UTC") -> str:
    """One line for the Home page: running or not, feeds healthy/silent, alerts today, last
    alert (times in `tz`)."""
    if state is None:
        return "Live monitor: never run in this home (turn it on with `ITA_LIVE=1` and `make run`)."
    if not state.running:
        return f"Live monitor: not running ({state.why_not})."
    silent, failing = len(state.silent_feeds), len(state.failing_feeds)
    healthy = sum(f.healthy for f in state.feeds)
    parts = [f"Live monitor running since {_clock(state.started_at, tz)}",
             f"feeds {healthy}/{len(state.feeds)} healthy"
             + (f", {silent} silent" if silent else "")
             + (f", {failing} failing" if failing else ""),
             f"{state.alerts_today} alert{'s' if state.alerts_today != 1 else ''} today"]
    if state.last_alert_at is not None:
        parts.append(f"last alert {_clock(state.last_alert_at, tz)}")
    if state.paused:
        parts.append("alerts paused")
    return "; ".join(parts) + "."


def _clock(stamp: pd.Timestamp | None, tz: str) -> str:
    if stamp is None:
        return "unknown"
    return f"{stamp.tz_convert(tz):%Y-%m-%d %H:%M}"
