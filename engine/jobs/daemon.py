"""The engine daemon (`ita engine`): runs long jobs from the file bus and follows setups.

- Watches ``exchange/requests/`` and ``setups/`` with watchdog (plus a rescan every few
  seconds as a safety net) and runs queued jobs one at a time, each in a child process, so a
  crashing job cannot take the daemon down.
- A job's engine function reports ``progress(fraction, message)``; the child writes it to the
  job's status file (throttled), which the app polls.
- On start, a job left ``running`` by a killed daemon is re-queued once when its kind may run
  again (`Kind.requeue`: backtests, optimise, sweeps, walk-forwards), with ``attempt: 2`` in
  its status; one that may not, or that was already re-queued, is marked ``interrupted`` and
  its request dropped. ``queued`` ones run. A ``queued`` status without its request (left by
  a submit killed halfway in older versions) is marked ``failed``, so nothing waits forever.
- A cancel request (``exchange/cancel/<job>.json``, `JobBus.cancel`) keeps a queued job from
  starting, or kills the running job's process (the processes it forked die with it, Linux
  ``PR_SET_PDEATHSIG``); either way the job ends ``cancelled`` within about a second.
- On start, hidden temporaries of writes that were killed (``.<name>.<random>.tmp`` files and
  folders from `engine._io`) are deleted under the exchange, setups, runs and data folders
  once nothing has touched them for 15 minutes (`engine._io.STALE_AFTER_SECONDS`); younger
  ones may belong to a live writer (the app, the CLI) and stay.
- Keeps the active version of every setup and notices new or changed ones without a restart
  (``on_setup_change`` hooks: the live monitor subscribes there).
- Syncs the shared folder every ``sync_minutes`` when ``kb_remote`` is set, on a thread of its
  own (`engine.kb.sync.run_periodically`: a period is skipped while another sync runs; a
  failure is in ``exchange/sync.json`` and retried next period), then refreshes the index.
- Keeps the learning models current (`engine.learn.retrain`): every ``learn_minutes`` (the
  first time two minutes after it starts) it checks each active setup version and submits a
  ``learn`` job for one that is due (never trained and enough signals, or enough new outcomes
  and labels since its model), one at a time and only while no other job waits; a version
  whose inputs did not change is not checked again. The reasons are in the log and
  ``exchange/learn_loop.json``.
- Runs its small periodic duties on a thread of their own (`engine.jobs.periodic`): the paper
  kill switch's file door (a ``KILL`` file in ``exchange/``, each second), the weekly summary
  (Mondays 08:00 in the display zone, to Telegram and Notion) and the Notion round (journal
  rows, parameter edits: every ``notion_minutes`` when Notion is set up).
- Writes a heartbeat ``exchange/engine.json`` (pid, started_at, last_seen, jobs, setups).
- One daemon per ITA home: ``exchange/engine.lock`` is locked by the operating system
  (``flock``; ``LockFileEx`` on Windows) for the daemon's whole life, so a second daemon
  refuses to start, and the lock vanishes with the process however it ends (``kill -9``
  included). The file only carries the holder's pid for messages; a leftover file, whatever
  pid it names, never blocks. The app learns whether a daemon runs from the heartbeat.
"""

from __future__ import annotations

import datetime as dt
import logging
import logging.handlers
import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

import filelock

from engine._io import remove_stale_temporaries, write_json_atomic
from engine.errors import ConfigurationError, ItaError, JobError
from engine.jobs.bus import JobBus
from engine.jobs.periodic import Periodic
from engine.settings import Settings, get_settings

HEARTBEAT_SECONDS = 2.0
CANCEL_POLL_SECONDS = 0.25
MAX_ATTEMPTS = 2  # a job the daemon was running when it stopped runs at most once more
RESCAN_SECONDS = 5.0
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "deleted", "closed"})
log = logging.getLogger("ita.engine")


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = f"/proc/{pid}/stat"
    if os.path.exists(stat):  # a zombie (dead, not yet reaped) is not running
        with open(stat) as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    return True


_JOBS_DIE_WITH_DAEMON = sys.platform.startswith("linux")  # see _die_with_parent


def _write_pid(fd: int) -> None:
    """Record the lock holder's pid in the (locked) lock file, for messages only."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
    except (OSError, AttributeError):  # Windows: no pwrite; the pid is only informative
        pass


def _lock_holder(path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _run_job(home: str, job_id: str, kind: str, params: dict) -> None:
    """Child process: run one job, keep its status file current."""
    _die_with_parent()
    if hasattr(os, "register_at_fork"):  # a sweep's forked workers die with this job, too
        os.register_at_fork(after_in_child=_die_with_parent)
    os.environ["ITA_HOME"] = home
    from engine.jobs.kinds import KINDS

    bus = JobBus.from_settings()
    last = [0.0]
    attempt = int(bus.status(job_id).get("attempt", 1))

    def progress(fraction: float, message: str) -> None:
        if time.monotonic() - last[0] > 0.2 or fraction >= 1.0:
            last[0] = time.monotonic()
            bus.update(job_id, progress=round(float(fraction), 4), message=message)

    bus.update(job_id, state="running", pid=os.getpid(), started_at=_now(), progress=0.0,
               message="started" if attempt == 1 else f"started again (attempt {attempt})",
               attempt=attempt)
    try:
        spec = KINDS[kind]
        result = spec.run(spec.validate(params), progress, job_id=job_id)
        bus.update(job_id, state="done", progress=1.0, message="done", result=result,
                   finished_at=_now())
    except ItaError as error:
        bus.update(job_id, state="failed", error=str(error), finished_at=_now())
    except Exception as error:  # a bug: keep the daemon alive, keep the traceback in the log
        bus.logs.mkdir(parents=True, exist_ok=True)
        (bus.logs / f"{job_id}.log").write_text(traceback.format_exc())
        bus.update(job_id, state="failed", finished_at=_now(),
                   error=f"internal error: {type(error).__name__}: {error} "
                         f"(details in exchange/logs/{job_id}.log)")


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this job if the daemon dies (even by SIGKILL), so a
    restarted daemon can honestly mark the job interrupted."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        parent = os.getppid()
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class EngineDaemon:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.bus = JobBus(self.settings.exchange_dir)
        self.started_at = _now()
        self.setups: dict[str, dict] = {}
        self.on_setup_change: list[Callable[[str, dict], None]] = []
        self.wake = threading.Event()
        self.done_jobs = 0
        self.current: str | None = None
        self.lock_path = self.settings.exchange_dir / "engine.lock"
        self._lock: filelock.BaseFileLock | None = None
        self.retrain = None  # engine.learn.retrain.RetrainLoop, made by `serve`

    # --- lifecycle ------------------------------------------------------------------------
    def acquire_lock(self) -> None:
        """Hold the daemon lock until `release_lock` or the end of the process."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.lock_path, timeout=0, thread_local=False,
                                 fallback_to_soft=False, on_acquired=_write_pid)
        try:
            lock.acquire()
        except filelock.Timeout:
            holder = _lock_holder(self.lock_path)
            raise JobError("an engine daemon already runs for this ITA home"
                           + (f" (pid {holder})" if holder else "")) from None
        except OSError as error:  # e.g. a network file system without flock
            raise ConfigurationError(f"cannot lock {self.lock_path}: {error.strerror or error}; "
                                     "keep ITA's home folder on a local disk") from None
        self._lock = lock

    def release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def clean_temporaries(self) -> None:
        """Delete temporaries that killed writers left (see the module docstring)."""
        s = self.settings
        for folder in (s.exchange_dir, s.setups_dir, s.runs_dir, s.data_dir):
            for path in remove_stale_temporaries(folder):
                log.info("removed the leftover temporary %s", path)

    def recover(self) -> None:
        """Mark jobs a killed daemon left running as interrupted, and queued statuses whose
        request is gone as failed. Runs under the daemon lock, so no other daemon runs jobs; on
        Linux a job process dies with its daemon, so a ``running`` job is never really running
        (its pid may belong to another process by now)."""
        for status in self.bus.list(limit=1_000_000):
            job_id, state = status["job_id"], status.get("state")
            if state == "running" and (_JOBS_DIE_WITH_DAEMON or not _alive(status.get("pid"))):
                self._after_stop(status)
            elif state == "queued" and not self.bus.request_path(job_id).exists():
                self.bus.update(job_id, state="failed", finished_at=_now(),
                                error="the job's request was lost (ITA stopped while it was "
                                      "submitted); submit it again")
                log.info("job %s without a request marked failed", job_id)

    def _after_stop(self, status: dict) -> None:
        """A job the stopped daemon was running: re-queued once if it may run again, else
        interrupted (cancelled, when a cancel was asked for)."""
        from engine.jobs.kinds import KINDS

        job_id, attempt = status["job_id"], int(status.get("attempt", 1))
        kind = KINDS.get(status.get("kind") or self._request_kind(job_id))
        if self.bus.cancel_requested(job_id):
            self._cancelled(job_id)
        elif (kind is not None and kind.requeue and attempt < MAX_ATTEMPTS
              and self.bus.request_path(job_id).exists()):
            self.bus.update(job_id, state="queued", attempt=attempt + 1, progress=0.0, pid=None,
                            message=f"re-queued: the engine stopped while it ran "
                                    f"(attempt {attempt + 1} of {MAX_ATTEMPTS})")
            log.info("job %s re-queued (attempt %s)", job_id, attempt + 1)
        else:
            again = " again" if attempt > 1 else ""
            self.bus.update(job_id, state="interrupted", finished_at=_now(),
                            error=f"the engine stopped{again} while this job ran "
                                  f"(attempt {attempt}); submit it again")
            self.bus.finish_request(job_id)
            log.info("job %s marked interrupted", job_id)

    def _request_kind(self, job_id: str) -> str | None:
        import json

        try:
            return json.loads(self.bus.request_path(job_id).read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            return None

    def _cancelled(self, job_id: str) -> None:
        self.bus.update(job_id, state="cancelled", message="cancelled", finished_at=_now())
        self.bus.finish_request(job_id)
        self.bus.finish_cancel(job_id)
        log.info("job %s cancelled", job_id)

    def refresh_setups(self) -> None:
        from engine.setups.store import SetupStore

        store = SetupStore(self.settings.setups_dir)
        for setup_id in store.ids():
            try:
                version = store.load(setup_id)
            except ItaError as error:
                log.warning("setup %s: %s", setup_id, error)
                continue
            state = {"version": version.version, "hash": version.hash}
            if self.setups.get(setup_id) != state:
                self.setups[setup_id] = state
                log.info("setup %s active version %s", setup_id, version.version)
                for hook in self.on_setup_change:
                    hook(setup_id, state)

    def heartbeat(self) -> None:
        write_json_atomic(self.settings.exchange_dir / "engine.json", {
            "pid": os.getpid(), "started_at": self.started_at, "last_seen": _now(),
            "current_job": self.current, "jobs_done": self.done_jobs,
            "queued": len(self.bus.pending()), "setups": self.setups})

    def run_pending(self) -> int:
        ran = 0
        for request in self.bus.pending():
            job_id = request["job_id"]
            if self.bus.status(job_id).get("state") != "queued":
                self.bus.finish_request(job_id)
                continue
            if self.bus.cancel_requested(job_id):
                self._cancelled(job_id)
                continue
            self.current = job_id
            self.heartbeat()
            log.info("running job %s (%s)", job_id, request["kind"])
            # not a daemonic process: those may not start their own (a sweep's workers); it is
            # killed when the daemon stops (below) or dies (PR_SET_PDEATHSIG)
            process = multiprocessing.get_context("spawn").Process(
                target=_run_job, args=(str(self.settings.home), job_id, request["kind"],
                                       request.get("params", {})))
            process.start()
            try:
                self._follow(job_id, process)
            except BaseException:  # Ctrl-C or a stop: the job must not outlive the daemon
                process.kill()
                process.join()
                raise
            state = self.bus.status(job_id).get("state")
            if state in ("queued", "running") and self.bus.cancel_requested(job_id):
                self._cancelled(job_id)
            elif state in ("queued", "running"):
                self.bus.update(job_id, state="failed",
                                error=f"the job process exited with code {process.exitcode}")
            self.bus.finish_request(job_id)
            self.bus.finish_cancel(job_id)  # a cancel that came after the job finished
            self.current = None
            self.done_jobs += 1
            ran += 1
        return ran

    def _follow(self, job_id: str, process) -> None:
        """Wait for the job's process, beating the heartbeat; kill it when a cancel comes."""
        beat = time.monotonic()
        while process.is_alive():
            process.join(CANCEL_POLL_SECONDS)
            if process.is_alive() and self.bus.cancel_requested(job_id):
                log.info("cancelling job %s (pid %s)", job_id, process.pid)
                process.kill()
                process.join()
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                beat = time.monotonic()
                self.heartbeat()

    def _watch(self):
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        daemon = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                # inotify also reports opens and reads; waking on those would make the
                # daemon's own rescans wake it again, forever
                if event.event_type in CHANGE_EVENTS:
                    daemon.wake.set()

        observer = Observer()
        for folder in (self.bus.requests, self.settings.setups_dir):
            folder.mkdir(parents=True, exist_ok=True)
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.start()
        return observer

    def _start_periodic_sync(self, stopping: threading.Event) -> threading.Thread | None:
        """The shared folder's periodic sync, when a remote is set and a period is given."""
        if not self.settings.kb_remote.strip() or self.settings.sync_minutes <= 0:
            return None
        from engine.kb.sync import run_periodically

        thread = threading.Thread(target=run_periodically, args=(self.settings, stopping),
                                  kwargs={"log": log}, name="ita-sync", daemon=True)
        thread.start()
        log.info("shared folder syncs with %s every %s min", self.settings.kb_remote.strip(),
                 self.settings.sync_minutes)
        return thread

    def check_training(self) -> str | None:
        """One turn of the retrain loop (module docstring); a failure is logged, never fatal.
        Returns the id of the ``learn`` job it submitted, if any."""
        if self.retrain is None:
            from engine.learn.retrain import RetrainLoop

            self.retrain = RetrainLoop(self.settings, self.bus)
        try:
            return self.retrain.step(self.setups)
        except Exception:  # a bug in a check must not stop the daemon's jobs
            log.exception("the retrain check failed")
            return None

    def serve(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        self.acquire_lock()
        try:
            self.clean_temporaries()
            self.recover()
            self.refresh_setups()
            self.heartbeat()
            if once:
                self.run_pending()
                return
            observer = self._watch()
            stopping = threading.Event()
            self._start_periodic_sync(stopping)
            Periodic.for_settings(self.settings).start(stopping)
            try:
                while not (stop and stop.is_set()):
                    self.run_pending()
                    self.refresh_setups()
                    if self.check_training():
                        continue  # run it now, without waiting for the watcher's event
                    self.heartbeat()
                    self.wake.wait(RESCAN_SECONDS)
                    self.wake.clear()
            finally:
                stopping.set()
                observer.stop()
                observer.join(5)
        finally:
            self.release_lock()  # the file stays: unlinking a lock file races a new daemon


def setup_logging(settings: Settings) -> None:
    folder = settings.exchange_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(folder / "engine.log", maxBytes=2_000_000,
                                                   backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.addHandler(logging.StreamHandler())
    log.setLevel(logging.INFO)
