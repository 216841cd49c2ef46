"""Sharing the knowledge base: `rclone bisync` of `shared_kb/` with the trader's remote.

What a trader can rely on (each rule is tested in tests/kb/test_sync.py):

- **What syncs.** Everything under `shared_kb/` (theory files and their manifests, each
  analyst's folder), except hidden temporaries of writes in progress (`.<name>.<random>.tmp`),
  lock files and desktop clutter (`FILTERS`). The local index (`.ita/kb/`), the journal
  database and the rest of `.ita/` never sync: they are outside `shared_kb/`.
- **One sync at a time per home.** `sync` holds the file lock `.ita/sync.lock`; the engine's
  periodic sync skips a period while another sync runs, the CLI and a job wait for it.
- **Conflicts keep both copies.** A file changed on both sides since the last sync is kept
  twice, renamed `<stem>.conflict1<ext>` and `<stem>.conflict2<ext>` on both sides (the
  extension stays, so both stay readable and indexed); they are listed in the report and in
  `exchange/sync.json` until the trader keeps one and deletes the other.
- **The first sync, and the sync after a critical error, is a resync.** There are no trusted
  listings then (none yet, or rclone stopped with exit code 7), and a plain `--resync` would let
  one side overwrite the other. So, before it, every file whose content differs on the two sides
  is fetched from the remote as `<stem>.conflictN<ext>` (a conflict, reported); the resync then
  only adds what is missing on either side. Nothing is overwritten and nothing is deleted; a
  file deleted since the last good sync comes back (delete it again). This is safe to repeat,
  so a failed resync is simply retried on the next run, and the status says "needs attention"
  with rclone's last error lines until a run succeeds.
- **Guards.** `--check-access` (the `RCLONE_TEST` file at the top of both sides: a remote
  that lists empty by mistake is not taken for "everything deleted"), `--max-delete`
  (more than `sync_max_delete` percent of the files, and more than `FEW_DELETES`, deleted on
  one side stops the sync; `ita sync --force` when a big deletion is meant), `--max-lock 2m`
  (a lock left by a killed sync expires), `--resilient --recover` (an interrupted run resumes).
- **Status** in `exchange/sync.json` (`read_status`): state `ok` | `error` (retried next
  time) | `needs_attention` | `running`, last run, last success, message, files up/down,
  deletions, conflicts, local changes not yet synced. Dry runs do not change it.
- **Secrets.** rclone's tokens stay in its config file; any text that reaches the status or a
  log passes through `redact`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import filelock

from engine._io import write_json_atomic, write_text_atomic
from engine.errors import ConfigurationError, ItaError, TemporaryError
from engine.kb._rclone import cause, check_remote, config_args, join, last_errors, redact, run
from engine.settings import Settings

CHECK_FILE = "RCLONE_TEST"
CHECK_TEXT = "rclone's access check for ITA's shared folder: keep this file\n"
CHECK_MTIME = 1_767_225_600  # 2026-01-01T00:00:00Z
FILTERS = """# written by ITA (engine/kb/sync.py): never synced
- .*.tmp
- *.lock
- *.partial
- .DS_Store
- Thumbs.db
- desktop.ini
- ~$*
"""
_EXCLUDED = ("*.tmp", "*.lock", "*.partial", ".DS_Store", "Thumbs.db", "desktop.ini", "~$*")
CONFLICT_NAME = re.compile(r"\.conflict\d+(\.[^./]*)?$")
FEW_DELETES = 10  # deletions the --max-delete guard always lets through
Progress = Callable[[float, str], None]


class SyncBusy(TemporaryError):
    """Another sync of this home is running."""


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """What one sync did (or, with `dry_run`, would do)."""

    state: str                     # "ok" | "error" | "needs_attention"
    message: str
    remote: str
    dry_run: bool = False
    resync: bool = False           # a resync run (first sync, or after a critical error)
    files_up: int = 0              # copied to the remote
    files_down: int = 0            # copied from the remote
    deleted_up: int = 0            # deleted on the remote (deleted here before)
    deleted_down: int = 0          # deleted here (deleted on the remote before)
    conflicts: tuple[str, ...] = ()            # files that conflicted in this run
    unresolved_conflicts: tuple[str, ...] = ()  # every conflict copy now in shared_kb/
    exit_code: int = 0
    error_lines: tuple[str, ...] = ()
    started_at: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def changed(self) -> bool:
        """Did files move either way? Then the index is refreshed: files came down, or files
        changed here that nothing indexed yet (a theory file removed by its adder)."""
        return not self.dry_run and bool(self.files_up or self.files_down or self.deleted_up
                                         or self.deleted_down or self.conflicts)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["conflicts"], data["unresolved_conflicts"] = (list(self.conflicts),
                                                           list(self.unresolved_conflicts))
        data["error_lines"] = list(self.error_lines)
        return data


# --- folders and state ---------------------------------------------------------------------
def status_path(settings: Settings) -> Path:
    return settings.exchange_dir / "sync.json"


def _workdir(settings: Settings, remote: str) -> Path:
    """bisync's listings, one folder per remote (switching remotes starts with a resync)."""
    digest = hashlib.sha256(remote.encode()).hexdigest()[:8]
    return settings.home / ".ita" / "rclone" / digest


def _has_listings(workdir: Path) -> bool:
    return any(workdir.glob("*.path1.lst")) and any(workdir.glob("*.path2.lst"))


def read_status(settings: Settings, *, pending: bool = True) -> dict:
    """The last sync's status (empty when none ran), with the local changes not yet synced
    (`pending=False` leaves them out: counting them walks the shared folder, which a one-line
    summary such as the Home page's does not need)."""
    try:
        status = json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        status = {}
    if status.get("state") == "running" and not _alive(status.get("pid")):
        status["state"] = "error"
        status["message"] = "the last sync was interrupted (ITA stopped); it runs again next time"
    remote = settings.kb_remote.strip()
    status["enabled"] = bool(remote)
    if remote and pending:
        status["pending_local_changes"] = pending_local_changes(settings, remote)
    return status


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _excluded(name: str) -> bool:
    from fnmatch import fnmatchcase

    return name.startswith(".") and name.endswith(".tmp") or any(
        fnmatchcase(name, pattern) for pattern in _EXCLUDED)


def local_files(settings: Settings) -> dict[str, tuple[int, float]]:
    """Every file bisync would sync: relative POSIX path -> (size, mtime)."""
    root = settings.shared_kb_dir
    files = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if _excluded(name):
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            files[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime)
    return files


_LISTING = re.compile(r'^-\s+(-?\d+)\s+\S+\s+\S+\s+(\S+)\s+"(.*)"$')


def pending_local_changes(settings: Settings, remote: str) -> int:
    """Files added, changed or deleted here since the last sync (from bisync's listing)."""
    listing = sorted(_workdir(settings, remote).glob("*.path1.lst"))
    if not listing:
        return len(local_files(settings))
    synced = {}
    for line in listing[0].read_text(encoding="utf-8").splitlines():
        match = _LISTING.match(line)
        if match:
            mtime = dt.datetime.fromisoformat(match[2]).timestamp()
            synced[match[3]] = (int(match[1]), mtime)
    now = local_files(settings)
    changed = sum(1 for path, (size, mtime) in now.items()
                  if path not in synced or synced[path][0] != size
                  or abs(synced[path][1] - mtime) > 1e-3)
    return changed + sum(1 for path in synced if path not in now)


def conflict_files(settings: Settings) -> list[str]:
    """Every conflict copy in shared_kb/ (`x.conflict1.md`), relative POSIX paths."""
    return sorted(path for path in local_files(settings)
                  if CONFLICT_NAME.search(path.rsplit("/", 1)[-1]))


# --- the sync ------------------------------------------------------------------------------
def sync(settings: Settings, *, dry_run: bool = False, resync: bool = False,
         force: bool = False, wait_seconds: float = 0.0,
         progress: Progress | None = None) -> SyncReport:
    """Sync `shared_kb/` with `settings.kb_remote` (rules in the module docstring).

    `resync` forces a resync run (after the trader fixed what a "needs attention" status
    named); `force` lets a sync delete more than `sync_max_delete` percent of the files;
    `wait_seconds` is how long to wait for a sync already running (else `SyncBusy`).

    >>> sync(get_settings(), dry_run=True).files_down  # doctest: +SKIP
    3
    """
    progress = progress or (lambda fraction, message: None)
    try:
        remote = check_remote(settings)
    except ConfigurationError as error:
        if not dry_run and settings.kb_remote.strip():
            _write_status(settings, _stored_status(settings) | {
                "state": "needs_attention", "message": str(error),
                "remote": settings.kb_remote.strip(), "last_run": _now()})
        raise
    lock_path = settings.home / ".ita" / "sync.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_path, timeout=wait_seconds, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise SyncBusy("a sync of the shared folder is already running; try again when it "
                       "ends (exchange/sync.json)") from None
    try:
        return _locked_sync(settings, remote, dry_run=dry_run, resync=resync, force=force,
                            progress=progress)
    except ItaError as error:  # e.g. rclone stopped answering: retried next time
        if not dry_run:
            _write_status(settings, _stored_status(settings) | {
                "state": "error", "message": str(error), "finished_at": _now()})
        raise
    finally:
        lock.release()


def _locked_sync(settings: Settings, remote: str, *, dry_run: bool, resync: bool, force: bool,
                 progress: Progress) -> SyncReport:
    started, clock = _now(), time.monotonic()
    local = settings.shared_kb_dir
    local.mkdir(parents=True, exist_ok=True)
    workdir = _workdir(settings, remote)
    workdir.mkdir(parents=True, exist_ok=True)
    filters_changed = _write_filters(workdir)
    previous = _stored_status(settings)
    resync = (resync or filters_changed or not _has_listings(workdir)
              or bool(previous.get("needs_resync") and previous.get("remote") == remote))
    if not dry_run:
        _write_status(settings, previous | {"state": "running", "remote": remote,
                                            "running_since": started, "pid": os.getpid()})
    kept: list[str] = []
    if resync and dry_run and _remote_missing(settings, remote):
        count = len(local_files(settings))
        return SyncReport(state="ok", message=f"dry run, nothing changed; {remote} does not "
                          f"exist yet: the first sync creates it and sends {count} file(s)",
                          remote=remote, dry_run=True, resync=True, files_up=count,
                          started_at=started, seconds=round(time.monotonic() - clock, 3))
    if resync:
        progress(0.1, "comparing both sides before the first full sync")
        try:
            kept = _prepare_resync(settings, local, remote, workdir, dry_run=dry_run)
        except _Failed as failed:
            return _finish(settings, previous, failed.report(remote, started, clock, dry_run))
    progress(0.3, "syncing")
    args = _bisync_args(settings, local, remote, workdir, resync=resync, dry_run=dry_run,
                        force=force, check_access=not (dry_run and resync))
    done = run(args)
    counts = _parse_bisync(done.stderr + done.stdout)
    state, message, needs_resync = _outcome(settings, done, counts, kept, resync)
    if dry_run:
        message = "dry run, nothing changed; " + message.replace("synced:", "would sync:")
    report = SyncReport(
        state=state, message=message, remote=remote, dry_run=dry_run, resync=resync,
        files_up=counts["up"], files_down=counts["down"], deleted_up=counts["deleted_up"],
        deleted_down=counts["deleted_down"],
        conflicts=tuple(sorted(set(counts["conflicts"]) | set(kept))),
        unresolved_conflicts=tuple(conflict_files(settings)), exit_code=done.returncode,
        error_lines=tuple(last_errors(done)) if done.returncode else (),
        started_at=started, seconds=round(time.monotonic() - clock, 3))
    progress(1.0, message)
    return _finish(settings, previous, report, needs_resync=needs_resync)


class _Failed(Exception):
    def __init__(self, message: str, lines: list[str], code: int) -> None:
        super().__init__(message)
        self.lines, self.code = lines, code

    def report(self, remote: str, started: str, clock: float, dry_run: bool) -> SyncReport:
        return SyncReport(state="error", message=str(self), remote=remote, dry_run=dry_run,
                          resync=True, exit_code=self.code, error_lines=tuple(self.lines),
                          started_at=started, seconds=round(time.monotonic() - clock, 3))


def _remote_missing(settings: Settings, remote: str) -> bool:
    done = run([*config_args(settings), "lsf", remote, "--max-depth", "1"], timeout=120)
    return done.returncode == 3  # rclone: directory not found


def _write_filters(workdir: Path) -> bool:
    """Write bisync's filters file; True when it changed (bisync then needs a resync)."""
    path = workdir / "filters.txt"
    try:
        same = path.read_text(encoding="utf-8") == FILTERS
    except OSError:
        same = False
    if not same:
        write_text_atomic(path, FILTERS)
    return not same


def _prepare_resync(settings: Settings, local: Path, remote: str, workdir: Path, *,
                    dry_run: bool) -> list[str]:
    """Before a resync: the check files on both sides; every file that differs on the two
    sides is fetched from the remote as a conflict copy, then this side's version is sent, so
    both sides hold both versions and the resync finds nothing to overwrite. Returns the
    conflict copies' paths."""
    config = config_args(settings)
    if not dry_run:
        check = local / CHECK_FILE
        if not check.exists():  # the same bytes and time on every machine: never a change
            write_text_atomic(check, CHECK_TEXT)
            os.utime(check, (CHECK_MTIME, CHECK_MTIME))
        done = run([*config, "copyto", str(check), join(remote, CHECK_FILE),
                     "--ignore-existing"])
        if done.returncode != 0:
            raise _Failed("cannot write to the remote " + remote, last_errors(done),
                          done.returncode)
    done = run([*config, "check", str(local), remote, "--filter-from",
                 str(workdir / "filters.txt"), "--combined", "-"])
    lines = done.stdout.splitlines()
    if done.returncode not in (0, 1) or any(line.startswith("! ") for line in lines):
        raise _Failed("cannot compare the shared folder with " + remote + "; retried next "
                      "time", last_errors(done), done.returncode)
    differing = sorted(line[2:] for line in lines
                       if line.startswith("* ") and line[2:] != CHECK_FILE)
    kept = []
    for relpath in differing:
        target = _free_conflict_name(local / relpath)
        kept.append(target.relative_to(local).as_posix())
        if dry_run:
            continue
        for source, destination, verb in ((join(remote, relpath), str(target), "fetch"),
                                          (str(local / relpath), join(remote, relpath),
                                           "send")):
            done = run([*config, "copyto", source, destination])
            if done.returncode != 0:
                raise _Failed(f"cannot {verb} {relpath} ({remote})", last_errors(done),
                              done.returncode)
    return kept


def _free_conflict_name(path: Path) -> Path:
    """`x.md` -> the first free `x.conflictN.md` (N from 1)."""
    n = 1
    while True:
        candidate = path.with_name(f"{path.stem}.conflict{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1


def _max_delete(settings: Settings, workdir: Path) -> int:
    """`sync_max_delete` percent, raised so that `FEW_DELETES` files may always go: removing
    one book from a base of five is not a mass deletion."""
    listing = sorted(workdir.glob("*.path1.lst"))
    total = (sum(1 for line in listing[0].read_text(encoding="utf-8").splitlines()
                 if line.startswith("-")) if listing else len(local_files(settings)))
    floor = math.ceil(100 * FEW_DELETES / total) if total else 100
    return min(100, max(settings.sync_max_delete, floor))


def _bisync_args(settings: Settings, local: Path, remote: str, workdir: Path, *, resync: bool,
                 dry_run: bool, force: bool, check_access: bool) -> list[str]:
    args = [*config_args(settings), "bisync", str(local), remote,
            "--workdir", str(workdir), "--filters-file", str(workdir / "filters.txt"),
            "--resilient", "--recover", "--max-lock", "2m",
            "--max-delete", str(_max_delete(settings, workdir)),
            "--conflict-resolve", "none", "--conflict-loser", "num",
            "--conflict-suffix", "conflict", "--suffix-keep-extension",
            "--compare", "size,modtime,checksum", "--slow-hash-sync-only",
            "--drive-skip-gdocs",  # Google Docs have no stable size: never sync them
            "--verbose", "--color", "NEVER"]
    if check_access:
        args.append("--check-access")
    if resync:  # after _prepare_resync nothing differs: the resync only adds what is missing
        args += ["--resync-mode", "path1"]
    if dry_run:
        args.append("--dry-run")
    if force:
        args.append("--force")
    return args


_SECTION = re.compile(r"- (Path[12])\s+(?:Resync is copying files to|Do queued copies to)\s+"
                      r"- (Path[12])\s*$")
_COPY = re.compile(r"(?:INFO|NOTICE)\s*: (.+?): (?:Copied \(|Skipped copy as --dry-run)")
_DELETE = re.compile(r"- (Path[12])\s+Queue delete\s+- ")
_BOTH = re.compile(r"New or changed in both paths\s+- (.+?)\s*$")


def _parse_bisync(output: str) -> dict:
    """Count what bisync copied each way, deleted and found in conflict, from its log."""
    counts = {"up": 0, "down": 0, "deleted_up": 0, "deleted_down": 0, "conflicts": []}
    direction = None
    for line in output.splitlines():
        if section := _SECTION.search(line):
            direction = "down" if section[2] == "Path1" else "up"
        elif (copy := _COPY.search(line)) and direction and copy[1] != CHECK_FILE:
            counts[direction] += 1
        elif delete := _DELETE.search(line):
            counts["deleted_down" if delete[1] == "Path1" else "deleted_up"] += 1
        elif both := _BOTH.search(line):
            counts["conflicts"].append(both[1])
    return counts


def _outcome(settings: Settings, done: subprocess.CompletedProcess, counts: dict,
             kept: list[str], resync: bool) -> tuple[str, str, bool]:
    """(state, message, needs_resync) of a bisync run."""
    text = done.stderr + done.stdout
    last = cause(done)
    if done.returncode == 0:
        return "ok", _summary(counts, kept, resync), False
    if done.returncode == 7:
        return ("needs_attention", "the sync stopped on a critical error; the next sync "
                "compares both sides and keeps every file (a resync): " + last, True)
    if "too many deletes" in text:
        return ("needs_attention", f"the sync would delete more than "
                f"{settings.sync_max_delete}% of the shared files on one side and stopped; "
                "if that is meant, run `ita sync --force`", False)
    if "check file check failed" in text.lower() or "access test failed" in text.lower():
        return ("needs_attention", f"{CHECK_FILE} is missing on one side: is ITA_KB_REMOTE "
                "the right folder? If it is, run `ita sync --resync`", False)
    if done.returncode == 2:
        return "needs_attention", "rclone refused the command: " + last, False
    return "error", "the sync failed and is retried next time: " + last, False


def _summary(counts: dict, kept: list[str], resync: bool) -> str:
    conflicts = sorted(set(counts["conflicts"]) | set(kept))
    parts = [f"{counts['up']} up", f"{counts['down']} down"]
    if counts["deleted_up"] or counts["deleted_down"]:
        parts.append(f"{counts['deleted_up']} deleted there, {counts['deleted_down']} here")
    text = ("first full sync" if resync else "synced") + ": " + ", ".join(parts)
    if conflicts:
        text += f"; {len(conflicts)} conflict(s), both copies kept: " + ", ".join(conflicts)
    return text


def _stored_status(settings: Settings) -> dict:
    try:
        return json.loads(status_path(settings).read_text())
    except (OSError, ValueError):
        return {}


def _write_status(settings: Settings, status: dict) -> None:
    write_json_atomic(status_path(settings), status)


def _finish(settings: Settings, previous: dict, report: SyncReport, *,
            needs_resync: bool | None = None) -> SyncReport:
    if report.dry_run:
        if previous:
            _write_status(settings, previous)  # a dry run leaves the status as it was
        else:
            status_path(settings).unlink(missing_ok=True)
        return report
    failures = 0 if report.ok else int(previous.get("failures_in_a_row", 0)) + 1
    status = report.to_dict() | {
        "last_run": report.started_at, "finished_at": _now(),
        "last_ok": _now() if report.ok else previous.get("last_ok"),
        "needs_resync": (report.resync and not report.ok) if needs_resync is None
        else needs_resync,
        "failures_in_a_row": failures}
    _write_status(settings, status)
    return report


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# --- after a sync: the index; the engine's periodic sync -----------------------------------
def refresh_index(settings: Settings, progress: Progress | None = None):
    """Bring the local index up to date with shared_kb/ (None while engine.kb.index is not
    installed)."""
    try:
        from engine.kb.index import KnowledgeIndex
    except ModuleNotFoundError as error:
        if error.name in ("engine.kb.index", "engine.kb"):
            return None
        raise
    return KnowledgeIndex(settings).refresh(progress)


def sync_and_refresh(settings: Settings, *, dry_run: bool = False, resync: bool = False,
                     force: bool = False, wait_seconds: float = 0.0,
                     progress: Progress | None = None) -> tuple[SyncReport, object]:
    """`sync`, then the index refresh when files moved: what the CLI, the `sync` job and the
    engine's periodic sync all call."""
    step = progress or (lambda fraction, message: None)
    report = sync(settings, dry_run=dry_run, resync=resync, force=force,
                  wait_seconds=wait_seconds, progress=lambda f, m: step(f * 0.8, m))
    refreshed = None
    if report.changed:
        refreshed = refresh_index(settings, lambda f, m: step(0.8 + f * 0.2, m))
    step(1.0, report.message)
    return report, refreshed


def run_periodically(settings: Settings, stop: threading.Event, *, log,
                     first_delay: float = 5.0) -> None:
    """The engine daemon's sync loop: every `sync_minutes` while `kb_remote` is set, skipping
    a period while another sync runs; a failure is in the status and retried next period."""
    period = settings.sync_minutes * 60
    wait = min(first_delay, period)
    while not stop.wait(wait):
        clock = time.monotonic()
        try:
            report, _ = sync_and_refresh(settings)
            log.info("sync: %s", report.message)
        except SyncBusy:
            log.info("sync skipped: another sync of the shared folder is running")
        except ItaError as error:
            log.warning("sync: %s", redact(str(error)))
        wait = max(1.0, period - (time.monotonic() - clock))
