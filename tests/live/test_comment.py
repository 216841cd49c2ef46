"""The LLM comment: the real `openai` client against a local fake endpoint, the real
python-telegram-bot client against the fake Bot API. The alert is never delayed, failures are
one log line without the key, the prompt holds only the alert's facts."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.live.alert import CAPTION_LIMIT, telegram_length
from engine.live.comment import (
    Commenter,
    CommentFacts,
    CommentingChannel,
    build_prompt,
    clean_comment,
    with_comment,
)
from engine.live.journal import SignalJournal
from engine.live.rank import Rank
from engine.notify.delivery import deliver_pending
from engine.notify.telegram import ChatPacer, TelegramChannel
from engine.settings import Settings
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.telegram_api import FakeTelegram
from tests.live._signals import make_signal

KEY = "sk-test-7f3a9c"
CHAT = 4242
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
REASONS = json.dumps([
    {"condition": "asia_low_sweep", "kind": "sweep", "top": 99.5, "at": "2024-03-04T08:45Z"},
    {"condition": "bull_fvg", "kind": "fvg", "top": 100.4, "bottom": 100.1,
     "at": "2024-03-04T08:55Z"},
])
SETUP = SimpleNamespace(name="London sweep into FVG",
                        description="Asia's low swept in London,\n then a bullish gap.")
RANK = Rank(score=0.31, strengths=("London session: +0.42 R over 61 trades, 48% won",),
            weaknesses=("Short side: -0.10 R over 12 trades, 33% won",),
            warnings=("stop within 3x costs",), trades=80, size=50.0, risk_money=50.0)


def _signal(minute: int = 0):
    return make_signal(minute, reasons=REASONS)


def _commenter(server: FakeOpenAI, **kwargs) -> Commenter:
    return Commenter(model="llama3.1", base_url=server.base_url, api_key=KEY, **kwargs)


@pytest.fixture()
def llm():
    with FakeOpenAI(reply="A clean sweep with 61 trades behind it. Check the stop.") as server:
        yield server


@pytest.fixture()
def channel(telegram: FakeTelegram):
    with TelegramChannel("123:abc", [CHAT], base_url=telegram.base_url, timeout=2,
                         pacer=ChatPacer(0.0)) as ch:
        yield ch


@pytest.fixture()
def journal(tmp_path: Path):
    with SignalJournal(tmp_path / ".ita" / "live.sqlite") as j:
        yield j


# --- the prompt -------------------------------------------------------------------------------


def test_prompt_holds_the_alerts_facts_and_nothing_else() -> None:
    system, user = build_prompt(_signal(), RANK, setup=SETUP)
    assert system["role"] == "system" and "two short sentences" in system["content"]
    assert "never invent a number" in system["content"]
    assert user == {"role": "user", "content": "\n".join([
        "Alert facts:",
        "- Setup: London sweep into FVG (fvg_retest v3)",
        "- Setup idea: Asia's low swept in London, then a bullish gap.",
        "- Signal: long BTC/USDT on the 15m chart, bar 2024-03-04 09:00-09:15 UTC",
        "- Plan: market entry 100.00, stop 99.00, target 102.00, planned 2.00 R",
        "- Why it fired: asia_low_sweep (sweep at 99.50); bull_fvg (fvg 100.10-100.40)",
        "- Score: +0.31 R per trade (from 80 backtest trades)",
        "- Strength: London session: +0.42 R over 61 trades, 48% won",
        "- Weakness: Short side: -0.10 R over 12 trades, 33% won",
        "- Warning: stop within 3x costs"])}


def test_prompt_adds_knowledge_base_passages_only_when_given() -> None:
    no_history = Rank(score=0.0)
    _, bare = build_prompt(_signal(), no_history)
    assert "knowledge base" not in bare["content"]
    assert "- Score: +0.00 R per trade (no backtest history yet)" in bare["content"]
    assert "- Setup: fvg_retest (fvg_retest v3)" in bare["content"]
    _, user = build_prompt(_signal(), no_history, context=["Sweeps  fail\nin chop.", " "],
                           language="Deutsch")
    assert user["content"].endswith("From the trader's knowledge base:\n- Sweeps fail in chop.")
    assert "Deutsch" in build_prompt(_signal(), RANK, language="Deutsch")[0]["content"]


# --- the answer -------------------------------------------------------------------------------


def test_reply_is_cleaned_to_two_sentences_and_invented_numbers_drop_it() -> None:
    facts = build_prompt(_signal(), RANK, setup=SETUP)[1]["content"]
    assert clean_comment("<think>the user wants 7 things</think> **Strong** London edge. "
                         "Stop is tight! Third sentence.", facts) == (
        "Strong London edge. Stop is tight!")
    assert clean_comment("About 0.4 R per trade over 80 trades.", facts) is not None  # rounded
    assert clean_comment("Target 27,500 is likely.", facts) is None  # not in the facts
    assert clean_comment("   ", facts) is None and clean_comment(None, facts) is None


def test_comment_line_fits_telegrams_limit() -> None:
    assert with_comment("<b>A</b>", "x < y") == "<b>A</b>\n💬 x &lt; y"
    long_caption = "c" * 950
    edited = with_comment(long_caption, "word " * 40)
    assert telegram_length(edited) <= CAPTION_LIMIT and edited.endswith("…")
    assert edited.startswith(long_caption + "\n💬 word")
    assert with_comment("c" * 1015, "a comment that cannot fit") == "c" * 1015


# --- the real client --------------------------------------------------------------------------


def test_comment_through_the_real_client(llm: FakeOpenAI) -> None:
    with _commenter(llm) as commenter:
        text = commenter.comment(_signal(), RANK, setup=SETUP)
    assert text == "A clean sweep with 61 trades behind it. Check the stop."
    [request] = llm.requests
    assert request.authorization == f"Bearer {KEY}" and request.body["model"] == "llama3.1"
    assert request.messages == build_prompt(_signal(), RANK, setup=SETUP)


def test_local_server_needs_no_key(llm: FakeOpenAI) -> None:
    with Commenter(model="m", base_url=llm.base_url) as commenter:
        assert commenter.comment(_signal(), RANK) is not None


@pytest.mark.parametrize("status", [401, 500])
def test_errors_are_one_log_line_without_the_key(llm: FakeOpenAI, status: int,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    llm.fail_next(status)  # its error message quotes the key
    with caplog.at_level(logging.INFO, logger="ita.live.comment"), _commenter(llm) as commenter:
        assert commenter.comment(_signal(), RANK) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING and str(status) in record.getMessage()
    assert KEY not in caplog.text and "***" in record.getMessage()


def test_a_slow_model_times_out_into_no_comment(caplog: pytest.LogCaptureFixture) -> None:
    with FakeOpenAI(delay=3.0) as slow, caplog.at_level(logging.INFO, "ita.live.comment"), \
            _commenter(slow, timeout=0.3) as commenter:
        started = time.monotonic()
        assert commenter.comment(_signal(), RANK) is None
        assert time.monotonic() - started < 2.0
    assert "Timeout" in caplog.text and KEY not in caplog.text


# --- send first, comment later ----------------------------------------------------------------


def test_slow_model_never_delays_the_alert_then_the_comment_is_edited_in(
        telegram: FakeTelegram, channel: TelegramChannel, journal: SignalJournal) -> None:
    signal = _signal()
    journal.record(signal, channels=["telegram"])
    caption = "<b>FVG_RETEST v3</b> · BTC/USDT 15m · <b>LONG</b>"
    with FakeOpenAI(reply="Clean sweep in London.", delay=1.5) as slow, \
            _commenter(slow) as commenter:
        wrapped = CommentingChannel(channel, commenter, journal,
                                    lambda sid: CommentFacts(signal, RANK, SETUP))
        started = time.monotonic()
        report = deliver_pending(journal, wrapped, lambda item: (PNG, caption))
        sent_after = time.monotonic() - started
        assert report.sent == 1 and len(telegram.sent("sendPhoto")) == 1
        assert sent_after < 1.0 and telegram.sent("editMessageCaption") == []
        telegram.wait_for(lambda: telegram.sent("editMessageCaption"), timeout=10)
        answered = slow.requests[0].at + slow.delay
    assert answered > started + sent_after  # the alert was out before the model answered
    [photo] = telegram.sent("sendPhoto")
    [edit] = telegram.sent("editMessageCaption")
    assert edit.fields["message_id"] == str(photo.message_id)
    assert edit.caption == caption + "\n💬 Clean sweep in London."
    assert [b["text"] for b in edit.reply_markup["inline_keyboard"][0]] == [
        "Taken", "Skipped", "Missed"]  # the decision buttons stay
    assert journal.get(signal.signal_id).comment == "Clean sweep in London."


def test_failed_comment_leaves_the_alert_as_sent(llm: FakeOpenAI, telegram: FakeTelegram,
                                                 channel: TelegramChannel,
                                                 journal: SignalJournal) -> None:
    signal = _signal()
    journal.record(signal, channels=["telegram"])
    assert deliver_pending(journal, channel, lambda item: (PNG, "cap")).sent == 1
    llm.fail_next(500)
    with _commenter(llm) as commenter:
        future = commenter.comment_later(channel, journal, signal, RANK, "cap")
        assert future.result(timeout=10) is None
    assert telegram.sent("editMessageCaption") == []
    assert journal.get(signal.signal_id).comment is None


def test_comment_later_edits_the_messages_the_journal_recorded(
        llm: FakeOpenAI, telegram: FakeTelegram, channel: TelegramChannel,
        journal: SignalJournal) -> None:
    signal = _signal()
    journal.record(signal, channels=["telegram"])
    deliver_pending(journal, channel, lambda item: (PNG, "cap"))
    with _commenter(llm) as commenter:
        text = commenter.comment_later(channel, journal, signal, RANK, "cap").result(timeout=10)
    [edit] = telegram.sent("editMessageCaption")
    assert edit.caption == f"cap\n💬 {text}"


def test_telegram_refusing_the_edit_is_one_log_line(llm: FakeOpenAI, telegram: FakeTelegram,
                                                    channel: TelegramChannel,
                                                    journal: SignalJournal,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    signal = _signal()
    journal.record(signal, channels=["telegram"])
    deliver_pending(journal, channel, lambda item: (PNG, "cap"))
    telegram.fail_next("400", method="editMessageCaption")
    with caplog.at_level(logging.WARNING, "ita.live.comment"), _commenter(llm) as commenter:
        assert commenter.comment_later(channel, journal, signal, RANK, "cap").result(
            timeout=10) is None
    assert "not edited in" in caplog.text
    assert journal.get(signal.signal_id).comment is not None  # recorded all the same


# --- settings and journal ---------------------------------------------------------------------


def test_comment_is_off_by_default_and_needs_a_model(llm: FakeOpenAI) -> None:
    assert Commenter.from_settings(Settings(_env_file=None)) is None
    assert Commenter.from_settings(Settings(_env_file=None, llm_comment=True,
                                            llm_model=" ")) is None
    on = Settings(_env_file=None, llm_comment=True, llm_model="m", llm_base_url=llm.base_url,
                  openai_api_key=KEY, llm_timeout_seconds=5)
    with Commenter.from_settings(on) as commenter:
        assert commenter.model == "m" and commenter.timeout == 5.0
        assert commenter.comment(_signal(), RANK) is not None
    assert llm.requests[0].authorization == f"Bearer {KEY}"


def test_an_older_journal_gains_the_comment_column(tmp_path: Path) -> None:
    path = tmp_path / "live.sqlite"
    signal = _signal()
    with SignalJournal(path) as journal:
        journal.record(signal)
    with sqlite3.connect(path) as db:  # as a journal written before the column existed
        db.execute("ALTER TABLE signals DROP COLUMN comment")
    with SignalJournal(path) as journal:
        assert journal.get(signal.signal_id).comment is None
        journal.set_comment(signal.signal_id, "Clean sweep.")
        assert journal.get(signal.signal_id).comment == "Clean sweep."
        assert journal.frame()["comment"].tolist() == ["Clean sweep."]
    with SignalJournal(path) as journal:  # opening again adds nothing twice
        assert journal.recent(1)[0].comment == "Clean sweep."
