"""Paper accounts in the live monitor (engine.paper.live): the real monitor over a replayed
market (the fake Binance, the fake Telegram) gives an account the trades `on_bars` gives it over
the same bars in one go; refusals ride with their alert; warnings, kill closes and hand closes
happen once; a SIGKILL mid-run and a restart duplicate no fill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.backtest.simulate import Costs, Sizing
from engine.live.feeds import FeedKey
from engine.live.journal import journal_path
from engine.notify.commands import LiveStatus, TelegramUpdates
from engine.notify.telegram import ChatPacer, TelegramChannel
from engine.paper import kill
from engine.paper.account import Account, AccountStore
from engine.paper.follow import on_bars
from engine.paper.ledger import Entry, Ledger, iso, ledger_path
from engine.paper.live import LivePaper
from engine.paper.risk import RiskRules
from engine.settings import Settings
from engine.setups.store import SetupStore
from tests.live._replay import CHAT, replay_closed, seed_home
from tests.live.conftest import (  # noqa: F401 (fixtures)
    START,
    bars,
    clock,
    market,
    quick_charts,
    telegram,
)

pytestmark = pytest.mark.usefixtures("quick_charts")  # the chart is not what these check

STRANGER = 999
KEY = FeedKey("binance", "BTC/USDT", "1m")
LAST = START + 60
SETUP = """schema_version: 1
id: sma-a
name: SMA 3/8
market: {symbols: [BTC/USDT], timeframe: 1m}
conditions:
  cross: {detector: ma_cross, kind: sma, fast: 3, slow: 8}
signal: cross
direction: both
plan:
  entry: {type: market}
  stop: {percent: 0.08}
  target: {percent: 0.12}
costs: {fee_bps: 2.0, slippage_bps: 1.0}
"""
LONG_AGO = "2000-01-01T00:00:00+00:00"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def home(ita_home, bars):  # noqa: F811
    return seed_home(ita_home, bars, SETUP)


def _account(home, **fields) -> Account:
    account = Account(name=fields.pop("name", "prop"), follow=["sma-a"], created_at=LONG_AGO,
                      **fields)
    AccountStore(home).create(account)
    return account


def _journal_signals(home, account: Account) -> pd.DataFrame:
    paper = LivePaper(Settings(home=home), journal_file=journal_path(home),
                      setup_of=None, active=list, send=None, read_store=None)
    return paper._signals(account, "sma-a", KEY)


def _trades(ledger: Ledger, name: str) -> pd.DataFrame:
    columns = ["position_id", "signal_id", "entry_time", "entry_price", "size", "exit_time",
               "exit_price", "exit_reason", "pnl", "fees", "r_net", "status"]
    return ledger.positions(name)[columns].sort_values("position_id").reset_index(drop=True)


def _in_one_go(home, account: Account, bars, last: int) -> pd.DataFrame:  # noqa: F811
    signals = _journal_signals(home, account)
    with Ledger(home / "one-go.sqlite") as ledger:
        on_bars(ledger, account, bars.iloc[:last], signals, timeframe="1m",
                costs=Costs(2.0, 1.0), sizing=Sizing("risk_percent", 1.0))
        return _trades(ledger, account.name)


def test_a_live_run_gives_the_account_the_trades_of_on_bars_in_one_go(
        home, bars, clock, market, telegram) -> None:  # noqa: F811
    account = _account(home)
    replay_closed(home, market, telegram, clock, bars, START, LAST)
    with Ledger(ledger_path(home)) as ledger:
        live = _trades(ledger, "prop")
    expected = _in_one_go(home, account, bars, LAST)
    assert (live["status"] == "closed").sum() >= 3  # the replay really trades
    pd.testing.assert_frame_equal(live, expected)
    captions = [p.caption or "" for p in telegram.photos()]
    assert any("📒 Paper prop: long " in c or "📒 Paper prop: short " in c for c in captions)


def test_a_refused_signal_carries_its_reason_in_the_caption(
        home, bars, clock, market, telegram) -> None:  # noqa: F811
    _account(home, name="strict", risk_percent=1.0,
             risk=RiskRules(max_risk_per_trade_pct=0.05))
    _account(home, name="hand", mode="taken")
    replay_closed(home, market, telegram, clock, bars, START, START + 20)
    captions = [p.caption or "" for p in telegram.photos()]
    assert captions
    refused = [c for c in captions if "📒 Paper strict: not taken — risk per trade" in c]
    assert len(refused) == len(captions)
    assert all("📒 Paper hand: follows it if you mark it Taken" in c for c in captions)
    assert all(len(c.encode("utf-16-le")) // 2 <= 1024 for c in captions)
    with Ledger(ledger_path(home)) as ledger:
        assert ledger.positions("strict").empty
    texts = [m.text or "" for m in telegram.sent("sendMessage")]
    assert not any("not taken" in t for t in texts)  # the caption said it: no follow-up


# --- LivePaper alone: warnings, the kill switch, hand closes ------------------------------------

def _paper(home, sent: list[str], *, active=()) -> LivePaper:
    store = CandleStore(home / "data" / "candles")
    setups = SetupStore(home / "setups")
    return LivePaper(Settings(home=home), journal_file=journal_path(home),
                     setup_of=lambda s, v: setups.load(s, v).setup,
                     active=lambda: list(active),
                     send=lambda text: sent.append(text) or True,
                     read_store=lambda key, start, end: store.read(
                         key.symbol, key.timeframe, source=key.source, start=start, end=end))


def _open_position(ledger: Ledger, account: str, at: pd.Timestamp, price: float) -> None:
    sid = f"sma-a@v1:BTC/USDT:{iso(at)}:long"
    common = {"symbol": "BTC/USDT", "setup_id": "sma-a", "direction": 1}
    ledger.append([
        Entry("orders", "market", account, sid, iso(at), {**common, "setup_version": 1,
                                                          "price": price}),
        Entry("fills", "entry", account, sid, iso(at), {"price": price, "size": 0.5, "fee": 0}),
        Entry("positions", "open", account, sid, iso(at),
              {**common, "signal_time": iso(at), "entry_time": iso(at), "entry_price": price,
               "size": 0.5, "stop": price * 0.99, "target": price * 1.02})])


def test_nearing_the_daily_loss_limit_warns_once_across_a_restart(home, bars) -> None:  # noqa: F811
    _account(home, risk=RiskRules(max_daily_loss_pct=5.0))
    now = bars.index[START]
    with Ledger(ledger_path(home)) as ledger:  # 4.25 % of 10,000 lost today: 85 % of the limit
        ledger.append([Entry("balance", "pnl", "prop", "loss", iso(now - pd.Timedelta("5min")),
                             {"amount": -425.0})])
    window = {KEY: bars.iloc[START - 50:START]}
    sent: list[str] = []
    first = _paper(home, sent)
    first.on_close(window, now)
    first.on_close(window, now + pd.Timedelta("1min"))
    first.close()
    again = _paper(home, sent)  # a restart
    again.on_close(window, now + pd.Timedelta("2min"))
    again.close()
    warnings = [t for t in sent if "daily loss limit nearly reached" in t]
    assert len(warnings) == 1
    assert warnings[0].startswith("⚠️ 📒 Paper prop: daily loss limit nearly reached: 85 %")


def test_the_kill_switch_with_close_closes_open_positions_once(home, bars) -> None:  # noqa: F811
    _account(home)
    opened = bars.index[START - 40]
    with Ledger(ledger_path(home)) as ledger:
        _open_position(ledger, "prop", opened, float(bars["open"].iloc[START - 40]))
    settings = Settings(home=home)
    kill.engage(settings, by="cli", reason="news", close_positions=True)
    sent: list[str] = []
    paper = _paper(home, sent, active=[("sma-a", 1, (KEY,))])
    for i in (START, START + 1, START + 2):
        paper.on_close({KEY: bars.iloc[i - 50:i]}, bars.index[i])
    paper.close()
    with Ledger(ledger_path(home)) as ledger:
        positions = ledger.positions("prop")
        exits = ledger.rows("fills", "prop")
    assert list(positions["status"]) == ["closed"]
    assert positions["exit_reason"].iloc[0] == "manual"
    assert positions["exit_price"].iloc[0] == pytest.approx(float(bars["close"].iloc[START - 1]))
    assert (exits["kind"] == "exit").sum() == 1
    assert len([t for t in sent if "kill switch — closed long 0.5 BTC" in t]) == 1


def test_positions_and_close_from_a_configured_chat_only(home, bars, telegram) -> None:  # noqa: F811
    _account(home)
    with Ledger(ledger_path(home)) as ledger:
        _open_position(ledger, "prop", bars.index[START - 40], 20_000.0)
    paper = _paper(home, [], active=[("sma-a", 1, (KEY,))])
    paper.on_close({KEY: bars.iloc[START - 50:START]}, bars.index[START])
    channel = TelegramChannel("123:abc", [CHAT], base_url=telegram.base_url, timeout=3,
                              pacer=ChatPacer(0.0))
    from engine.live.journal import SignalJournal

    with SignalJournal(journal_path(home)) as journal:
        updates = TelegramUpdates(channel, journal, LiveStatus(
            positions=paper.positions_text, close=paper.close_text))
        telegram.queue_command(STRANGER, "/positions")
        telegram.queue_command(STRANGER, "/close 1")
        assert updates.poll_once(timeout=0) == 0
        with Ledger(ledger_path(home)) as ledger:
            assert len(ledger.open_positions("prop")) == 1  # a stranger closes nothing
        telegram.queue_command(int(CHAT), "/positions")
        telegram.queue_command(int(CHAT), "/close 2")
        telegram.queue_command(int(CHAT), "/close 1")
        assert updates.poll_once(timeout=0) == 3
    channel.close()
    paper.close()
    texts = [m.text for m in telegram.sent("sendMessage")]
    assert all(m.chat_id == CHAT for m in telegram.sent("sendMessage"))
    assert texts[0].startswith("Open paper positions (1):\n1. prop sma-a BTC/USDT long 0.5 at "
                               "20,000.00")
    assert texts[1] == "No open paper position 2 (/positions lists 1)."
    close = float(bars["close"].iloc[START - 1])
    assert texts[2].startswith(f"Closed prop BTC/USDT long 0.5 at {close:,.2f}: P&L ")
    with Ledger(ledger_path(home)) as ledger:
        assert ledger.open_positions("prop").empty


def test_a_refusal_after_the_alert_left_is_a_follow_up_message_sent_once(home, bars) -> None:  # noqa: F811,E501
    _record_signals(home, bars, START + 40)
    from engine.live.journal import SignalJournal

    with SignalJournal(journal_path(home)) as journal:  # the trader took the first alert
        first = journal.recent(1000)[-1]
        journal.set_decision(first.signal_id, "Taken")
    _account(home, name="t", mode="taken")
    kill.engage(Settings(home=home), by="cli", reason="tilt")
    sent: list[str] = []
    for _restart in range(2):  # a restart between: nothing is told twice
        paper = _paper(home, sent, active=[("sma-a", 1, (KEY,))])
        for i in range(START + 1, START + 41):
            paper.on_close({KEY: bars.iloc[i - 40:i]}, bars.index[i])
        paper.close()
    follow_ups = [t for t in sent if "not taken" in t]
    assert follow_ups == [f"📒 Paper t: not taken — kill switch on (by cli): tilt (sma-a "
                          f"BTC/USDT {'long' if first.direction > 0 else 'short'}, signal "
                          f"{first.known_at:%Y-%m-%d %H:%M} UTC)"]


# --- a SIGKILL in the middle of a live run ------------------------------------------------------

SCRIPT = """
import sys, pandas as pd
from engine.adapters.store import CandleStore
from engine.live.feeds import FeedKey
from engine.live.journal import journal_path
from engine.paper.live import LivePaper
from engine.settings import Settings
from engine.setups.store import SetupStore

home, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bars = pd.read_parquet(sys.argv[4])
key = FeedKey("binance", "BTC/USDT", "1m")
setups = SetupStore(home + "/setups")
store = CandleStore(home + "/data/candles")
paper = LivePaper(Settings(home=home), journal_file=journal_path(home),
                  setup_of=lambda s, v: setups.load(s, v).setup,
                  active=lambda: [("sma-a", 1, (key,))], send=lambda text: True,
                  read_store=lambda k, s, e: store.read(k.symbol, k.timeframe, source=k.source,
                                                       start=s, end=e))
for i in range(first, last + 1):
    paper.on_close({key: bars.iloc[max(0, i - 40):i]}, bars.index[i])
print("done")
"""


def _drive(home, parquet, first: int, last: int, crash: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ITA_HOME": str(home)}
    env.pop("ITA_PAPER_CRASH_AT", None)
    if crash:
        env.update(ITA_PAPER_CRASH_AT=crash, ITA_PAPER_CRASH_NTH="2")
    return subprocess.run([sys.executable, "-c", SCRIPT, str(home), str(first), str(last),
                           str(parquet)], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _record_signals(home, bars, last: int) -> None:  # noqa: F811
    from engine.live.evaluate import LiveSignal
    from engine.live.journal import SignalJournal
    from engine.setups import compile_setup, parse_setup

    found = compile_setup(parse_setup(SETUP), version=1)(bars.iloc[:last], symbol="BTC/USDT")
    found = found[found["known_at"] >= bars.index[START - 1]]
    with SignalJournal(journal_path(home)) as journal:
        for row in found.itertuples(index=False):
            journal.record(LiveSignal.from_row(row, timeframe="1m", source="binance"))


@pytest.mark.parametrize("crash", ["follow:recorded"])
def test_a_sigkill_mid_run_and_a_restart_duplicate_no_fill(
        home, bars, crash) -> None:  # noqa: F811
    _record_signals(home, bars, LAST)  # what the monitor would have journaled
    account = _account(home)
    parquet = home / "bars.parquet"
    bars.iloc[:LAST + 1].to_parquet(parquet)
    died = _drive(home, parquet, START + 1, LAST, crash)
    assert died.returncode == -9, died.stderr[-2000:]
    again = _drive(home, parquet, START + 1, LAST, None)
    assert again.returncode == 0, again.stderr[-2000:]
    with Ledger(ledger_path(home)) as ledger:
        live = _trades(ledger, "prop")
        fills = ledger.rows("fills", "prop")
    assert not fills.duplicated(["signal_id", "kind"]).any()
    pd.testing.assert_frame_equal(live, _in_one_go(home, account, bars, LAST))
    assert (live["status"] == "closed").sum() >= 3


def test_a_paper_failure_is_logged_once_and_never_stops_the_alerts(
        home, bars, clock, market, telegram, monkeypatch, caplog) -> None:  # noqa: F811
    _account(home)
    import engine.paper.live as paper_live

    def broken(*args, **kwargs):
        raise KeyError("a paper bug")

    monkeypatch.setattr(paper_live, "on_bars", broken)
    monkeypatch.setattr(paper_live, "account_state", broken)
    replay_closed(home, market, telegram, clock, bars, START, START + 20)
    assert telegram.photos()  # the alerts went
    failures = [r for r in caplog.records if "a paper bug" in r.getMessage()]
    assert len(failures) == 2  # the follower's and the caption's, each once


def test_paper_lines_ride_in_the_caption_within_telegrams_limit() -> None:
    from engine.live.alert import caption, telegram_length
    from tests.live.test_alert import RANK
    from tests.live.test_rank import make_signal

    line = "📒 Paper prop-1: not taken — daily loss limit: 4.6 % of 5 % used <b>"
    one = caption(make_signal(), RANK, tz="UTC", paper=[line])
    assert "📒 Paper prop-1: not taken — daily loss limit: 4.6 % of 5 % used &lt;b&gt;" in one
    assert one.index("📒 Paper") < one.index("✅")  # kept before the history's reasons
    many = caption(make_signal(), RANK, tz="UTC", paper=[line * 4] * 12)
    assert telegram_length(many) <= 1024
    assert many.startswith(caption(make_signal(), RANK, tz="UTC").split("\n")[0])


def test_a_higher_timeframe_resolves_ambiguous_bars_with_stored_1m_as_the_backtest(
        home, bars) -> None:  # noqa: F811
    from engine.candles import resample
    from engine.live.evaluate import LiveSignal
    from engine.live.journal import SignalJournal
    from engine.setups import compile_setup, parse_setup

    text = (SETUP.replace("id: sma-a", "id: sma-5").replace("timeframe: 1m", "timeframe: 5m")
            .replace("percent: 0.08", "percent: 0.05").replace("percent: 0.12", "percent: 0.06"))
    SetupStore(home / "setups").save(text)
    CandleStore(home / "data" / "candles").upsert(bars, source="binance", symbol="BTC/USDT",
                                                  timeframe="1m")
    five = resample(bars, "5m")
    END = 160  # noqa: N806
    key = FeedKey("binance", "BTC/USDT", "5m")
    found = compile_setup(parse_setup(text), version=1)(five.iloc[:END], symbol="BTC/USDT")
    found = found[found["known_at"] >= five.index[99]]
    with SignalJournal(journal_path(home)) as journal:
        for row in found.itertuples(index=False):
            journal.record(LiveSignal.from_row(row, timeframe="5m", source="binance"))
    account = Account(name="p5", follow=["sma-5"], created_at=LONG_AGO)
    AccountStore(home).create(account)
    paper = _paper(home, [], active=[("sma-5", 1, (key,))])
    for i in range(100, END + 1):
        paper.on_close({key: five.iloc[max(0, i - 40):i]}, five.index[i])
    paper.close()
    signals = paper._signals(account, "sma-5", key)
    results = []
    for lower in (bars, None):
        with Ledger(home / f"one-go-{lower is None}.sqlite") as ledger:
            on_bars(ledger, account, five.iloc[:END], signals, timeframe="5m",
                    costs=Costs(2.0, 1.0), sizing=Sizing("risk_percent", 1.0),
                    lower_candles=lower)
            results.append(_trades(ledger, "p5"))
    with Ledger(ledger_path(home)) as ledger:
        live = _trades(ledger, "p5")
    assert (live["status"] == "closed").sum() >= 3
    pd.testing.assert_frame_equal(live, results[0])
    assert not live.equals(results[1])  # the 1m bars decided some bar: the test can fail
