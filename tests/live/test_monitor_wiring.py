"""The live monitor wired to the LLM comment and to MT5: the real openai client against the fake
OpenAI endpoint, the real python-telegram-bot client against the fake Bot API, the real ccxt
client against the fake Binance, and the MT5 terminal feed on a stand-in `MetaTrader5` module
(the package exists only for Windows)."""

from __future__ import annotations

import logging
import sys
import time

import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.live.comment import COMMENT_MARK
from engine.live.evaluate import LiveEvaluator
from engine.live.journal import SignalJournal, journal_path
from engine.live.monitor import LiveMonitor
from engine.live.mt5_terminal import Mt5TerminalFeed
from engine.live.state import read_live_state
from engine.notify.telegram import ChatPacer, TelegramChannel
from engine.settings import Settings
from engine.setups import compile_setup, parse_setup
from engine.setups.store import SetupStore
from tests.fakes.openai_api import FakeOpenAI
from tests.live._replay import CHAT
from tests.live.conftest import START
from tests.live.test_monitor import SMA, _sent_ids
from tests.live.test_mt5_terminal import FakeTerminal

REPLY = "A clean cross after a quiet stretch; the history is thin."
LAST = START + 60  # the demo candles cross several times between START and LAST


@pytest.fixture()
def home(ita_home, bars):
    """One setup on BTC/USDT (one alert per crossing bar), the bars before START stored."""
    SetupStore(ita_home / "setups").save(SMA.format(id="sma-a", fast=3, slow=8))
    CandleStore(ita_home / "data" / "candles").upsert(
        bars.iloc[:START], source="binance", symbol="BTC/USDT", timeframe="1m")
    return ita_home


@pytest.fixture()
def llm():
    with FakeOpenAI(reply=REPLY) as fake:
        yield fake


def _channel(telegram) -> TelegramChannel:
    return TelegramChannel("123:abc", [CHAT], base_url=telegram.base_url, timeout=3,
                           pacer=ChatPacer(0.0))


def _monitor(home, clock, telegram, *, market=None, llm=None, **settings) -> LiveMonitor:
    if llm is not None:
        settings = {"llm_base_url": llm.base_url, "llm_model": "fake-model", **settings}
    config = Settings(home=home, live_exchange="binance", telegram_chat_id=CHAT, **settings)
    exchange = market.client() if market is not None else None
    return LiveMonitor(config, clock=clock, exchange=exchange, telegram=_channel(telegram),
                       evaluator=LiveEvaluator(home), updates=False)


def _until_first_alert(monitor, bars, clock, telegram) -> float:
    """Run bar by bar from START until an alert is sent; the seconds that iteration took."""
    for i in range(START, LAST + 1):
        clock.now = bars.index[i] + pd.Timedelta(seconds=1.6)
        started = time.monotonic()
        monitor.run_once()
        if telegram.photos():
            return time.monotonic() - started
    raise AssertionError("no alert between START and LAST")


def test_a_sent_alert_gets_the_llm_comment_edited_into_its_caption(
        home, bars, clock, market, telegram, llm) -> None:
    monitor = _monitor(home, clock, telegram, market=market, llm=llm, llm_comment=True)
    try:
        for i in range(START, LAST + 1):
            clock.now = bars.index[i] + pd.Timedelta(seconds=1.6)
            monitor.run_once()
        telegram.wait_for(lambda: len(telegram.sent("editMessageCaption"))
                          >= len(telegram.photos()))
    finally:
        monitor.close()
    photos = telegram.photos()
    edits = telegram.sent("editMessageCaption")
    assert len(photos) >= 2
    assert len(edits) == len(photos) == len(llm.requests)
    by_message = {edit.fields["message_id"]: edit for edit in edits}
    for photo in photos:
        edit = by_message[str(photo.message_id)]
        assert edit.caption == f"{photo.caption}\n{COMMENT_MARK}{REPLY}"
        assert edit.at > photo.at  # sent first, commented later
        assert edit.reply_markup == photo.reply_markup  # the decision buttons kept
    assert all(request.at >= photos[0].at for request in llm.requests)
    prompt = llm.requests[0].messages[1]["content"]
    assert "SMA 3/8 (sma-a v1)" in prompt and "BTC/USDT on the 1m chart" in prompt
    with SignalJournal(journal_path(home)) as journal:
        assert {s.comment for s in journal.recent(100)} == {REPLY}


def test_a_slow_llm_does_not_delay_the_alert(home, bars, clock, market, telegram) -> None:
    with FakeOpenAI(reply=REPLY, delay=3.0) as slow:
        monitor = _monitor(home, clock, telegram, market=market, llm=slow, llm_comment=True,
                           llm_timeout_seconds=10)
        try:
            took = _until_first_alert(monitor, bars, clock, telegram)
            assert not telegram.sent("editMessageCaption")  # the model is still thinking
        finally:
            monitor.close()
        assert took < 2.5, f"the alert waited for the LLM ({took:.1f} s)"
        photo, = telegram.photos()
        edit, = telegram.sent("editMessageCaption")  # the slow comment still arrived
        assert edit.caption.endswith(REPLY) and edit.at - photo.at >= 2.5


def test_shutdown_waits_for_the_comment_under_way_not_for_a_backlog(
        home, bars, clock, market, telegram) -> None:
    with FakeOpenAI(reply=REPLY, delay=1.5) as slow:
        monitor = _monitor(home, clock, telegram, market=market, llm=slow, llm_comment=True,
                           llm_timeout_seconds=10)
        try:
            for i in range(START, LAST + 1):
                clock.now = bars.index[i] + pd.Timedelta(seconds=1.6)
                monitor.run_once()
        finally:
            started = time.monotonic()
            monitor.close()
            took = time.monotonic() - started
        sent = len(telegram.photos())
        assert sent >= 4  # one comment under way, the others queued behind it
        # the one under way takes at most 1.5 s; waiting for the queued ones too would take
        # at least 3 x 1.5 s more: 3.5 s tells them apart with room for a loaded machine
        assert took < 3.5, f"the shutdown waited for {sent} comments ({took:.1f} s)"
        assert 1 <= len(telegram.sent("editMessageCaption")) < sent


def test_a_failing_llm_leaves_the_alert_as_sent(home, bars, clock, market, telegram, llm,
                                                caplog) -> None:
    llm.fail_next(500, count=100)
    monitor = _monitor(home, clock, telegram, market=market, llm=llm, llm_comment=True,
                       openai_api_key="sk-secret-key")
    with caplog.at_level(logging.WARNING, logger="ita.live.comment"):
        try:
            _until_first_alert(monitor, bars, clock, telegram)
        finally:
            monitor.close()
    assert llm.requests and len(telegram.photos()) == 1
    assert not telegram.sent("editMessageCaption")
    assert "LLM comment" in caplog.text and "sk-secret-key" not in caplog.text
    with SignalJournal(journal_path(home)) as journal:
        assert {s.comment for s in journal.recent(100)} == {None}


def test_with_llm_comment_off_no_request_reaches_the_llm(home, bars, clock, market, telegram,
                                                         llm) -> None:
    monitor = _monitor(home, clock, telegram, market=market, llm=llm)  # llm_comment: default
    try:
        _until_first_alert(monitor, bars, clock, telegram)
    finally:
        monitor.close()
    assert telegram.photos() and not telegram.sent("editMessageCaption")
    assert llm.requests == []


# --- MT5 ---------------------------------------------------------------------------------------

ATHENS = "Europe/Athens"


@pytest.fixture()
def mt5_home(ita_home, bars):
    """One setup on EURUSD (an MT5 symbol: no slash), its bars before START stored."""
    SetupStore(ita_home / "setups").save(
        SMA.format(id="fx", fast=3, slow=8).replace("BTC/USDT", "EURUSD"))
    CandleStore(ita_home / "data" / "candles").upsert(
        bars.iloc[:START], source="mt5", symbol="EURUSD", timeframe="1m")
    return ita_home


def test_mt5_symbols_alert_from_the_terminal_where_metatrader5_imports(
        mt5_home, bars, clock, telegram, monkeypatch) -> None:
    terminal = FakeTerminal(bars, zone=ATHENS)
    monkeypatch.setitem(sys.modules, "MetaTrader5", terminal)
    monitor = _monitor(mt5_home, clock, telegram, mt5_server_tz=ATHENS)
    slept: list[float] = []
    monitor._sleep = slept.append
    try:
        for i in range(START, LAST + 1):
            clock.now = terminal.now = bars.index[i] + pd.Timedelta(seconds=1.6)
            monitor.run_once()
        monitor.wait_for_next()  # the terminal is polled on its closes, not woken by files
        feed, = monitor.feeds
        assert isinstance(feed, Mt5TerminalFeed)
        health, = monitor.health()
        assert health.error is None and health.last_bar == bars.index[LAST - 1]
    finally:
        monitor.close()
    assert slept and ("shutdown",) in terminal.calls
    frame = compile_setup(parse_setup(SMA.format(id="fx", fast=3, slow=8).replace(
        "BTC/USDT", "EURUSD")), version=1)(bars.iloc[:LAST], symbol="EURUSD")
    frame = frame[frame["known_at"] >= bars.index[START - 1]]
    expected = [f"fx@v1|mt5:EURUSD|1m|{t:%Y-%m-%dT%H:%MZ}|{'long' if d > 0 else 'short'}"
                for t, d in zip(frame["known_at"], frame["direction"], strict=True)]
    assert len(expected) >= 2
    assert _sent_ids(mt5_home, telegram) == expected


@pytest.mark.parametrize(("settings", "names"), [
    ({}, "ITA_MT5_FOLDER"),
    ({"mt5_folder": "mt5-bars"}, "ITA_MT5_SERVER_TZ"),
])
def test_an_mt5_symbol_that_cannot_be_watched_says_why(mt5_home, clock, telegram, monkeypatch,
                                                       settings, names) -> None:
    monkeypatch.setitem(sys.modules, "MetaTrader5", None)  # not Windows: the import fails
    if "mt5_folder" in settings:
        settings = {"mt5_folder": mt5_home / settings["mt5_folder"]}
    monitor = _monitor(mt5_home, clock, telegram, **settings)
    try:
        monitor.run_once()
    finally:
        monitor.close()
    feed, = read_live_state(mt5_home).feeds
    assert (feed.source, feed.symbol, feed.timeframe) == ("mt5", "EURUSD", "1m")
    assert feed.error.startswith("not watched") and names in feed.error
    assert not feed.healthy
