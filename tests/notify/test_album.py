"""Several alerts of one close: one album to the chat (best first), their buttons after it;
the per-chat limiter counts an album of N as N messages. The real python-telegram-bot client
against the fake Bot API."""

from __future__ import annotations

import html
import json

import pandas as pd
import pytest

from engine.live.comment import Commenter, CommentFacts, CommentingChannel
from engine.live.journal import SignalJournal, short_key
from engine.live.rank import Rank
from engine.notify.delivery import deliver_pending
from engine.notify.telegram import ChatPacer, TelegramChannel, parse_decision
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram
from tests.live._signals import make_signal
from tests.notify._alerts import PNG, render, signal_of
from tests.notify.conftest import CHAT, FakeClock


def queue_close(journal: SignalJournal, setups: list[str], *, minute: int = 0,
                scores: list[float] | None = None) -> list[str]:
    """Alerts of several setups on one bar (recorded worst first), their ids best first."""
    scores = scores or [0.1 * (i + 1) for i in range(len(setups))]
    signals = [make_signal(minute, setup_id=setup) for setup in setups]
    for s, score in zip(signals, scores, strict=True):
        journal.record(s, score=score, channels=["telegram"])
    ranked = sorted(zip(scores, signals, strict=True), key=lambda pair: -pair[0])
    return [s.signal_id for _, s in ranked]


def test_an_album_of_three_in_one_request_then_its_buttons(fake, channel, journal) -> None:
    ids = queue_close(journal, ["a_setup", "b_setup", "c_setup"])
    report = deliver_pending(journal, channel, render)
    assert report.sent == 3 and fake.sent("sendPhoto") == []
    [album] = fake.sent("sendMediaGroup")  # one request ...
    assert album.chat_id == str(CHAT)
    assert [signal_of(p.caption) for p in album.items] == ids  # ... three captions, best first
    assert all(p.files["photo"] == PNG and p.fields["parse_mode"] == "HTML" for p in album.items)
    [buttons] = fake.sent("sendMessage")  # then the decisions, in one message after it
    assert buttons.at >= album.at
    reply = json.loads(buttons.fields["reply_parameters"])  # a reply to the album's first photo
    assert reply["message_id"] == album.items[0].message_id
    rows = buttons.reply_markup["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        [f"{n}. Taken", f"{n}. Skipped", f"{n}. Missed"] for n in (1, 2, 3)]
    assert [parse_decision(row[0]["callback_data"]) for row in rows] == [
        ("Taken", short_key(i)) for i in ids]
    assert [line.split("<b>")[1].split(" ")[0] for line in buttons.text.splitlines()[1:]] == [
        "c_setup", "b_setup", "a_setup"]  # each row labelled by its setup and symbol
    assert all("BTC/USDT 15m LONG" in line for line in buttons.text.splitlines()[1:])
    for signal_id, photo in zip(ids, album.items, strict=True):
        delivery = journal.deliveries(signal_id)["telegram"]
        assert delivery["state"] == "sent"
        assert delivery["message_ids"] == {str(CHAT): photo.message_id}
        assert delivery["buttons"] == {str(CHAT): buttons.message_id}
    # a reply to an album photo names its own alert
    assert journal.signal_for_message(CHAT, album.items[1].message_id) == ids[1]
    assert deliver_pending(journal, channel, render).sent == 0  # nothing twice


def test_one_alert_stays_a_photo_with_its_buttons(fake, channel, journal) -> None:
    queue_close(journal, ["a_setup"])
    queue_close(journal, ["b_setup"], minute=15)  # another close: not in the same album
    assert deliver_pending(journal, channel, render).sent == 2
    assert fake.sent("sendMediaGroup") == [] and fake.sent("sendMessage") == []
    assert [len(p.reply_markup["inline_keyboard"][0]) for p in fake.sent("sendPhoto")] == [3, 3]


def test_a_1m_and_a_5m_bar_closing_together_share_the_album(fake, channel, journal) -> None:
    five = make_signal(0, setup_id="five", timeframe="5m")  # 09:00-09:05
    one = make_signal(4, setup_id="one", timeframe="1m")    # 09:04-09:05
    journal.record(five, score=0.1, channels=["telegram"])
    journal.record(one, score=0.5, channels=["telegram"])
    assert deliver_pending(journal, channel, render).sent == 2
    [album] = fake.sent("sendMediaGroup")
    assert [signal_of(p.caption) for p in album.items] == [one.signal_id, five.signal_id]


def test_more_than_ten_alerts_make_several_albums(fake, channel, journal) -> None:
    ids = queue_close(journal, [f"setup_{i:02d}" for i in range(12)])
    assert deliver_pending(journal, channel, render).sent == 12
    albums = fake.sent("sendMediaGroup")
    assert [len(a.items) for a in albums] == [10, 2]
    assert [signal_of(p.caption) for a in albums for p in a.items] == ids


def test_the_limiter_counts_an_album_of_n_as_n_messages(fake, channel, journal,
                                                        clock: FakeClock) -> None:
    queue_close(journal, ["a_setup", "b_setup", "c_setup"])
    deliver_pending(journal, channel, render)
    assert clock.sleeps == [3.0]  # the buttons waited three seconds after the album of three
    queue_close(journal, ["d_setup"], minute=15)  # the next close comes at once
    deliver_pending(journal, channel, render)
    assert clock.sleeps == [3.0, 1.0]


def test_chat_pacer_album_and_overall_limits() -> None:
    clock = FakeClock()
    pacer = ChatPacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.wait("a", 4)
    pacer.done("a", 4)
    pacer.wait("a")
    assert clock.sleeps == [4.0]
    clock = FakeClock()
    pacer = ChatPacer(1.0, clock=clock, sleep=clock.sleep)  # 30 messages/s over all chats
    for chat in range(31):
        pacer.wait(str(chat))
    # evenly spaced: 31 messages to 31 chats take a second, never more than 30 in one
    assert clock.sleeps == [pytest.approx(1 / 30)] * 30 and clock.now == pytest.approx(1.0)


def test_telegrams_flood_control_is_never_hit(journal) -> None:
    """Real time: the fake refuses (429) a message to a chat sooner than 1 s per message
    after the previous one, an album of N counting N."""
    with FakeTelegram(chat_interval=1.0) as fake, TelegramChannel(
            "123:abc", [CHAT], base_url=fake.base_url, timeout=5) as channel:
        queue_close(journal, ["a_setup", "b_setup"])
        queue_close(journal, ["c_setup"], minute=15)
        assert deliver_pending(journal, channel, render).sent == 3
        assert fake.flooded == 0
        album, buttons, single = (fake.sent("sendMediaGroup")[0], fake.sent("sendMessage")[0],
                                  fake.sent("sendPhoto")[0])
        assert buttons.at - album.at >= 1.95 and single.at - buttons.at >= 0.95


def test_a_refused_album_goes_photo_by_photo(fake, channel, journal) -> None:
    ids = queue_close(journal, ["a_setup", "b_setup", "c_setup"])
    fake.fail_next("400", method="sendMediaGroup")
    fake.fail_next("400", method="sendPhoto")  # the best one's caption is the bad one
    report = deliver_pending(journal, channel, render)
    assert (report.sent, report.failed) == (2, 1)
    assert fake.attempts.count("sendMediaGroup") == 1  # the album was tried first
    assert [signal_of(p.caption) for p in fake.sent("sendPhoto")] == ids[1:]
    assert journal.deliveries(ids[0])["telegram"]["state"] == "failed"


def test_buttons_that_fail_are_sent_later_without_the_album(fake, channel, journal) -> None:
    ids = queue_close(journal, ["a_setup", "b_setup"])
    fake.fail_next("500", 5, method="sendMessage")  # more than the channel's 4 retries
    report = deliver_pending(journal, channel, render)
    assert report.sent == 0 and report.waiting == 2 and "unreachable" in report.error
    assert len(fake.sent("sendMediaGroup")) == 1
    assert deliver_pending(journal, channel, render).sent == 2
    assert len(fake.sent("sendMediaGroup")) == 1 and len(fake.sent("sendMessage")) == 1
    assert {journal.deliveries(i)["telegram"]["state"] for i in ids} == {"sent"}


def test_an_outage_queues_albums_and_delivers_each_close_in_order(
        fake, channel, journal, clock: FakeClock) -> None:
    fake.outage = lambda method: clock.now < 600
    first = queue_close(journal, ["a_setup", "b_setup"])
    assert deliver_pending(journal, channel, render).waiting == 2
    clock.sleep(600)
    second = queue_close(journal, ["c_setup", "d_setup"], minute=15)
    assert deliver_pending(journal, channel, render).sent == 4
    albums = fake.sent("sendMediaGroup")
    assert [[signal_of(p.caption) for p in a.items] for a in albums] == [first, second]


def test_the_comment_is_edited_into_the_album_photo(fake, journal) -> None:
    ids = queue_close(journal, ["a_setup", "b_setup"])
    rank = Rank(score=0.2, strengths=(), weaknesses=(), warnings=(), trades=0, size=None,
                risk_money=None)
    with FakeOpenAI(reply="Clean sweep in London.") as llm, Commenter(
            model="m", base_url=llm.base_url, api_key="k") as commenter, TelegramChannel(
            "123:abc", [CHAT], base_url=fake.base_url, timeout=2,
            pacer=ChatPacer(0.0)) as channel:
        wrapped = CommentingChannel(channel, commenter, journal,
                                    lambda sid: CommentFacts(journal.get(sid), rank))
        assert deliver_pending(journal, wrapped, render).sent == 2
        fake.wait_for(lambda: len(fake.sent("editMessageCaption")) == 2, timeout=15)
    [album] = fake.sent("sendMediaGroup")
    edits = {e.fields["message_id"]: e for e in fake.sent("editMessageCaption")}
    for signal_id, photo in zip(ids, album.items, strict=True):
        edit = edits[str(photo.message_id)]  # each photo's own caption, its comment added
        assert edit.caption == f"<b>{html.escape(signal_id)}</b>\n💬 Clean sweep in London."
        assert "reply_markup" not in edit.fields  # an album photo carries no buttons
        assert journal.get(signal_id).comment == "Clean sweep in London."


def test_close_order_puts_the_older_close_first(journal) -> None:
    from engine.notify.delivery import in_close_order

    later = make_signal(15, setup_id="later")
    earlier = make_signal(10, setup_id="earlier", timeframe="5m")  # closes 09:15, before 09:30
    journal.record(later, score=0.9, channels=["telegram"])
    journal.record(earlier, score=0.1, channels=["telegram"])
    order = [i.signal_id for i in in_close_order(journal.pending("telegram"))]
    assert order == [earlier.signal_id, later.signal_id]
    assert pd.Timestamp(earlier.known_at) < pd.Timestamp(later.known_at)
