"""The engine daemon with real processes: jobs run, progress is written, a SIGKILLed daemon's
running job is marked interrupted after a restart and queued jobs still run, and a new setup
version is picked up without a restart."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from engine.demo import run_demo
from engine.errors import JobError
from engine.jobs.bus import JobBus
from engine.jobs.daemon import EngineDaemon
from engine.settings import get_settings
from engine.setups.store import SetupStore
from tests.jobs._processes import engine_once, start_daemon, wait_for


def test_bad_requests_are_refused_in_one_line(ita_home) -> None:
    bus = JobBus.from_settings()
    with pytest.raises(JobError, match="unknown job kind 'backtset'"):
        bus.submit("backtset", {})
    with pytest.raises(JobError, match="job parameter setup: Field required"):
        bus.submit("backtest", {})


def test_sigkill_then_restart_marks_interrupted_and_runs_the_queue(ita_home) -> None:
    run_demo()
    bus = JobBus.from_settings()
    long_job = bus.submit("selftest", {"seconds": 120})
    queued = bus.submit("backtest", {"setup": "pdh-sweep-reversal"})
    daemon = start_daemon(ita_home)
    try:
        wait_for(lambda: bus.status(long_job)["state"] == "running", what="the job to start")
        wait_for(lambda: bus.status(long_job).get("progress", 0) > 0, what="progress")
        child = bus.status(long_job)["pid"]
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(10)
        wait_for(lambda: not Path(f"/proc/{child}").exists()
              or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2],
              timeout=10, what="the job process to die with the daemon")
        assert bus.status(queued)["state"] == "queued"
    finally:
        if daemon.poll() is None:
            daemon.kill()
    restarted = engine_once(ita_home)
    assert restarted.returncode == 0, restarted.stderr
    assert bus.status(long_job)["state"] == "interrupted"
    done = bus.status(queued)
    assert done["state"] == "done" and done["result"]["run_id"].endswith("pdh-sweep-reversal-v1")
    assert not list(bus.requests.glob("*.json"))


def test_new_active_setup_version_is_picked_up_without_restart(ita_home) -> None:
    run_demo()
    daemon = EngineDaemon(get_settings())
    seen = []
    daemon.on_setup_change.append(lambda setup_id, state: seen.append((setup_id,
                                                                       state["version"])))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.serve, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: ("sma-cross", 1) in seen, what="the daemon to load setups")
        store = SetupStore.from_settings()
        text = store.load("sma-cross").text.replace("fast: 10", "fast: 12")
        store.save(text)
        wait_for(lambda: ("sma-cross", 2) in seen, timeout=20, what="the new version")
    finally:
        stop.set()
        daemon.wake.set()
        thread.join(20)
    assert not thread.is_alive()


def test_an_idle_daemon_sleeps(ita_home, monkeypatch) -> None:
    """Reading setups must not wake the daemon (inotify reports opens and closes too): an idle
    daemon loops once per rescan, not continuously."""
    run_demo()
    daemon = EngineDaemon(get_settings())
    loops = []
    refresh = daemon.refresh_setups
    monkeypatch.setattr(daemon, "refresh_setups", lambda: (loops.append(1), refresh())[1])
    stop = threading.Event()
    thread = threading.Thread(target=daemon.serve, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        time.sleep(3.0)
    finally:
        stop.set()
        daemon.wake.set()
        thread.join(20)
    assert len(loops) <= 3, f"the idle daemon looped {len(loops)} times in 3 s"
