"""The kill switch from each of its four doors (function, CLI, Telegram, a file in exchange/),
its history, and surviving a restart (engine.paper.kill)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigurationError
from engine.live.journal import SignalJournal
from engine.notify.commands import LiveStatus, TelegramUpdates
from engine.paper import kill
from engine.settings import Settings
from tests.fakes.telegram_api import FakeTelegram
from tests.notify.conftest import CHAT

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


@pytest.fixture()
def settings(ita_home: Path) -> Settings:
    return Settings(home=ita_home)


def test_the_function_door_engages_until_released(settings):
    assert kill.state(settings) == kill.KillState()
    assert kill.banner(kill.state(settings)) is None
    on = kill.engage(settings, by="app", reason="FOMC\nsurprise", close_positions=True, now=T0)
    assert (on.engaged, on.by, on.reason, on.close_positions, on.since) == (
        True, "app", "FOMC surprise", True, T0)
    assert kill.banner(on) == (
        "KILL SWITCH ON since 2026-11-28 09:30 UTC (by app): FOMC surprise. Paper following is "
        "stopped. Open paper positions are being closed. Release with `ita kill --release`, "
        "/release or the app.")
    # Engaging again keeps the first since/by; close_positions is never turned off by engage.
    again = kill.engage(settings, by="cli", reason="still", now=T0 + dt.timedelta(hours=1))
    assert (again.since, again.by, again.close_positions) == (T0, "app", True)
    off = kill.release(settings, by="app", now=T0 + dt.timedelta(hours=2))
    assert not off.engaged and not kill.state(settings).engaged
    assert kill.release(settings, by="app") == kill.KillState()  # off already: not recorded
    assert [(e.action, e.by, e.reason) for e in kill.history(settings)] == [
        ("engage", "app", "FOMC surprise"), ("engage", "cli", "still"), ("release", "app", "")]


def test_the_state_survives_a_restart_in_a_new_process(settings):
    kill.engage(settings, by="app", reason="tilt", now=T0)
    code = ("from engine.paper import kill; from engine.settings import get_settings; "
            "s = kill.state(get_settings()); print(s.engaged, s.by, s.reason, s.since)")
    env = {**os.environ, "ITA_HOME": str(settings.home), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert out.strip() == "True app tilt 2026-11-28 09:30:00+00:00"
    assert (settings.home / ".ita" / "kill.json").exists()


def test_a_corrupt_state_file_is_never_read_as_off(settings):
    path = settings.home / ".ita" / "kill.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"kill\.json: the kill switch state cannot be"):
        kill.state(settings)


def test_a_torn_history_line_is_skipped(settings):
    kill.engage(settings, by="app", now=T0)
    with open(settings.home / ".ita" / "kill_history.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"action": "rel')  # a crash halfway through a write
    assert [e.action for e in kill.history(settings)] == ["engage"]


# --- the CLI door ------------------------------------------------------------------------------

def test_the_cli_door(settings):
    runner = CliRunner()
    result = runner.invoke(app, ["kill", "--close", "--reason", "news spike"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("KILL SWITCH ON since ")
    assert "(by cli): news spike" in result.output
    state = kill.state(settings)
    assert (state.engaged, state.by, state.reason, state.close_positions) == (
        True, "cli", "news spike", True)
    status = runner.invoke(app, ["kill", "--status"])
    assert status.exit_code == 0 and "engage by cli (close positions): news spike" in status.output
    assert runner.invoke(app, ["kill", "--release", "--close"]).exit_code != 0
    released = runner.invoke(app, ["kill", "--release"])
    assert released.exit_code == 0
    assert released.output.startswith("kill switch released")
    assert not kill.state(settings).engaged
    assert runner.invoke(app, ["kill", "--release"]).output == "the kill switch was not on\n"
    assert runner.invoke(app, ["kill", "--status"]).output.startswith("kill switch off\n")


def test_the_cli_door_as_a_real_process(settings):
    env = {**os.environ, "ITA_HOME": str(settings.home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "kill", "-r", "away"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert kill.state(settings).reason == "away"
    assert done.stderr == ""  # the banner on stdout once, no stray log line
    assert done.stdout.count("KILL SWITCH ON") == 1


# --- the file door -----------------------------------------------------------------------------

def test_the_file_door_applies_each_file_exactly_once(settings):
    exchange = settings.exchange_dir
    exchange.mkdir(parents=True)
    assert kill.poll_file(settings) is None
    (exchange / "KILL").write_text("\ufeffdrawdown too fast\nsecond line ignored\n",
                                   encoding="utf-8")
    state = kill.poll_file(settings, now=T0)
    assert (state.engaged, state.by, state.reason) == (True, "file", "drawdown too fast")
    assert not (exchange / "KILL").exists()
    [archived] = (exchange / kill.APPLIED_DIR).iterdir()
    assert archived.name == "20261128T093000000000Z-KILL"
    assert kill.poll_file(settings) is None  # nothing left: applied once
    assert len(kill.history(settings)) == 1
    kill.release(settings, by="cli")
    (exchange / "kill.txt").write_text("", encoding="utf-8")
    assert kill.poll_file(settings).reason == "kill.txt file in exchange/"
    (exchange / "KILLER").write_text("no", encoding="utf-8")  # not the name: ignored
    assert kill.poll_file(settings) is None and (exchange / "KILLER").exists()


def test_the_file_door_after_a_crash_before_the_file_was_moved(settings, monkeypatch):
    exchange = settings.exchange_dir
    exchange.mkdir(parents=True)
    (exchange / "kill").write_text("stop\n", encoding="utf-8")

    def crash(*_args, **_kwargs):
        raise SystemExit("killed between the engage and the move")

    monkeypatch.setattr(kill, "_archive", crash)
    with pytest.raises(SystemExit):
        kill.poll_file(settings, now=T0)
    assert kill.state(settings).engaged and (exchange / "kill").exists()
    monkeypatch.undo()
    kill.release(settings, by="cli")  # the trader released it meanwhile
    assert kill.poll_file(settings) is not None  # the restart sees the same file...
    assert not kill.state(settings).engaged  # ... already applied: not engaged a second time
    assert not (exchange / "kill").exists()
    assert [e.action for e in kill.history(settings)] == ["engage", "release"]


# --- the Telegram door -------------------------------------------------------------------------

STRANGER = 999


@pytest.fixture()
def telegram(settings, tmp_path):
    from engine.notify.telegram import TelegramChannel

    with FakeTelegram(hang_seconds=1.5) as fake, \
            TelegramChannel("123:abc", [CHAT], base_url=fake.base_url, timeout=0.5) as channel, \
            SignalJournal(tmp_path / "live.sqlite") as journal:
        status = LiveStatus.from_journal(
            journal, kill=lambda chat, text: kill.telegram_kill(settings, chat=chat, text=text),
            release=lambda chat: kill.telegram_release(settings, chat=chat))
        yield fake, TelegramUpdates(channel, journal, status)


def test_the_telegram_door_from_a_configured_chat(settings, telegram):
    fake, updates = telegram
    fake.queue_command(CHAT, "/kill close slippage looks wrong")
    assert updates.poll_once(timeout=0) == 1
    state = kill.state(settings)
    assert (state.engaged, state.by, state.reason, state.close_positions) == (
        True, f"telegram:{CHAT}", "slippage looks wrong", True)
    fake.queue_command(CHAT, "/release@ita_bot")
    fake.queue_command(CHAT, "/release")
    assert updates.poll_once(timeout=0) == 2
    assert not kill.state(settings).engaged
    assert [r.text for r in fake.sent("sendMessage")] == [
        "Kill switch ON: paper following stopped. Open paper positions will be closed. It "
        "stays on until /release (or `ita kill --release`).",
        "Kill switch released: paper following resumes with the next closed bar.",
        "The kill switch is not on."]


def test_the_telegram_door_refuses_and_logs_other_chats(settings, telegram, caplog):
    fake, updates = telegram
    kill.engage(settings, by="app", reason="mine")
    fake.queue_command(STRANGER, "/release")
    fake.queue_command(STRANGER, "/kill")
    with caplog.at_level(logging.WARNING, logger="engine.notify.commands"):
        assert updates.poll_once(timeout=0) == 0
    assert kill.state(settings).by == "app" and kill.state(settings).engaged
    assert fake.sent("sendMessage") == []
    assert [r.getMessage() for r in caplog.records if r.name == "engine.notify.commands"] == [
        f"refused /release from chat {STRANGER}: not a configured chat",
        f"refused /kill from chat {STRANGER}: not a configured chat"]
    assert len(kill.history(settings)) == 1


def test_the_live_monitors_commands_reach_the_switch(settings):
    from types import SimpleNamespace

    from engine.live.commands import live_status

    with SignalJournal(settings.home / "live.sqlite") as journal:
        monitor = SimpleNamespace(journal=journal, tz="UTC", settings=settings)
        status = live_status(monitor)
        assert status.kill("7", "enough").startswith("Kill switch ON")
        assert kill.state(settings).by == "telegram:7"
        assert status.release("7").startswith("Kill switch released")


def test_state_file_is_plain_json(settings):
    kill.engage(settings, by="app", reason="x", now=T0)
    data = json.loads((settings.home / ".ita" / "kill.json").read_text(encoding="utf-8"))
    assert data["engaged"] is True and data["since"] == T0.isoformat()


def test_doors_used_at_once_lose_nothing(settings):
    import threading

    def door(name: str) -> None:
        for _ in range(5):
            kill.engage(settings, by=name, reason=name)

    threads = [threading.Thread(target=door, args=(f"door{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kill.history(settings)) == 20
    assert kill.state(settings).engaged
