"""The kill switch: one flag that stops all paper following at once and stays on until released.

Four doors, one implementation (`engage` / `release` here):

- the app: the page calls `engage(settings, by="app", ...)` and shows `banner(state(settings))`
  on every page;
- the CLI: ``ita kill [--close] [--reason TEXT]``, ``ita kill --release``, ``ita kill --status``;
- Telegram: ``/kill [reason]`` and ``/release`` from the configured chats only
  (`telegram_kill` / `telegram_release`, wired into `engine.notify.commands`);
- a file: any file named ``KILL`` or ``kill`` (``.txt`` allowed) dropped into ``exchange/``
  engages it with ``by="file"`` and the file's first line as the reason; the daemon calls
  `poll_file(settings)` every few seconds, which applies each file exactly once and moves it to
  ``exchange/kill_applied/``.

The state is ``.ita/kill.json`` under the ITA home (local, never synced), written atomically under
the lock ``.ita/kill.lock``, so it survives restarts and two doors used at once do not lose each
other's change. Every engage and release is appended to ``.ita/kill_history.jsonl`` (who, when,
why). What the switch means for the accounts is the follower's business: while
``state(settings).engaged`` no paper order opens; when ``close_positions`` is set the open paper
positions close at the next price.

Exactly once for the file door: the file's identity (name, size, modification time, first line)
is stored in the state file in the same atomic write that engages the switch; the file is moved
only after. A crash between the two leaves the file, and the next poll sees it already applied
and only moves it.

>>> s = engage(settings, by="cli", reason="news spike", close_positions=True)  # doctest: +SKIP
>>> state(settings).engaged  # doctest: +SKIP
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import filelock

from engine._io import write_json_atomic
from engine.errors import ConfigurationError, TemporaryError

log = logging.getLogger(__name__)

FILE_NAMES = {"kill", "kill.txt"}
"""File names (any case) that engage the switch when dropped into ``exchange/``."""
APPLIED_DIR = "kill_applied"
LOCK_SECONDS = 10.0
_KEEP_APPLIED = 100
_MAX_TEXT = 300


@dataclass(frozen=True)
class KillState:
    """The switch: ``engaged`` since ``since`` (aware UTC) by ``by`` for ``reason``;
    ``close_positions`` asks the follower to close the open paper positions."""

    engaged: bool = False
    since: dt.datetime | None = None
    by: str = ""
    reason: str = ""
    close_positions: bool = False


@dataclass(frozen=True)
class KillEvent:
    """One line of the history: ``action`` is ``engage`` or ``release``."""

    action: str
    at: dt.datetime
    by: str
    reason: str = ""
    close_positions: bool = False


def _folder(settings: Any) -> Path:
    return Path(settings.home) / ".ita"


def _state_path(settings: Any) -> Path:
    return _folder(settings) / "kill.json"


def _history_path(settings: Any) -> Path:
    return _folder(settings) / "kill_history.jsonl"


def _lock(settings: Any) -> filelock.BaseFileLock:
    _folder(settings).mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(_folder(settings) / "kill.lock", timeout=LOCK_SECONDS,
                             thread_local=False)


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_TEXT else line[:_MAX_TEXT - 1] + "…"


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} must be timezone-aware")
    return moment.astimezone(dt.UTC)


def _read(settings: Any) -> dict:
    path = _state_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        # Never silently "off": a switch that cannot be read is a switch that may be on.
        raise ConfigurationError(f"{path}: the kill switch state cannot be read ({error}); "
                                 "fix or delete the file, then `ita kill` or "
                                 "`ita kill --release`") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the kill switch state is not a JSON object; fix or "
                                 "delete the file")
    return data


def _as_state(data: dict) -> KillState:
    since = data.get("since")
    return KillState(engaged=bool(data.get("engaged")),
                     since=dt.datetime.fromisoformat(since) if since else None,
                     by=str(data.get("by") or ""), reason=str(data.get("reason") or ""),
                     close_positions=bool(data.get("close_positions")))


def state(settings: Any) -> KillState:
    """The switch as stored (off when it was never used)."""
    return _as_state(_read(settings))


def _write(settings: Any, data: dict) -> None:
    write_json_atomic(_state_path(settings), data)


def _append(settings: Any, event: KillEvent) -> None:
    row = asdict(event) | {"at": event.at.isoformat()}
    with open(_history_path(settings), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _locked(settings: Any):
    lock = _lock(settings)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise TemporaryError(f"{lock.lock_file}: the kill switch is busy (another ITA process "
                             f"held it for {LOCK_SECONDS:g} s); try again") from None
    return lock


def engage(settings: Any, *, by: str, reason: str = "", close_positions: bool = False,
           now: dt.datetime | None = None, _file_id: str | None = None) -> KillState:
    """Turn the switch on (or keep it on) and record who, when and why.

    Engaging an engaged switch keeps its ``since`` and ``by``, adds the new reason to the
    history, and turns ``close_positions`` on if asked (never off: release for that).
    """
    at = _now(now)
    by, reason = _one_line(by) or "unknown", _one_line(reason)
    lock = _locked(settings)
    try:
        data = _read(settings)
        applied = list(data.get("applied_files") or [])
        if _file_id is not None and _file_id in applied:
            return _as_state(data)
        if not data.get("engaged"):
            data = {"engaged": True, "since": at.isoformat(), "by": by, "reason": reason,
                    "close_positions": close_positions}
        else:
            data["close_positions"] = bool(data.get("close_positions")) or close_positions
        if _file_id is not None:
            applied = (applied + [_file_id])[-_KEEP_APPLIED:]
        data["applied_files"] = applied
        _write(settings, data)
        _append(settings, KillEvent("engage", at, by, reason, close_positions))
    finally:
        lock.release()
    log.info("kill switch engaged by %s: %s", by, reason or "(no reason)")
    return _as_state(data)


def release(settings: Any, *, by: str, now: dt.datetime | None = None) -> KillState:
    """Turn the switch off (a no-op, not recorded, when it is off)."""
    at, by = _now(now), _one_line(by) or "unknown"
    lock = _locked(settings)
    try:
        data = _read(settings)
        if not data.get("engaged"):
            return _as_state(data)
        data = {"engaged": False, "applied_files": data.get("applied_files") or []}
        _write(settings, data)
        _append(settings, KillEvent("release", at, by))
    finally:
        lock.release()
    log.info("kill switch released by %s", by)
    return _as_state(data)


def history(settings: Any) -> list[KillEvent]:
    """Every engage and release, oldest first (a torn last line from a crash is skipped)."""
    path = _history_path(settings)
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            events.append(KillEvent(action=row["action"],
                                    at=dt.datetime.fromisoformat(row["at"]), by=row["by"],
                                    reason=row.get("reason", ""),
                                    close_positions=bool(row.get("close_positions"))))
        except (ValueError, KeyError, TypeError):
            continue
    return events


def banner(kill: KillState, *, tz: dt.tzinfo = dt.UTC) -> str | None:
    """The line every page and ``ita kill --status`` show while the switch is on, else None."""
    if not kill.engaged:
        return None
    when = f" since {kill.since.astimezone(tz):%Y-%m-%d %H:%M %Z}" if kill.since else ""
    why = f": {kill.reason}" if kill.reason else ""
    closing = " Open paper positions are being closed." if kill.close_positions else ""
    return (f"KILL SWITCH ON{when} (by {kill.by}){why}. Paper following is stopped.{closing} "
            "Release with `ita kill --release`, /release or the app.")


# --- the file door -----------------------------------------------------------------------------

def _first_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return ""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    return text.splitlines()[0].strip() if text.strip() else ""


def _file_id(path: Path, first_line: str) -> str:
    info = path.stat()
    key = f"{path.name}|{info.st_size}|{info.st_mtime_ns}|{first_line}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def kill_files(settings: Any) -> list[Path]:
    """The files in ``exchange/`` that engage the switch, oldest first."""
    folder = Path(settings.exchange_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.name.lower() in FILE_NAMES]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def poll_file(settings: Any, *, now: dt.datetime | None = None) -> KillState | None:
    """Apply each KILL file in ``exchange/`` once and move it to ``exchange/kill_applied/``;
    the new state when a file was found, else None (the daemon calls this every few seconds)."""
    files = kill_files(settings)
    result = None
    for path in files:
        try:
            reason = _first_line(path)
            file_id = _file_id(path, reason)
        except FileNotFoundError:  # another poller took it
            continue
        result = engage(settings, by="file", reason=reason or f"{path.name} file in exchange/",
                        now=now, _file_id=file_id)
        _archive(settings, path, _now(now))
    return result


def _archive(settings: Any, path: Path, at: dt.datetime) -> None:
    target_dir = Path(settings.exchange_dir) / APPLIED_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{at:%Y%m%dT%H%M%S%fZ}-{path.name}"
    try:
        os.replace(path, target)
    except FileNotFoundError:
        pass


# --- the Telegram door -------------------------------------------------------------------------

def telegram_kill(settings: Any, *, chat: str, text: str) -> str:
    """The reply to ``/kill [--close] [reason]`` from a configured chat."""
    words = text.split()
    close = "--close" in words or words[:1] in (["close"], ["Close"])
    if words[:1] in (["close"], ["Close"]):
        words = words[1:]
    reason = " ".join(w for w in words if w != "--close")
    kill = engage(settings, by=f"telegram:{chat}", reason=reason, close_positions=close)
    closing = " Open paper positions will be closed." if kill.close_positions else ""
    return (f"Kill switch ON: paper following stopped.{closing} It stays on until /release "
            "(or `ita kill --release`).")


def telegram_release(settings: Any, *, chat: str) -> str:
    """The reply to ``/release`` from a configured chat."""
    if not state(settings).engaged:
        return "The kill switch is not on."
    release(settings, by=f"telegram:{chat}")
    return "Kill switch released: paper following resumes with the next closed bar."
