"""Decisions and commands through the real client and the fake Bot API: only the configured
chats are heard; any other chat gets nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.live.journal import SignalJournal, short_key
from engine.notify.commands import HELP, LiveStatus, TelegramUpdates, answer_command
from engine.notify.delivery import deliver_pending
from tests.fakes.telegram_api import FakeTelegram
from tests.live._signals import make_signal
from tests.notify._alerts import render
from tests.notify.conftest import CHAT

STRANGER = 999


@pytest.fixture()
def updates(channel, journal: SignalJournal) -> TelegramUpdates:
    status = LiveStatus.from_journal(
        journal, status=lambda: "feeds: binanceus BTC/USDT 15m, lag 1.2 s",
        setups=lambda: "fvg_retest v3 (active)", stats=lambda setup: f"{setup}: +0.31 R over 84")
    return TelegramUpdates(channel, journal, status)


def test_a_button_press_records_the_decision(fake: FakeTelegram, updates, journal) -> None:
    signal = make_signal()
    journal.record(signal, channels=["telegram"])
    fake.queue_callback(CHAT, f"T:{short_key(signal.signal_id)}")
    assert updates.poll_once(timeout=0) == 1
    assert journal.get(signal.signal_id).decision == "Taken"
    [answer] = fake.sent("answerCallbackQuery")
    assert answer.fields["text"].startswith("Taken: recorded")
    assert updates.poll_once(timeout=0) == 0  # the offset moved on: handled once


def test_a_reply_to_an_alert_records_the_reason(fake, channel, updates, journal) -> None:
    signal = make_signal()
    journal.record(signal, channels=["telegram"])
    deliver_pending(journal, channel, render)
    [photo] = fake.sent()
    fake.queue_callback(CHAT, f"S:{short_key(signal.signal_id)}", message_id=photo.message_id)
    fake.queue_command(CHAT, "news in 10 minutes", reply_to=photo.message_id)
    assert updates.poll_once(timeout=0) == 2
    stored = journal.get(signal.signal_id)
    assert (stored.decision, stored.decision_reason) == ("Skipped", "news in 10 minutes")


def test_other_chats_get_nothing(fake: FakeTelegram, updates, journal) -> None:
    signal = make_signal()
    journal.record(signal)
    fake.queue_callback(STRANGER, f"M:{short_key(signal.signal_id)}")
    fake.queue_command(STRANGER, "/status")
    fake.queue_command(STRANGER, "/pause")
    assert updates.poll_once(timeout=0) == 0
    assert journal.get(signal.signal_id).decision is None and journal.paused is False
    assert fake.sent("answerCallbackQuery") == [] and fake.sent("sendMessage") == []


def test_commands_answer_from_the_live_status(fake: FakeTelegram, updates, journal) -> None:
    journal.record(make_signal())
    for text in ("/status", "/setups", "/stats fvg_retest", "/stats", "/pause", "/resume",
                 "/hello"):
        fake.queue_command(CHAT, text)
    assert updates.poll_once(timeout=0) == 7
    replies = [r.text for r in fake.sent("sendMessage")]
    assert replies == ["feeds: binanceus BTC/USDT 15m, lag 1.2 s", "fvg_retest v3 (active)",
                       "fvg_retest: +0.31 R over 84", "Usage: /stats SETUP",
                       "Alerts paused: signals are still recorded, none is sent. /resume to "
                       "restart.", "Alerts resumed.", HELP]
    assert all(r.chat_id == str(CHAT) for r in fake.sent("sendMessage"))


def test_pause_from_telegram_stops_sending(fake, channel, updates, journal) -> None:
    fake.queue_command(CHAT, "/pause")
    updates.poll_once(timeout=0)
    journal.record(make_signal(), channels=["telegram"])
    assert deliver_pending(journal, channel, render).suppressed == 1
    assert fake.sent("sendPhoto") == []


def test_signals_lists_todays_in_the_traders_zone(tmp_path) -> None:
    now = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
    with SignalJournal(tmp_path / "live.sqlite", clock=lambda: now) as journal:
        journal.record(make_signal(0))
        journal.record(make_signal(-60 * 24))  # yesterday
        journal.set_decision(make_signal(0).signal_id, "Missed")
        status = LiveStatus.from_journal(journal, tz="Europe/London")
        assert answer_command("/signals@ita_bot", status) == (
            "Signals today (1):\n09:00 fvg_retest v3 BTC/USDT 15m long @ 100 — Missed")
        assert answer_command("/status", LiveStatus()).startswith("Not available")
