"""One writer at a time on the job bus: the daemon's OS lock, a submit killed halfway never
leaves a job waiting forever, leftover temporaries are removed at start, job ids cannot escape
the bus's folders, and two processes submitting at once lose nothing."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import filelock
import pytest
from typer.testing import CliRunner

from engine._io import write_json_atomic
from engine.cli import app
from engine.errors import ConfigurationError, JobError
from engine.jobs.bus import JobBus
from engine.jobs.daemon import EngineDaemon
from engine.settings import get_settings
from tests.jobs._processes import ROOT, engine_once, env, start_daemon, wait_for

STALE = time.time() - 3600










def _heartbeat_pid(home: Path) -> int | None:
    try:
        return json.loads((home / "exchange" / "engine.json").read_text())["pid"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# --- the daemon lock ------------------------------------------------------------------------
def test_one_daemon_at_a_time_and_kill_9_frees_the_lock(ita_home) -> None:
    first = start_daemon(ita_home)
    try:
        wait_for(lambda: _heartbeat_pid(ita_home) == first.pid, what="the first daemon")
        second = engine_once(ita_home)
        assert second.returncode == 1
        assert f"an engine daemon already runs for this ITA home (pid {first.pid})" \
            in second.stderr
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    after = engine_once(ita_home)
    assert after.returncode == 0, after.stderr


def test_a_second_daemon_in_the_same_process_is_refused_until_the_first_stops(ita_home) -> None:
    first, second = EngineDaemon(get_settings()), EngineDaemon(get_settings())
    first.acquire_lock()
    try:
        with pytest.raises(JobError, match="an engine daemon already runs for this ITA home"):
            second.acquire_lock()
    finally:
        first.release_lock()
    second.acquire_lock()
    second.release_lock()


def test_a_folder_without_file_locks_is_a_configuration_error(ita_home, monkeypatch) -> None:
    def no_locks(self, *args, **kwargs):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_locks)
    with pytest.raises(ConfigurationError, match="cannot lock .*engine.lock: Function not "
                                                 "implemented; keep ITA's home folder on a"):
        EngineDaemon(get_settings()).acquire_lock()


def test_a_leftover_lock_file_naming_a_live_process_does_not_block(ita_home) -> None:
    """PID reuse: the pid in a leftover lock file now belongs to some other live process."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (ita_home / "exchange").mkdir()
        (ita_home / "exchange" / "engine.lock").write_text(str(other.pid))
        started = engine_once(ita_home)
        assert started.returncode == 0, started.stderr
    finally:
        other.kill()
        other.wait(10)


def test_a_running_job_whose_pid_was_reused_is_marked_interrupted(ita_home) -> None:
    """The killed daemon's job pid now belongs to a live process: the job still did not run."""
    bus = JobBus.from_settings()
    job_id = bus.submit("selftest", {"seconds": 0})
    bus.update(job_id, state="running", pid=os.getpid())  # this test process is alive
    bus.finish_request(job_id)
    assert engine_once(ita_home).returncode == 0
    assert bus.status(job_id)["state"] == "interrupted"


def test_a_status_file_without_its_id_is_still_recovered(ita_home) -> None:
    bus = JobBus.from_settings()
    job_id = "20240101T000000000000-selftest-abcdef"
    bus.write_status(job_id, {"state": "running", "pid": os.getpid()})  # edited by hand
    EngineDaemon(get_settings()).recover()
    assert bus.status(job_id)["state"] == "interrupted"
    assert json.loads(bus.status_path(job_id).read_text())["job_id"] == job_id


# --- a submit killed halfway ----------------------------------------------------------------
def test_submit_is_one_atomic_write_of_the_request(ita_home) -> None:
    bus = JobBus.from_settings()
    job_id = bus.submit("selftest", {"seconds": 0})
    assert [p.name for p in bus.requests.iterdir()] == [f"{job_id}.json"]
    assert not bus.jobs.exists() or not list(bus.jobs.iterdir())
    assert bus.status(job_id)["state"] == "queued"
    assert [s["job_id"] for s in bus.list()] == [job_id]
    assert [r["job_id"] for r in bus.pending()] == [job_id]


def test_a_request_without_status_runs(ita_home) -> None:
    """What a submitter killed after the request and before any status leaves behind."""
    bus = JobBus.from_settings()
    job_id = "20240101T000000000000-selftest-abcdef"
    write_json_atomic(bus.requests / f"{job_id}.json",
                      {"job_id": job_id, "kind": "selftest", "params": {"seconds": 0}})
    result = engine_once(ita_home)
    assert result.returncode == 0, result.stderr
    status = bus.status(job_id)
    assert status["state"] == "done" and status["result"] == {"slept": 0.0}
    assert not list(bus.requests.glob("*.json"))


def test_a_queued_status_without_request_is_failed_not_stuck(ita_home) -> None:
    """What the old submit (status first) left when killed between its two writes."""
    bus = JobBus.from_settings()
    job_id = "20240101T000000000000-selftest-abcdef"
    bus.write_status(job_id, {"job_id": job_id, "kind": "selftest", "params": {"seconds": 0},
                              "state": "queued", "progress": 0.0, "message": "queued"})
    result = engine_once(ita_home)
    assert result.returncode == 0, result.stderr
    status = bus.status(job_id)
    assert status["state"] == "failed" and "request was lost" in status["error"]


def test_a_request_that_is_not_a_job_is_failed_and_dropped(ita_home) -> None:
    bus = JobBus.from_settings()
    bus.requests.mkdir(parents=True)
    (bus.requests / "20240101T000000000000-x-abcdef.json").write_text("[1, 2]")
    (bus.requests / "20240101T000000000001-x-abcdef.json").write_text("{not json")
    assert bus.pending() == []
    assert not list(bus.requests.iterdir())
    assert [s["state"] for s in bus.list()] == ["failed", "failed"]


# --- leftover temporaries -------------------------------------------------------------------
def test_daemon_start_removes_stale_temporaries_only(ita_home) -> None:
    stale = [ita_home / "exchange" / "requests" / ".job.json.abcd1234.tmp",
             ita_home / "setups" / "demo" / ".v0002.yaml.x_y9z8w7.tmp",
             ita_home / "data" / "candles" / "x" / ".1m.parquet.q1w2e3r4.tmp"]
    stale_run = ita_home / "runs" / ".20240101T000000000Z-demo-v1.a1b2c3d4.tmp"
    fresh = ita_home / "exchange" / "jobs" / ".job.json.fresh123.tmp"
    kept = ita_home / "setups" / "demo" / ".notes.tmp"  # not an ITA temporary
    for path in [*stale, fresh, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half written")
    stale_run.mkdir(parents=True)
    (stale_run / "trades.parquet").write_text("half written")
    for path in [*stale, stale_run, stale_run / "trades.parquet", kept]:
        os.utime(path, (STALE, STALE))
    result = engine_once(ita_home)
    assert result.returncode == 0, result.stderr
    assert [p for p in [*stale, stale_run] if p.exists()] == []
    assert fresh.exists() and kept.exists()


# --- job ids --------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../secret", "..", "a/b", "a\\b", "x\x00", "NUL", ".hidden", ""])
def test_job_ids_cannot_escape_the_bus(ita_home, bad) -> None:
    bus = JobBus.from_settings()
    (ita_home / "exchange" / "jobs").mkdir(parents=True)
    (ita_home / "exchange" / "secret.json").write_text('{"state": "done"}')
    message = "job id( .*)? (is not allowed|must be a non-empty|is a reserved)"
    for call in (lambda: bus.status(bad), lambda: bus.update(bad, state="done"),
                 lambda: bus.write_status(bad, {}), lambda: bus.finish_request(bad)):
        with pytest.raises(JobError, match=message):
            call()
    assert (ita_home / "exchange" / "secret.json").exists()


def test_jobs_show_refuses_a_path_in_one_line(ita_home) -> None:
    (ita_home / "exchange" / "jobs").mkdir(parents=True)
    (ita_home / "exchange" / "secret.json").write_text('{"state": "done"}')
    result = CliRunner().invoke(app, ["jobs", "show", "../secret"])
    assert isinstance(result.exception, JobError)
    assert str(result.exception).startswith("job id '../secret' is not allowed")


# --- two submitters at once -----------------------------------------------------------------
SUBMITTER = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from engine.jobs.bus import JobBus

    count, go = int(sys.argv[1]), Path(sys.argv[2])
    bus = JobBus.from_settings()
    while not go.exists():
        time.sleep(0.001)
    for i in range(count):
        print(bus.submit("selftest", {"seconds": i / 1000}), flush=True)
""")


def test_two_processes_submitting_at_once_lose_no_job(ita_home) -> None:
    go, count = ita_home / "go", 60
    writers = [subprocess.Popen([sys.executable, "-c", SUBMITTER, str(count), str(go)],
                                cwd=ROOT, env=env(ita_home), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.0)  # both import the engine, then start together
    go.touch()
    submitted = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        submitted += out.split()
    assert len(submitted) == len(set(submitted)) == 2 * count
    bus = JobBus.from_settings()
    assert sorted(r["job_id"] for r in bus.pending()) == sorted(submitted)
    listed = {s["job_id"]: s for s in bus.list(limit=1000)}
    assert sorted(listed) == sorted(submitted)
    assert {s["state"] for s in listed.values()} == {"queued"}
    assert sorted(s["params"]["seconds"] for s in listed.values()) == sorted(
        [i / 1000 for i in range(count)] * 2)


def test_a_backtest_job_naming_an_unsafe_setup_is_refused_at_submit(ita_home) -> None:
    bus = JobBus.from_settings()
    with pytest.raises(JobError, match="^job parameter setup: setup id '../x' is not allowed"):
        bus.submit("backtest", {"setup": "../x@2"})
    assert bus.list() == []
