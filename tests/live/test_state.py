"""The live state file as pages read it, the per-setup switch, the heartbeat line, the demo
replay's own journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine._io import write_json_atomic
from engine.errors import DataError
from engine.live.journal import SignalJournal, journal_path, short_key
from engine.live.state import (
    heartbeat,
    paused_setups,
    read_live_state,
    set_setup_paused,
    state_path,
)

NOW = pd.Timestamp("2024-05-06 10:00:03", tz="UTC")


def live_json(*, updated: pd.Timestamp = NOW, pid: int | None = None, **extra) -> dict:
    """A state file exactly as the contract (live-contracts.md, wave 2) describes it."""
    state = {
        "pid": os.getpid() if pid is None else pid,
        "started_at": "2024-05-06T08:00:00Z", "updated_at": updated.isoformat(),
        "mode": "live", "paused": False, "telegram": "ok",
        "feeds": [
            {"source": "binanceus", "symbol": "BTC/USDT", "timeframe": "1m",
             "last_bar": "2024-05-06T09:59:00Z", "lag_seconds": 3.2, "behind_bars": 0,
             "silent": False, "error": None},
            {"source": "binanceus", "symbol": "ETH/USDT", "timeframe": "5m",
             "last_bar": "2024-05-06T09:40:00Z", "lag_seconds": 903.0, "behind_bars": 3,
             "silent": True, "error": "NetworkError: timed out"},
        ],
        "setups": [{"setup_id": "sma-cross", "version": 2, "symbols": ["BTC/USDT"],
                    "timeframe": "1m", "paused": False}],
        "alerts_today": 4, "last_alert_at": "2024-05-06T09:31:00Z",
    }
    state.update(extra)
    return state


def write(home: Path, state: dict) -> None:
    write_json_atomic(state_path(home), state)


def test_no_state_file_means_never_run(tmp_path) -> None:
    assert read_live_state(tmp_path, now=NOW) is None
    assert "never run" in heartbeat(None)


def test_a_fresh_state_of_a_live_process_is_running(tmp_path) -> None:
    write(tmp_path, live_json())
    state = read_live_state(tmp_path, now=NOW)
    assert state.running and state.why_not is None
    assert state.started_at == pd.Timestamp("2024-05-06 08:00", tz="UTC")
    btc, eth = state.feeds
    assert btc.healthy and btc.last_bar == pd.Timestamp("2024-05-06 09:59", tz="UTC")
    assert not eth.healthy and eth.silent and eth.behind_bars == 3
    assert [f.symbol for f in state.silent_feeds] == ["ETH/USDT"]
    assert state.setups[0].symbols == ("BTC/USDT",) and state.setups[0].version == 2
    assert state.alerts_today == 4


def test_a_state_older_than_three_intervals_is_not_running(tmp_path) -> None:
    write(tmp_path, live_json(updated=NOW - pd.Timedelta(seconds=16)))
    state = read_live_state(tmp_path, now=NOW)
    assert not state.running
    assert state.why_not == "its state was last written 16 s ago"
    # a slower loop declares its interval: 16 s is then less than 3 intervals
    write(tmp_path, live_json(updated=NOW - pd.Timedelta(seconds=16), interval_seconds=10))
    assert read_live_state(tmp_path, now=NOW).running


def test_a_fresh_state_of_a_dead_process_is_not_running(tmp_path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    write(tmp_path, live_json(pid=int(finished.stdout)))
    state = read_live_state(tmp_path, now=NOW)
    assert not state.running and "is gone" in state.why_not


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "not the live monitor's state"),
    ("[1, 2]", "expected a JSON object"),
])
def test_a_file_that_is_not_the_state_names_the_file(tmp_path, text, message) -> None:
    state_path(tmp_path).parent.mkdir(parents=True)
    state_path(tmp_path).write_text(text)
    with pytest.raises(DataError, match=message) as error:
        read_live_state(tmp_path, now=NOW)
    assert "live.json" in str(error.value)


def test_a_wrong_field_names_the_field(tmp_path) -> None:
    state = live_json()
    state["feeds"][1]["lag_seconds"] = "slow"
    write(tmp_path, state)
    with pytest.raises(DataError, match=r"feeds\[1\]\.lag_seconds: expected a number"):
        read_live_state(tmp_path, now=NOW)


def test_heartbeat_counts_feeds_and_alerts(tmp_path) -> None:
    write(tmp_path, live_json())
    line = heartbeat(read_live_state(tmp_path, now=NOW), tz="Europe/London")
    assert line == ("Live monitor running since 2024-05-06 09:00; feeds 1/2 healthy, "
                    "1 silent, 1 failing; 4 alerts today; last alert 2024-05-06 10:31.")
    write(tmp_path, live_json(updated=NOW - pd.Timedelta(minutes=5)))
    assert heartbeat(read_live_state(tmp_path, now=NOW)) == (
        "Live monitor: not running (its state was last written 5 min ago).")


def test_the_per_setup_switch_is_kept_in_the_journal(tmp_path) -> None:
    with SignalJournal(journal_path(tmp_path)) as journal:
        assert paused_setups(journal) == set()
        set_setup_paused(journal, "sma-cross", True)
        set_setup_paused(journal, "pdh-sweep-reversal", True)
        set_setup_paused(journal, "sma-cross", False)
    with SignalJournal(journal_path(tmp_path)) as journal:  # what the monitor reads
        assert json.loads(journal.value("paused_setups")) == ["pdh-sweep-reversal"]
        assert paused_setups(journal) == {"pdh-sweep-reversal"}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    from engine.demo import run_demo
    from engine.settings import Settings

    home = tmp_path_factory.mktemp("live-demo")
    run_demo(Settings(home=home))
    return home


def test_the_demo_replay_goes_through_the_live_path_into_its_own_journal(demo_home) -> None:
    from engine.adapters.store import CandleStore
    from engine.live.demo import REPLAY_DAYS, build_demo_replay
    from engine.setups.compile import compile_setup
    from engine.setups.store import SetupStore

    heard = []
    replay = build_demo_replay(demo_home, progress=lambda what, done: heard.append(done))
    assert heard[-1] == 1.0 and heard == sorted(heard)
    assert not journal_path(demo_home).exists()  # never the real journal
    with SignalJournal(replay.journal) as journal:
        signals = journal.recent(100)
    assert len({s.setup_id for s in signals}) >= 3
    for signal in signals:
        picture = replay.picture(short_key(signal.signal_id)).read_bytes()
        assert picture.startswith(b"\x89PNG")
    # each setup's alerts are the newest of its whole-data signals in the replayed days (the
    # parity property): bar by bar at the end (sma-cross's last alerts are minutes before the
    # last bar), a day at a time before (the 15m order block's, hours before)
    setups, store = SetupStore(demo_home / "setups"), CandleStore(demo_home / "data/candles")
    checked = 0
    for setup_id in setups.ids():
        version = setups.load(setup_id)
        timeframe = version.setup.market.timeframe
        candles = store.read("BTC/USDT", timeframe, source="binanceus")
        whole = compile_setup(version.setup, version=version.version)(candles,
                                                                      symbol="BTC/USDT")
        since = candles.index[-1] - pd.Timedelta(days=REPLAY_DAYS)
        expected = whole[whole["known_at"] > since].tail(3)
        got = sorted((s for s in signals if s.setup_id == setup_id), key=lambda s: s.known_at)
        assert [s.known_at for s in got] == list(expected["known_at"]), setup_id
        assert [(s.entry, s.stop, s.target) for s in got] == list(
            expected[["entry", "stop", "target"]].itertuples(index=False, name=None))
        assert [s.signal_id for s in got] == [
            f"{setup_id}@v1|binanceus:BTC/USDT|{timeframe}|{t:%Y-%m-%dT%H:%MZ}|"
            f"{'long' if d > 0 else 'short'}"
            for t, d in zip(expected["known_at"], expected["direction"], strict=True)]
        checked += len(got)
    assert checked == len(signals)
    newest = max(s.known_at for s in signals if s.setup_id == "sma-cross")
    assert newest > pd.Timestamp("2023-03-21 23:30", tz="UTC")


def test_the_demo_replay_is_reused_until_a_setup_changes(demo_home) -> None:
    from engine.live.demo import build_demo_replay, demo_root, find_demo_replay
    from engine.setups.store import SetupStore

    first = build_demo_replay(demo_home)
    assert build_demo_replay(demo_home) == first == find_demo_replay(demo_home)
    assert find_demo_replay(demo_home, tz="Europe/London") is None  # pictures in that zone
    (demo_home / "runs" / "some-run").mkdir(parents=True)  # a backtest: scores are ranked
    (demo_home / "runs" / "some-run" / "summary.json").write_text("{}")  # when shown
    assert find_demo_replay(demo_home) == first
    store = SetupStore(demo_home / "setups")
    text = store.load("sma-cross").text.replace("fast: 10", "fast: 12")
    assert text != store.load("sma-cross").text
    store.save(text)
    assert find_demo_replay(demo_home) is None
    second = build_demo_replay(demo_home)
    assert second != first and not first.folder.exists()
    assert [p.name for p in demo_root(demo_home).iterdir()] == [second.folder.name]


def test_what_the_monitor_writes_is_what_the_pages_read(tmp_path) -> None:
    from engine.live.state import FeedState, SetupState, state_json

    feeds = [FeedState("binanceus", "BTC/USDT", "1m", pd.Timestamp("2024-05-06 09:59", tz="UTC"),
                       3.2, 0, False, None),
             FeedState("mt5", "EURUSD", "5m", None, None, 2, True, "no file yet")]
    setups = [SetupState("sma-cross", 2, ("BTC/USDT", "ETH/USDT"), "1m", True)]
    write(tmp_path, state_json(
        pid=os.getpid(), started_at=NOW - pd.Timedelta("2h"), updated_at=NOW, mode="live",
        paused=True, telegram="ok", feeds=feeds, setups=setups, alerts_today=3,
        last_alert_at=NOW - pd.Timedelta("5min"), interval_seconds=2.0, clock=NOW))
    state = read_live_state(tmp_path, now=NOW + pd.Timedelta(seconds=1))
    assert state.running and state.paused and state.interval_seconds == 2.0
    assert list(state.feeds) == feeds and list(state.setups) == setups
    assert (state.alerts_today, state.last_alert_at) == (3, NOW - pd.Timedelta("5min"))
    assert state.started_at == NOW - pd.Timedelta("2h")
