"""The real python-telegram-bot client against the local fake Bot API: alerts, retries, rate
limits, an hour-long outage, refusals and pausing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from engine.errors import ConfigurationError
from engine.live.journal import SignalJournal, short_key
from engine.notify.delivery import deliver_pending
from engine.notify.telegram import TelegramChannel, parse_decision, retry_seconds
from tests.fakes.telegram_api import FakeTelegram
from tests.live._signals import make_signal
from tests.notify._alerts import PNG, render, signal_of
from tests.notify.conftest import CHAT, FakeClock


def _queue(journal: SignalJournal, *minutes: int) -> list[str]:
    signals = [make_signal(m) for m in minutes]
    for s in signals:
        journal.record(s, channels=["telegram"])
    return [s.signal_id for s in signals]


def test_alert_is_a_photo_with_html_caption_and_decision_buttons(fake, channel, journal) -> None:
    [signal_id] = _queue(journal, 0)
    report = deliver_pending(journal, channel, render)
    assert report.sent == 1
    [photo] = fake.sent("sendPhoto")
    assert photo.files["photo"] == PNG and photo.chat_id == str(CHAT)
    assert photo.fields["parse_mode"] == "HTML" and signal_of(photo.caption) == signal_id
    buttons = photo.reply_markup["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Taken", "Skipped", "Missed"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    assert parse_decision(buttons[1]["callback_data"]) == ("Skipped", short_key(signal_id))
    delivery = journal.deliveries(signal_id)["telegram"]
    assert delivery["state"] == "sent" and delivery["message_ids"] == {
        str(CHAT): photo.message_id}
    assert deliver_pending(journal, channel, render).sent == 0  # nothing twice


def test_retry_after_is_honoured(fake, channel, journal, clock: FakeClock) -> None:
    _queue(journal, 0)
    fake.fail_next("429", retry_after=7)
    assert deliver_pending(journal, channel, render).sent == 1
    assert 7 in clock.sleeps and len(fake.sent()) == 1


def test_retry_after_as_int_or_timedelta() -> None:
    assert retry_seconds(3) == 3.0 and retry_seconds(timedelta(seconds=2.5)) == 2.5


def test_server_errors_are_retried_with_exponential_backoff(fake, channel, journal,
                                                            clock: FakeClock) -> None:
    _queue(journal, 0)
    fake.fail_next("500", 3, method="sendPhoto")
    assert deliver_pending(journal, channel, render).sent == 1
    assert clock.sleeps == [1.0, 2.0, 4.0] and len(fake.sent()) == 1


def test_a_hanging_request_times_out_and_is_retried(fake, channel, journal) -> None:
    _queue(journal, 0)
    fake.fail_next("hang", method="sendPhoto")
    started = time.monotonic()
    assert deliver_pending(journal, channel, render).sent == 1
    assert time.monotonic() - started < 1.4  # the 0.5 s timeout, not the 1.5 s hang
    assert fake.attempts.count("sendPhoto") == 2 and len(fake.sent()) == 1


def test_messages_to_one_chat_are_a_second_apart(fake, journal) -> None:
    _queue(journal, 0, 15, 30)
    with TelegramChannel("123:abc", [CHAT], base_url=fake.base_url, timeout=2) as channel:
        assert deliver_pending(journal, channel, render).sent == 3
    times = [r.at for r in fake.sent()]
    assert all(b - a >= 0.99 for a, b in zip(times, times[1:], strict=False))


def test_an_hour_long_outage_queues_alerts_and_delivers_them_in_order(
        fake: FakeTelegram, channel, journal, clock: FakeClock) -> None:
    outage_ends = 3600.0
    fake.outage = lambda method: clock.now < outage_ends
    expected: list[str] = []
    minute = 0
    while clock.now < outage_ends + 600:
        expected += _queue(journal, minute)  # an alert every 5 minutes, delivery tried each time
        deliver_pending(journal, channel, render)
        clock.sleep(300)
        minute += 5
    sent = [signal_of(r.caption) for r in fake.sent()]
    assert sent == expected and len(sent) == len(set(sent)) >= 12
    assert journal.pending("telegram") == []
    during = journal.deliveries(expected[0])["telegram"]
    assert during["attempts"] >= 10 and "unreachable" in during["last_error"]


def test_a_failure_keeps_the_rest_queued_in_order(fake, channel, journal) -> None:
    ids = _queue(journal, 0, 15, 30)
    fake.fail_next("500", 5, method="sendPhoto")  # more than the channel's 4 retries
    report = deliver_pending(journal, channel, render)
    assert (report.sent, report.waiting) == (0, 3) and "unreachable" in report.error
    assert [i.signal_id for i in journal.pending("telegram")] == ids
    assert deliver_pending(journal, channel, render).sent == 3
    assert [signal_of(r.caption) for r in fake.sent()] == ids


def test_a_refused_alert_is_failed_and_the_next_goes_out(fake, channel, journal) -> None:
    refused, fine = _queue(journal, 0, 15)
    fake.fail_next("400", method="sendPhoto")
    report = deliver_pending(journal, channel, render)
    assert (report.sent, report.failed) == (1, 1)
    assert journal.deliveries(refused)["telegram"]["state"] == "failed"
    assert "parse entities" in journal.deliveries(refused)["telegram"]["last_error"]
    assert [signal_of(r.caption) for r in fake.sent()] == [fine]


def test_a_bad_token_keeps_alerts_queued(fake, channel, journal) -> None:
    _queue(journal, 0)
    fake.fail_next("401")
    with pytest.raises(ConfigurationError, match="ITA_TELEGRAM_TOKEN"):
        deliver_pending(journal, channel, render)
    assert len(journal.pending("telegram")) == 1
    assert deliver_pending(journal, channel, render).sent == 1


def test_a_long_caption_goes_out_as_plain_text(fake, channel, journal) -> None:
    _queue(journal, 0)
    deliver_pending(journal, channel, lambda item: (PNG, "<b>x</b> &amp; " + "y" * 2000))
    [photo] = fake.sent()
    assert len(photo.caption) == 1024 and photo.caption.startswith("x & yyy")
    assert "parse_mode" not in photo.fields


def test_a_drawing_failure_still_sends_the_alert_as_text(fake, channel, journal) -> None:
    [signal_id] = _queue(journal, 0)

    def broken(item):
        raise RuntimeError("matplotlib exploded")

    assert deliver_pending(journal, channel, broken).sent == 1
    [message] = fake.sent("sendMessage")
    assert "fvg_retest v3" in message.text and "BTC/USDT 15m LONG" in message.text
    assert message.reply_markup["inline_keyboard"]  # the buttons still come with it


def test_paused_alerts_are_recorded_but_never_sent(fake, channel, journal) -> None:
    [signal_id] = _queue(journal, 0)
    journal.set_paused(True)
    assert deliver_pending(journal, channel, render).suppressed == 1
    journal.set_paused(False)
    assert deliver_pending(journal, channel, render).sent == 0
    assert fake.sent() == [] and journal.get(signal_id).deliveries == {"telegram": "suppressed"}


def test_edit_caption(fake, channel) -> None:
    channel.edit_caption(CHAT, 7, "<i>comment</i>")
    [edit] = fake.sent("editMessageCaption")
    assert (edit.fields["message_id"], edit.caption) == ("7", "<i>comment</i>")


def test_missing_configuration_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ITA_TELEGRAM_CHAT_ID"):
        TelegramChannel("123:abc", [])
