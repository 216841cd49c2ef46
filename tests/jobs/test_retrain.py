"""The daemon's retrain loop: on a fresh demo home the setup with enough signals is trained with
nothing asked; one ``learn`` job at a time, after the jobs already waiting; a version whose
inputs did not change is not checked again (no dataset build); new labels count as new
outcomes; ``learn_minutes = 0`` turns it off."""

from __future__ import annotations

import json
import threading

import pytest

from engine.demo import run_demo
from engine.jobs.bus import JobBus
from engine.jobs.daemon import EngineDaemon
from engine.learn import ops
from engine.learn.labels import add_label
from engine.learn.retrain import POOL, START_DELAY_SECONDS, STATE_FILE, RetrainLoop
from engine.settings import get_settings
from tests.jobs._processes import wait_for
from tests.learn.test_ops import FAST, market

SETUPS = {"sma-cross": {"version": 1}, "pdh-sweep-reversal": {"version": 1}}


@pytest.fixture()
def settings(demo_settings):
    return demo_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def checks(monkeypatch):
    """The versions `due_for_training` was asked about (each one a dataset build)."""
    asked = []
    due = ops.due_for_training

    def counted(settings, setup_id, version, **kwargs):
        asked.append(f"{setup_id}@{version}")
        return due(settings, setup_id, version, **kwargs)

    monkeypatch.setattr(ops, "due_for_training", counted)
    return asked


def started(settings, bus, clock=None) -> RetrainLoop:
    """A loop whose first round is due (its start delay passed)."""
    clock = clock or Clock()
    loop = RetrainLoop(settings, bus, clock=clock)
    clock.now += START_DELAY_SECONDS
    return loop


def learn_requests(bus: JobBus) -> list[dict]:
    return [r for r in bus.pending() if r["kind"] == "learn"]


def test_a_due_version_gets_one_job_and_an_unchanged_one_no_dataset_build(settings, checks):
    bus, clock = JobBus(settings.exchange_dir), Clock()
    loop = started(settings, bus, clock)
    job = loop.step(SETUPS)
    assert job and [r["params"] for r in learn_requests(bus)] == [{"setup": "sma-cross@1"}]
    memory = json.loads((settings.exchange_dir / STATE_FILE).read_text())
    assert memory["sma-cross@1"]["due"] and memory["sma-cross@1"]["job_id"] == job
    assert "never trained" in memory["sma-cross@1"]["reason"]
    assert "55 needed" in memory["pdh-sweep-reversal@1"]["reason"]  # checked first, not due
    assert checks == ["pdh-sweep-reversal@1", "sma-cross@1"]
    clock.now += settings.learn_minutes * 60  # the next round while its job waits: no check
    assert loop.step(SETUPS) is None and len(learn_requests(bus)) == 1 and len(checks) == 2
    bus.finish_request(job)  # the job ran (it failed to train, say): the inputs did not change
    pool = loop.step(SETUPS)  # the round's last check: one job for the pool of the small ones
    assert pool and learn_requests(bus)[-1]["params"] == {"setup": "bos-order-block-retest@1"}
    assert json.loads((settings.exchange_dir / STATE_FILE).read_text())[POOL]["job_id"] == pool
    bus.finish_request(pool)
    clock.now += settings.learn_minutes * 60  # the next round: nothing changed, nothing built
    assert loop.step(SETUPS) is None and len(checks) == 2
    again = started(settings, bus, clock)  # a restarted daemon remembers
    assert again.step(SETUPS) is None and len(checks) == 2
    add_label(settings, "sma-cross", time="2023-03-10 12:00", label="setup")  # new input
    clock.now += settings.learn_minutes * 60
    assert loop.step(SETUPS) and checks[2:] == ["pdh-sweep-reversal@1", "sma-cross@1"]


def test_the_inputs_state_follows_candles_labels_and_models_not_locks(settings) -> None:
    import os

    state = ops.inputs_state(settings, "sma-cross", 1)
    assert ops.inputs_state(settings, "sma-cross", 1) == state
    series = next(settings.candles_dir.glob("*/BTC%2FUSDT/1m.parquet"))
    lock = series.with_name(series.name + ".lock")
    lock.write_text("")  # a reader's lock: not an input
    assert ops.inputs_state(settings, "sma-cross", 1) == state
    stat = series.stat()
    try:
        os.utime(series, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # new bars
        assert ops.inputs_state(settings, "sma-cross", 1) != state
    finally:
        os.utime(series, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert ops.inputs_state(settings, "sma-cross", 1) == state
    assert ops.inputs_state(settings, "pdh-sweep-reversal", 1) != state
    ops.learn_dataset(settings, market(300), **FAST)  # a model of another setup: not an input
    assert ops.inputs_state(settings, "sma-cross", 1) == state


def test_the_traders_waiting_jobs_go_first(settings, checks):
    bus = JobBus(settings.exchange_dir)
    backtest = bus.submit("backtest", {"setup": "sma-cross"})
    loop = started(settings, bus)
    assert loop.step(SETUPS) is None and not learn_requests(bus) and checks == []
    bus.finish_request(backtest)
    assert loop.step(SETUPS) and len(learn_requests(bus)) == 1


def test_the_first_round_waits_for_the_start_delay(settings, checks):
    bus, clock = JobBus(settings.exchange_dir), Clock()
    loop = RetrainLoop(settings, bus, clock=clock)
    clock.now += START_DELAY_SECONDS - 1
    assert loop.step(SETUPS) is None and checks == []
    clock.now += 1
    assert loop.step(SETUPS) and checks == ["pdh-sweep-reversal@1", "sma-cross@1"]


def test_zero_minutes_turns_the_loop_off(settings, checks):
    settings = settings.model_copy(update={"learn_minutes": 0})
    bus = JobBus(settings.exchange_dir)
    assert started(settings, bus).step(SETUPS) is None
    assert not bus.pending() and checks == [] and not (settings.exchange_dir / STATE_FILE).exists()


def test_new_labels_count_as_new_outcomes(ita_home):
    settings = get_settings()
    ops.learn_dataset(settings, market(300), **FAST)
    same = market(300)
    assert not ops.due_for_training(settings, "synthetic", 1, dataset=same).due
    labelled = market(300)
    labelled.meta["labelled"] = 60  # 60 of the 300 signals labelled since: +20 %
    due = ops.due_for_training(settings, "synthetic", 1, dataset=labelled)
    assert due.due and due.labels == 60 and "60 new labels" in due.reason


def test_the_real_daemon_trains_the_demo_after_the_waiting_backtest(ita_home):
    """The daemon's own loop: the backtest waiting at start runs first, then one learn job for
    the demo setup with enough signals runs with progress; cancelled by the trader, it is not
    submitted again for the same inputs."""
    run_demo()  # the job processes read ITA_HOME: a home of the test's own
    settings = get_settings()
    bus = JobBus(settings.exchange_dir)
    backtest = bus.submit("backtest", {"setup": "pdh-sweep-reversal"})
    daemon = EngineDaemon(settings)
    daemon.retrain = RetrainLoop(settings, bus)
    daemon.retrain.next_round = 0  # the first round without the start delay
    stop = threading.Event()
    thread = threading.Thread(target=daemon.serve, kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: learn_requests(bus), timeout=60, what="a learn job")
        [learn] = learn_requests(bus)
        wait_for(lambda: bus.status(learn["job_id"]).get("progress", 0) > 0, timeout=60,
                 what="the learn job's progress")
        bus.cancel(learn["job_id"])
        wait_for(lambda: bus.status(learn["job_id"])["state"] == "cancelled", timeout=20,
                 what="the cancel")
        # then one job for the pool of the versions with too few signals; cancelled too
        wait_for(lambda: [r for r in learn_requests(bus) if r["job_id"] != learn["job_id"]],
                 timeout=60, what="the pool's learn job")
        [pool] = [r for r in learn_requests(bus) if r["job_id"] != learn["job_id"]]
        bus.cancel(pool["job_id"])
        wait_for(lambda: bus.status(pool["job_id"])["state"] == "cancelled", timeout=20,
                 what="the pool job's cancel")
        daemon.retrain.next_round = 0  # another round at once: the same inputs, no new job
        daemon.wake.set()
        wait_for(lambda: daemon.retrain.next_round > 0, timeout=20, what="the next round")
    finally:
        stop.set()
        daemon.wake.set()
        thread.join(30)
    assert not thread.is_alive()
    jobs = {s["job_id"]: s for s in bus.list()}
    # one learn job and one for the pool, none for the rest
    assert set(jobs) == {backtest, learn["job_id"], pool["job_id"]}, jobs
    assert pool["params"] == {"setup": "bos-order-block-retest@1"}
    assert jobs[backtest]["state"] == "done"
    assert jobs[backtest]["finished_at"] <= jobs[learn["job_id"]]["started_at"]
    assert learn["params"] == {"setup": "sma-cross@1"}
    text = (settings.exchange_dir / STATE_FILE).read_text()
    assert "never trained; " in text and "55 needed" in text
