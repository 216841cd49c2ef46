"""The live monitor end to end: the real ccxt client against the fake Binance (its clock
advancing bar by bar), the real python-telegram-bot client against the fake Bot API, the real
journal, ranking and PNGs."""

from __future__ import annotations

import json
import threading
import time

import pandas as pd
import pytest

from engine.backtest.run import run_backtest
from engine.candles import resample
from engine.errors import ConfigurationError
from engine.live.feeds import FeedKey
from engine.live.journal import SignalJournal, journal_path
from engine.live.monitor import alert_png_path
from engine.live.state import read_live_state, set_setup_paused, state_path
from engine.setups import compile_setup
from engine.setups.store import SetupStore
from tests.live._replay import CHAT, replay, replay_closed, replay_monitor, seed_home
from tests.live.conftest import START

KEY = FeedKey("binance", "BTC/USDT", "1m")
SMA = """schema_version: 1
id: {id}
name: SMA {fast}/{slow}
market: {{symbols: [BTC/USDT], timeframe: 1m}}
conditions:
  cross: {{detector: ma_cross, kind: sma, fast: {fast}, slow: {slow}}}
signal: cross
direction: both
plan:
  entry: {{type: market}}
  stop: {{percent: 1.0}}
  target: {{percent: 2.0}}
costs: {{fee_bps: 0.0, slippage_bps: 0.0}}
"""




@pytest.fixture()
def home(ita_home, bars):
    """Two setups with the same rule (they fire on the same bars): sma-b has a backtest
    (a history, a score), sma-a none. Bars before START are stored, as after a first run."""
    seed_home(ita_home, bars, SMA.format(id="sma-a", fast=3, slow=8),
              SMA.format(id="sma-b", fast=3, slow=8))
    run_backtest("sma-b", symbol="BTC/USDT")
    return ita_home


def _expected(bars, first: int, last: int, setup_id: str = "sma-a") -> list[str]:
    """The signal ids the backtest's compiler finds on the bars closed from `first` to
    `last` (known_at = the bar before each close)."""
    text = SMA.format(id=setup_id, fast=3, slow=8)
    from engine.setups import parse_setup

    frame = compile_setup(parse_setup(text), version=1)(bars.iloc[:last], symbol="BTC/USDT")
    frame = frame[frame["known_at"] >= bars.index[first - 1]]
    return [f"{setup_id}@v1|binance:BTC/USDT|1m|{t:%Y-%m-%dT%H:%MZ}|"
            f"{'long' if d > 0 else 'short'}"
            for t, d in zip(frame["known_at"], frame["direction"], strict=True)]


def _sent_ids(home, telegram) -> list[str]:
    """The signal of each photo the chat got (single or in an album), in order."""
    with SignalJournal(journal_path(home)) as journal:
        return [journal.signal_for_message(CHAT, photo.message_id)
                for photo in telegram.photos()]


def test_each_signal_is_sent_once_with_its_chart_best_first_within_a_bar(
        home, bars, clock, market, telegram) -> None:
    replay_closed(home, market, telegram, clock, bars, START, START + 120)
    expected_a = _expected(bars, START, START + 120)
    assert len(expected_a) >= 3  # the run really crosses several signals
    sent = _sent_ids(home, telegram)
    assert len(sent) == len(set(sent))  # never twice
    assert sorted(sent) == sorted(expected_a + [s.replace("sma-a", "sma-b") for s in
                                                expected_a])
    photos = telegram.photos()
    assert all(p.files.get("photo", b"")[:8] == b"\x89PNG\r\n\x1a\n" for p in photos)
    assert all(alert_png_path(home, s).exists() for s in sent)
    with SignalJournal(journal_path(home)) as journal:
        rows = {s.signal_id: s for s in journal.recent(1000)}
    assert {rows[s].score != 0 for s in sent if s.startswith("sma-b")} == {True}
    for a in range(0, len(sent), 2):  # the two setups fire on the same bar: best first
        first, second = rows[sent[a]], rows[sent[a + 1]]
        assert first.known_at == second.known_at
        assert first.score >= second.score
    assert not any(rows[s].late for s in sent)


@pytest.mark.usefixtures("quick_charts")
def test_a_restarted_monitor_sends_nothing_again(home, bars, clock, market, telegram) -> None:
    monitor = replay_monitor(home, market, telegram, clock)
    replay(monitor, bars, clock, START, START + 60)
    monitor.close()
    before = len(telegram.photos())
    assert before >= 2
    again = replay_monitor(home, market, telegram, clock)  # same home, same bar: nothing new
    try:
        again.run_once()
        assert len(telegram.photos()) == before
        replay(again, bars, clock, START + 61, START + 120)  # and goes on from there
    finally:
        again.close()
    sent = _sent_ids(home, telegram)
    assert len(sent) == len(set(sent))
    assert sorted(sent) == sorted(_expected(bars, START, START + 120) + _expected(
        bars, START, START + 120, "sma-b"))


@pytest.mark.usefixtures("quick_charts")
def test_activating_a_new_version_takes_effect_on_the_next_bar(
        home, bars, clock, market, telegram) -> None:
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, START + 40)
        SetupStore(home / "setups").save(SMA.format(id="sma-a", fast=2, slow=5))  # v2, active
        switched = bars.index[START + 40]
        replay(monitor, bars, clock, START + 41, START + 120)
    finally:
        monitor.close()
    with SignalJournal(journal_path(home)) as journal:
        rows = [s for s in journal.recent(1000) if s.setup_id == "sma-a"]
    assert {s.setup_version for s in rows if s.known_at >= switched} == {2}
    assert {s.setup_version for s in rows if s.known_at < switched - pd.Timedelta("1min")} \
        == {1}


@pytest.mark.usefixtures("quick_charts")
@pytest.mark.parametrize("policy", ["send", "record"])
def test_a_gap_is_caught_up_in_order_and_old_bars_are_late(
        home, bars, clock, market, telegram, policy, caplog) -> None:
    monitor = replay_monitor(home, market, telegram, clock, late_policy=policy, late_after_bars=2)
    try:
        replay(monitor, bars, clock, START, START + 2)
        clock.now = bars.index[START + 150] + pd.Timedelta(seconds=1.6)  # back after 2.5 h
        monitor.run_once()
    finally:
        monitor.close()
    # every caught-up bar was decided on its full lookback, as in a backtest
    assert not [r.message for r in caplog.records if "needed" in r.getMessage()]
    expected = _expected(bars, START, START + 150)
    with SignalJournal(journal_path(home)) as journal:
        rows = {s.signal_id: s for s in journal.recent(1000)}
    assert sorted(s for s in rows if s.startswith("sma-a")) == sorted(expected)
    late = {s for s, row in rows.items() if row.late}
    old = clock.now - pd.Timedelta(minutes=2)  # its bar closed 2 bars ago or more
    caught_up = bars.index[START + 2]  # the first bar closed while the monitor was away
    assert late == {s for s, row in rows.items()
                    if caught_up <= row.known_at and row.known_at + pd.Timedelta("1min") <= old}
    assert late, "the gap holds signals"
    sent = _sent_ids(home, telegram)
    if policy == "record":
        assert not set(sent) & late
    else:
        assert late <= set(sent)
        assert all("LATE" in p.caption for p, s in zip(telegram.photos(), sent, strict=True)
                   if s in late)
    times = [rows[s].known_at for s in sent]
    assert times == sorted(times)  # in the order of their bars


@pytest.mark.usefixtures("quick_charts")
def test_a_silent_feed_is_told_once_and_its_return_once(home, bars, clock, market,
                                                         telegram) -> None:
    frozen = {"until": None}

    def freeze(symbol, interval, rows):
        cut = frozen["until"]
        return rows if cut is None else [r for r in rows if r[0] < cut]

    market.mutate = freeze
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, START + 2)
        frozen["until"] = int(bars.index[START + 3].value // 1_000_000)
        for seconds in range(0, 600, 20):  # ten minutes without a bar
            clock.now = bars.index[START + 3] + pd.Timedelta(seconds=seconds + 1.6)
            monitor.run_once()
        frozen["until"] = None
        replay(monitor, bars, clock, START + 13, START + 15)
        texts = [m.text for m in telegram.sent("sendMessage") if m.reply_markup is None]
        assert [t.split(" ")[0] for t in texts] == ["⚠️", "✅"]
        assert "binance:BTC/USDT 1m is silent" in texts[0] and "is back" in texts[1]
        state = json.loads(state_path(home).read_text())
        assert state["feeds"][0]["silent"] is False
    finally:
        monitor.close()


@pytest.mark.usefixtures("quick_charts")
def test_a_paused_setup_sends_nothing(home, bars, clock, market, telegram) -> None:
    with SignalJournal(journal_path(home)) as journal:
        set_setup_paused(journal, "sma-a", True)  # as the Live page does
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, START + 60)
        state = monitor.state()
    finally:
        monitor.close()
    sent = _sent_ids(home, telegram)
    assert sent and all(s.startswith("sma-b") for s in sent)
    assert {s["setup_id"]: s["paused"] for s in state["setups"]} == {"sma-a": True,
                                                                     "sma-b": False}


def test_the_loop_holds_the_lock_answers_commands_and_stops_cleanly(
        home, bars, clock, market, telegram) -> None:
    monitor = replay_monitor(home, market, telegram, clock)
    monitor._want_updates = True
    thread = threading.Thread(target=monitor.run)
    thread.start()
    try:
        telegram.wait_for(lambda: state_path(home).exists())
        second = replay_monitor(home, market, telegram, clock)
        with pytest.raises(ConfigurationError, match="already runs"):
            second.acquire_lock()
        second.close()
        telegram.queue_command(int(CHAT), "/status")
        telegram.wait_for(lambda: any("binance:BTC/USDT 1m" in (m.text or "")
                                      for m in telegram.requests), timeout=15)
        telegram.queue_command(int(CHAT), "/setups")
        telegram.wait_for(lambda: any("sma-b v1: BTC/USDT 1m" in (m.text or "")
                                      for m in telegram.requests), timeout=15)
        state = read_live_state(home)  # what the writer wrote, as the pages read it
        assert state.running and state.mode == "live" and state.telegram == "ok"
        assert [(f.source, f.symbol, f.timeframe) for f in state.feeds] == [
            ("binance", "BTC/USDT", "1m")]
        assert {(s.setup_id, s.version, s.symbols) for s in state.setups} == {
            ("sma-a", 1, ("BTC/USDT",)), ("sma-b", 1, ("BTC/USDT",))}
    finally:
        monitor.stop()
        thread.join(timeout=20)
    assert not thread.is_alive()
    third = replay_monitor(home, market, telegram, clock)  # the lock was released
    third.acquire_lock()
    third.close()


def test_the_alerts_of_a_close_leave_together_once_drawn(home, bars, clock, market, telegram,
                                                         monkeypatch) -> None:
    """The alerts of one close reach the chat as one album, best first, as soon as the last
    of their pictures is drawn (the buttons after it), not one photo a second."""
    from engine.live import monitor as monitor_module

    drawn: dict[str, float] = {}
    real = monitor_module.render_png

    def slow_render(candles, signal, **options):
        png = real(candles, signal, **options)
        time.sleep(0.3)
        drawn[signal.signal_id] = time.monotonic()
        return png

    monkeypatch.setattr(monitor_module, "render_png", slow_render)
    replay_closed(home, market, telegram, clock, bars, START, START + 40)
    albums = telegram.sent("sendMediaGroup")
    assert len(albums) >= 2 and telegram.sent("sendPhoto") == []
    with SignalJournal(journal_path(home)) as journal:
        for album in albums:  # sma-a and sma-b fire on the same bars
            ids = [journal.signal_for_message(CHAT, p.message_id) for p in album.items]
            scores = [journal.get(i).score for i in ids]
            assert sorted(i.split("@")[0] for i in ids) == ["sma-a", "sma-b"]
            assert scores == sorted(scores, reverse=True)  # best first
            last = max(drawn[i] for i in ids)
            # sent at once after the last picture (a loaded machine adds tenths of a second;
            # paced one photo a second, the second photo alone would come 1 s after the first)
            assert last <= album.at < last + 0.6, "the album waited for something else"
    assert len(telegram.sent("sendMessage")) == len(albums)  # one message of buttons each


@pytest.mark.usefixtures("quick_charts")
def test_a_1m_close_does_not_fetch_the_5m_series(home, bars, clock, market, telegram) -> None:
    SetupStore(home / "setups").save(SMA.format(id="sma-5m", fast=3, slow=8).replace(
        "timeframe: 1m", "timeframe: 5m"))
    market.series[("BTCUSDT", "5m")] = resample(bars, "5m")
    market.series[("BTCUSDT", "1m")] = bars
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, START)  # the first poll fetches every series
        market.requests.clear()
        replay(monitor, bars, clock, START + 1, START + 20)
    finally:
        monitor.close()
    fetched = [r["interval"] for r in market.requests if r["path"].endswith("/klines")]
    closes_5m = sum(1 for i in range(START + 1, START + 21)
                    if bars.index[i].minute % 5 == 0)  # replay(i): just after bars.index[i]
    assert fetched.count("1m") == 20
    assert fetched.count("5m") == closes_5m == 4


@pytest.mark.usefixtures("quick_charts")
def test_feeds_due_on_one_close_are_fetched_at_the_same_time(home, bars, clock, market,
                                                              telegram) -> None:
    SetupStore(home / "setups").save(SMA.format(id="sma-5m", fast=3, slow=8).replace(
        "timeframe: 1m", "timeframe: 5m"))
    market.series[("BTCUSDT", "5m")] = resample(bars, "5m")
    market.series[("BTCUSDT", "1m")] = bars
    both = next(i for i in range(START + 2, START + 10)
                if bars.index[i].minute % 5 == 0)
    monitor = replay_monitor(home, market, telegram, clock)
    try:
        replay(monitor, bars, clock, START, both - 1)
        market.requests.clear()
        market.slow_seconds, market.script = 1.5, ["slow", "slow"]  # each answer takes 1.5 s
        clock.now = bars.index[both] + pd.Timedelta(seconds=1.6)  # a 1m and a 5m close
        started = time.monotonic()
        monitor.run_once()
        elapsed = time.monotonic() - started
    finally:
        monitor.close()
    assert sorted(r["interval"] for r in market.requests) == ["1m", "5m"]
    assert elapsed < 2.7, f"1m and 5m fetched one after the other ({elapsed:.1f} s)"
