"""Research jobs through a real engine daemon on the demo candles: optimise, sweep and
walk-forward run end to end and leave their results under runs/research/; a cancel stops a
queued job before it starts and kills a running one (its sweep workers included); a job the
daemon was running when it was killed is re-queued once, never twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backtest.research import ResearchStore
from engine.demo import run_demo
from engine.errors import JobError
from engine.jobs.bus import JobBus
from tests.jobs._processes import ROOT, engine_once, start_daemon, wait_for

SMALL = {"setup": "sma-cross", "symbol": "BTC/USDT", "start": "2023-03-01",
         "end": "2023-03-03"}
FOUR = {"conditions.cross.fast": {"low": 5, "high": 10, "step": 5},
        "conditions.cross.slow": {"low": 20, "high": 30, "step": 10}}
SLOW_SWEEP = {**SMALL, "end": "2023-03-15", "workers": 2, "min_trades": 1,
              "ranges": {"conditions.cross.fast": {"low": 2, "high": 19, "step": 1},
                         "conditions.cross.slow": {"low": 20, "high": 119, "step": 1}}}


def _dead(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)


@pytest.fixture()
def demo_bus(ita_home) -> JobBus:
    run_demo()
    return JobBus.from_settings()


def test_optimise_sweep_and_walkforward_run_through_the_daemon(demo_bus) -> None:
    bus = demo_bus
    jobs = {"optimise": bus.submit("optimise", {**SMALL, "trials": 4, "min_trades": 1}),
            "sweep": bus.submit("sweep", {**SMALL, "ranges": FOUR, "workers": 2,
                                          "min_trades": 1}),
            "walkforward": bus.submit("walkforward", {**SMALL, "ranges": FOUR, "trials": 3,
                                                      "train_bars": 1000, "test_bars": 500,
                                                      "min_trades": 1})}
    daemon = start_daemon(Path(os.environ["ITA_HOME"]))
    try:
        for kind, job in jobs.items():
            wait_for(lambda job=job: bus.status(job)["state"] not in ("queued", "running"),
                  timeout=300, what=f"the {kind} job")
    finally:
        _stop(daemon)
    store = ResearchStore.from_settings()
    for kind, job in jobs.items():
        status = bus.status(job)
        assert status["state"] == "done", status
        assert status["progress"] == 1.0 and status["attempt"] == 1
        assert status["result"]["research"] == job
        assert store.summary(job)["kind"] == kind
    trials = store.load(jobs["optimise"]).frames["trials"]
    assert len(trials) == 4 and {"conditions.cross.fast", "trades", "value"} <= set(trials)
    values = trials["value"].dropna()
    assert list(values) == sorted(values, reverse=True)
    variants = store.load(jobs["sweep"]).frames["trials"]
    assert sorted(zip(variants["conditions.cross.fast"], variants["conditions.cross.slow"],
                      strict=True)) == [(5, 20), (5, 30), (10, 20), (10, 30)]
    walk = store.load(jobs["walkforward"])
    assert len(walk.frames["windows"]) == 3  # 2,880 bars: windows start at 0, 500 and 1,000
    assert set(walk.frames["is_equity"]["window"]) == {0, 1, 2}
    assert walk.frames["oos_equity"].index[0] == walk.frames["windows"]["test_start"].iloc[0]
    assert walk.summary["ranges"]["conditions.cross.fast"] == {"low": 5.0, "high": 10.0,
                                                               "step": 5.0}


def test_cancel_stops_a_queued_job_and_kills_a_running_one_with_its_workers(demo_bus) -> None:
    bus = demo_bus
    running = bus.submit("sweep", SLOW_SWEEP)
    queued = bus.submit("backtest", {"setup": "sma-cross"})
    daemon = start_daemon(Path(os.environ["ITA_HOME"]))
    try:
        wait_for(lambda: bus.status(running)["state"] == "running", what="the sweep to start")
        pid = bus.status(running)["pid"]
        # 2 workers: the job's process and 1 forked from it
        wait_for(lambda: len(_children(pid)) >= 1, what="the sweep's forked worker")
        workers = _children(pid)
        assert bus.cancel(queued)["cancel_requested"]
        assert bus.status(queued)["cancel_requested"]
        bus.cancel(running)
        wait_for(lambda: bus.status(running)["state"] == "cancelled", timeout=15,
              what="the running job to be cancelled")
        wait_for(lambda: bus.status(queued)["state"] == "cancelled", timeout=15,
              what="the queued job to be cancelled")
        wait_for(lambda: all(_dead(p) for p in [pid, *workers]), timeout=10,
              what="the job and its workers to die")
    finally:
        _stop(daemon)
    assert "started_at" not in bus.status(queued)  # it never ran
    assert not list(bus.requests.glob("*.json")) and not list(bus.cancels.glob("*.json"))
    with pytest.raises(JobError, match="cancelled already"):
        bus.cancel(running)


def test_a_job_interrupted_by_a_daemon_restart_is_requeued_once(demo_bus) -> None:
    bus = demo_bus
    job = bus.submit("sweep", {**SLOW_SWEEP, "workers": 1})
    home = Path(os.environ["ITA_HOME"])
    for attempt in (1, 2):
        daemon = start_daemon(home)
        try:
            wait_for(lambda: bus.status(job)["state"] == "running"  # noqa: B023
                  and bus.status(job).get("attempt") == attempt  # noqa: B023
                  and bus.status(job).get("progress", 0) > 0,
                  timeout=120, what=f"attempt {attempt} to run")
            child = bus.status(job)["pid"]
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait(10)
            wait_for(lambda: _dead(child), timeout=10, what="the job to die with the daemon")  # noqa: B023
        finally:
            if daemon.poll() is None:
                daemon.kill()
    restarted = engine_once(home)
    assert restarted.returncode == 0, restarted.stderr
    status = bus.status(job)
    assert status["state"] == "interrupted" and status["attempt"] == 2, status
    assert "stopped again" in status["error"]
    assert not bus.request_path(job).exists()


def test_ita_jobs_cancel_asks_the_daemon_and_list_shows_it(demo_bus) -> None:
    job = demo_bus.submit("selftest", {"seconds": 60})
    env = {**os.environ, "COLUMNS": "200"}
    cancel = subprocess.run([sys.executable, "-m", "engine.cli", "jobs", "cancel", job],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert cancel.returncode == 0, cancel.stderr
    assert f"cancel requested for {job}" in cancel.stdout
    listed = subprocess.run([sys.executable, "-m", "engine.cli", "jobs", "list"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert "queued (cancelling)" in listed.stdout
    subprocess.run([sys.executable, "-m", "engine.cli", "engine", "--once"], cwd=ROOT, env=env,
                   capture_output=True, timeout=120, check=True)
    assert demo_bus.status(job)["state"] == "cancelled"
    again = subprocess.run([sys.executable, "-m", "engine.cli", "jobs", "cancel", job],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "is cancelled already" in again.stdout + again.stderr
