"""The Live page (views/live.py) and the live heartbeat on Home, under AppTest: state files
written exactly as the monitor writes them, alerts from a journal holding real recorded signals."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from engine._io import write_json_atomic
from engine.live.journal import SignalJournal, journal_path, short_key
from engine.live.state import alert_picture, paused_setups, state_path
from tests.app._pages import page, texts
from tests.live._signals import make_signal


@pytest.fixture(autouse=True)
def _no_telegram(monkeypatch) -> None:
    monkeypatch.delenv("ITA_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("ITA_TELEGRAM_CHAT_ID", raising=False)


def write_state(home: Path, *, age_s: float = 1.0, telegram: str = "ok",
                silent: bool = False) -> None:
    now = pd.Timestamp.now(tz="UTC")
    write_json_atomic(state_path(home), {
        "pid": os.getpid(), "started_at": (now - pd.Timedelta(hours=2)).isoformat(),
        "updated_at": (now - pd.Timedelta(seconds=age_s)).isoformat(), "mode": "live",
        "paused": False, "telegram": telegram,
        "feeds": [
            {"source": "binanceus", "symbol": "BTC/USDT", "timeframe": "1m",
             "last_bar": (now - pd.Timedelta(minutes=1)).floor("min").isoformat(),
             "lag_seconds": 1.4, "behind_bars": 0, "silent": False, "error": None},
            {"source": "binanceus", "symbol": "ETH/USDT", "timeframe": "5m",
             "last_bar": (now - pd.Timedelta(minutes=20)).floor("min").isoformat(),
             "lag_seconds": 1200.0, "behind_bars": 3, "silent": silent,
             "error": "NetworkError: timed out" if silent else None},
        ],
        "setups": [{"setup_id": "sma-cross", "version": 1, "symbols": ["BTC/USDT"],
                    "timeframe": "1m", "paused": False},
                   {"setup_id": "pdh-sweep-reversal", "version": 1, "symbols": ["BTC/USDT"],
                    "timeframe": "5m", "paused": False}],
        "alerts_today": 2, "last_alert_at": (now - pd.Timedelta(minutes=7)).isoformat(),
    })


def record_alerts(home: Path) -> list:
    """Two real journal entries: one sent to Telegram with a picture, one still pending."""
    sent = make_signal(0, setup_id="sma-cross", setup_version=1, entry=28128.92,
                       stop=27847.6308, target=28691.4984, r_planned=2.0, timeframe="1m")
    pending = make_signal(15, setup_id="pdh-sweep-reversal", setup_version=1, direction=-1,
                          symbol="BTC/USD", entry=1.08523, stop=1.0871, target=1.0815,
                          timeframe="5m")
    with SignalJournal(journal_path(home)) as journal:
        journal.record(sent, score=0.31, channels=["telegram"])
        journal.mark_sending(sent.signal_id, "telegram")
        journal.mark_sent(sent.signal_id, "telegram", {"42": 7})
        journal.record(pending, score=-0.05, channels=["telegram"])
    picture = alert_picture(home, short_key(sent.signal_id))
    picture.parent.mkdir(parents=True, exist_ok=True)
    picture.write_bytes(_tiny_png())
    return [sent, pending]


def _tiny_png() -> bytes:
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1), dpi=20)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def until_built(at, timeout: float = 120.0):
    """Rerun the page (as its progress fragment does every second) until the demo replay,
    built in the background, is shown."""
    end = time.monotonic() + timeout
    while at.get("progress") and time.monotonic() < end:
        time.sleep(0.5)
        at.run()
    assert not at.exception and not at.get("progress"), "the demo replay was not built"
    return at


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_without_monitor_or_telegram_the_page_shows_the_demo_replay(app_home) -> None:
    at = until_built(page("live"))
    assert any("Live is off" in t and "ITA_TELEGRAM_TOKEN" in t and "make run" in t
               for t in texts(at.info))
    assert "Demo replay — latest alerts" in [s.value for s in at.subheader]
    assert metrics(at)["Monitor"] == "never run"
    cards = [m.value for m in at.markdown if m.value.startswith("**") and " v1 · " in m.value]
    assert len(cards) >= 3
    assert any(b.label == "Taken" for b in at.button)
    assert not journal_path(app_home).exists()  # the demo never touches the real journal


SLOW_BUILD = """import pathlib, sys, time
print("0.400\\treplaying sma-cross v1 on BTC/USDT 1m", flush=True)
while not pathlib.Path({release!r}).exists():
    time.sleep(0.05)
from engine.live.demo import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_the_page_opens_while_the_demo_replay_is_built_and_shows_it_when_done(
        app_home, monkeypatch, tmp_path) -> None:
    from app import live_ui

    release = tmp_path / "release"
    monkeypatch.setattr(live_ui, "DEMO_COMMAND",
                        (sys.executable, "-c", SLOW_BUILD.format(release=str(release))))
    started = time.monotonic()
    at = page("live")  # the build is still running: the page does not wait for it
    assert time.monotonic() - started < 30
    assert "Demo replay — latest alerts" in [s.value for s in at.subheader]
    deadline = time.monotonic() + 30  # the child process reports its first step
    while [p.value for p in at.get("progress")] != [40] and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert [p.value for p in at.get("progress")] == [40]
    assert "sma-cross" in at.get("progress")[0].proto.text
    assert [t.label for t in at.toggle][:2] == ["Pause all alerts", "bos-order-block-retest v1"]
    assert not any(b.label == "Taken" for b in at.button)
    release.touch()
    at = until_built(at)
    assert any(b.label == "Taken" for b in at.button)


def test_the_demo_replay_is_built_by_a_child_process(app_home, monkeypatch) -> None:
    """Seconds of replaying and drawing never run in the server's own interpreter, where
    they slowed the clicks of a trader on other pages."""
    import engine.live.demo as demo

    def not_here(*args, **kwargs):
        raise AssertionError("the demo replay was built inside the server process")

    monkeypatch.setattr(demo, "build_demo_replay", not_here)
    at = until_built(page("live"))
    assert not at.exception and not at.error
    assert any(b.label == "Taken" for b in at.button)


def test_demo_alerts_are_scored_from_the_runs_on_disk_when_shown(app_home) -> None:
    from engine.backtest.run import run_backtest
    from engine.live.demo import build_demo_replay
    from engine.settings import Settings

    replay = build_demo_replay(app_home, tz=Settings(home=app_home).display_tz)
    at = page("live")
    assert any(m.value.startswith("Score **+0.00 R** · 0 trades of history")
               for m in at.markdown)
    run_backtest("sma-cross", symbol="BTC/USDT", start="2023-03-01", end="2023-03-08")
    at = page("live")
    scores = [m.value for m in at.markdown if m.value.startswith("Score **")]
    assert any("0 trades of history" not in m for m in scores)
    assert build_demo_replay(app_home, tz=Settings(home=app_home).display_tz) == replay


def test_a_running_monitor_shows_its_feeds_and_a_silent_one_in_red(app_home) -> None:
    write_state(app_home, silent=True, telegram="error: Unauthorized (check the token)")
    at = page("live")
    shown = metrics(at)
    assert shown["Monitor"] == "running" and shown["Telegram"] == "error"
    assert shown["Alerts today"] == "2"
    feeds = at.dataframe[0].value
    assert list(feeds["health"]) == ["ok", "silent"]
    assert list(feeds["error"]) == ["", "NetworkError: timed out"]
    errors = texts(at.error)
    assert "Silent for more than two bars: ETH/USDT 5m." in errors
    assert "Telegram: error: Unauthorized (check the token)" in errors
    assert not any("Demo replay" in s.value for s in at.subheader)


def test_a_stale_state_says_the_monitor_is_not_running(app_home) -> None:
    write_state(app_home, age_s=600)
    at = page("live")
    shown = metrics(at)
    assert shown["Monitor"] == "not running"
    assert shown["Telegram (last known)"] == "ok" and shown["Alerts today (last known)"] == "2"
    assert "its state was last written 10 min ago" in [m.delta for m in at.metric]
    assert any(w.startswith("The live monitor is not running (its state was last written")
               and "ita live" in w for w in texts(at.warning))
    assert any("As last written by the monitor" in c.value for c in at.caption)


def test_alerts_show_their_plan_picture_delivery_and_buttons(app_home) -> None:
    write_state(app_home)
    sent, pending = record_alerts(app_home)
    at = page("live")
    markdown = [m.value for m in at.markdown]
    assert "Entry 28,128.92 (market) · Stop 27,847.63 · Target 28,691.50 · 2.00 R" in markdown
    assert "Entry 1.08523 (market) · Stop 1.08710 · Target 1.08150 · 2.00 R" in markdown
    # newest first: the pending short (bar 09:15) above the sent long (bar 09:00)
    titles = [m for m in markdown if m.startswith("**") and " · " in m]
    assert titles[0].startswith("**PDH-SWEEP-REVERSAL v1 · BTC/USD 5m · short**")
    assert titles[1].startswith("**SMA-CROSS v1 · BTC/USDT 1m · long**")
    assert any(m.startswith("Score **+0.31 R**") for m in markdown)
    captions = [c.value for c in at.caption]
    assert "Delivery: telegram: sent" in captions and "Delivery: telegram: pending" in captions
    assert len(at.get("image")) == 1  # the saved picture of the sent alert
    for signal in (sent, pending):
        key = short_key(signal.signal_id)
        assert [at.button(key=f"live_{d}_{key}").label for d in ("taken", "skipped", "missed")
                ] == ["Taken", "Skipped", "Missed"]


def test_a_decision_click_writes_the_journal(app_home) -> None:
    write_state(app_home)
    sent, _ = record_alerts(app_home)
    key = short_key(sent.signal_id)
    at = page("live")
    at.text_input(key=f"live_reason_{key}").input("spread too wide at the open")
    at.button(key=f"live_skipped_{key}").click().run()
    assert not at.exception
    with SignalJournal(journal_path(app_home)) as journal:
        recorded = journal.get(sent.signal_id)
    assert (recorded.decision, recorded.decision_reason) == ("Skipped",
                                                             "spread too wide at the open")
    assert "Decision: **Skipped** — spread too wide at the open" in [
        m.value for m in at.markdown]
    assert at.text_input(key=f"live_reason_{key}").value == ""  # recorded, so cleared
    # the decision filter now finds it under Skipped, and not under Undecided
    at.selectbox(key="live_filter_decision").select("Undecided").run()
    titles = [m.value for m in at.markdown if m.value.startswith("**") and " · " in m.value]
    assert len(titles) == 1 and titles[0].startswith("**PDH-SWEEP-REVERSAL")


def test_the_setup_switch_and_global_pause_write_the_journal(app_home) -> None:
    write_state(app_home)
    at = page("live")
    assert [t.label for t in at.toggle] == ["Pause all alerts", "sma-cross v1",
                                             "pdh-sweep-reversal v1"]
    at.toggle(key="live_setup_sma-cross").set_value(False).run()
    with SignalJournal(journal_path(app_home)) as journal:
        assert paused_setups(journal) == {"sma-cross"}
        assert not journal.paused
    at.toggle(key="live_pause_all").set_value(True).run()
    at.toggle(key="live_setup_sma-cross").set_value(True).run()
    with SignalJournal(journal_path(app_home)) as journal:
        assert paused_setups(journal) == set() and journal.paused
    assert metrics(at)["Alerts"] == "paused"


def test_home_shows_the_live_heartbeat(app_home) -> None:
    at = page("home")
    assert any("Live monitor: never run" in t for t in texts(at.info))
    write_state(app_home, silent=True)
    at = page("home")
    assert any(t.startswith("Live monitor running since") and "feeds 1/2 healthy, 1 silent"
               in t and "2 alerts today" in t for t in texts(at.error))
    write_state(app_home)
    at = page("home")
    assert any("feeds 2/2 healthy" in t for t in texts(at.success))


def test_with_telegram_configured_the_page_shows_the_real_journal_not_the_demo(
        app_home, monkeypatch) -> None:
    monkeypatch.setenv("ITA_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("ITA_TELEGRAM_CHAT_ID", "42")
    at = page("live")
    assert metrics(at) == {"Monitor": "never run", "Telegram": "configured",
                           "Alerts": "active", "Alerts today": "0"}
    assert "Latest alerts" in [s.value for s in at.subheader]
    assert not any("Demo replay" in s.value for s in at.subheader)
    assert any(t.startswith("No alerts yet.") for t in texts(at.info))
