"""Optional real execution (engine.paper.execute) against the local fake Binance only: off by
default, one client order id per order recorded before sending, rejects, partial fills, the
accepted-then-timed-out order looked up and never doubled, reconciliation on restart, the kill
switch and the limits checked last, nothing but 127.0.0.1 contacted."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import urllib3.util.connection

from engine.errors import ConfigurationError
from engine.paper import kill
from engine.paper.account import Account
from engine.paper.execute import Executor, OrderRequest, live_exchange, require_live, start
from engine.paper.ledger import Entry, Ledger, ledger_path
from engine.paper.risk import RiskRules
from engine.settings import Settings
from tests.data.fake_exchange import FakeBinance, point_at, trading_market

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-28T09:30:00.000000Z"
MINUTE = pd.Timedelta(minutes=1)
NOW = pd.Timestamp("2026-11-28T09:31:00Z")


def _candles() -> pd.DataFrame:
    index = pd.date_range("2026-11-28 09:00", periods=3, freq="1min", tz="UTC")
    return pd.DataFrame({"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0,
                         "volume": 1.0}, index=index)


@pytest.fixture()
def fake():
    with FakeBinance(_candles()) as server:
        server.hang_seconds = 2.5
        yield server


@pytest.fixture()
def settings(ita_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ITA_ALLOW_LIVE", "1")
    return Settings(home=ita_home, exchange_api_key="fake-key", exchange_secret="fake-secret",
                    live_exchange="binance")


@pytest.fixture()
def account() -> Account:
    return Account(name="prop-1", starting_balance=10_000, execution="live")


@pytest.fixture()
def ledger(ita_home: Path):
    with Ledger(ledger_path(ita_home)) as opened:
        yield opened


def _client(fake: FakeBinance, settings: Settings):
    exchange = fake.client(timeout_ms=1500)
    exchange.set_markets([trading_market("BTC")])
    exchange.apiKey = settings.exchange_api_key.get_secret_value()
    exchange.secret = settings.exchange_secret.get_secret_value()
    return exchange


def _executor(fake, settings, account, ledger) -> Executor:
    return Executor(settings, account, ledger, exchange=_client(fake, settings),
                    now=lambda: NOW)


def _entry(amount: float = 0.1, *, risk: float = 50.0, signal: str = "s1") -> OrderRequest:
    return OrderRequest(signal, "entry", "BTC/USDT", "buy", amount, AT, risk=risk)


def _kinds(ledger: Ledger) -> list[str]:
    """The order events in the ledger (without the account's one ``live_on`` row)."""
    kinds = ledger.rows("exchange", "prop-1")["kind"]
    return [kind for kind in kinds if kind != "live_on"]


def _posts(fake: FakeBinance) -> list[dict]:
    return [r for r in fake.requests if r.get("method") == "POST"]


@pytest.mark.parametrize("change", ["no_env", "paper_account", "no_keys"])
def test_off_unless_allowed_with_keys_and_a_live_account(fake, settings, account, ledger,
                                                         monkeypatch, change):
    exchange = _client(fake, settings)
    if change == "no_env":
        monkeypatch.delenv("ITA_ALLOW_LIVE")
    elif change == "paper_account":
        account = account.model_copy(update={"execution": "paper"})
    else:
        settings = settings.model_copy(update={"exchange_secret": None})
    with pytest.raises(ConfigurationError) as caught:
        Executor(settings, account, ledger, exchange=exchange)
    message = str(caught.value)
    assert "\n" not in message and ("ITA_ALLOW_LIVE=1" in message or "execution" in message
                                    or "ITA_EXCHANGE_SECRET" in message)
    assert "fake-secret" not in message
    assert fake.requests == []


def test_orders_carry_stable_client_ids_recorded_before_sending(fake, settings, account,
                                                                ledger):
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry())
    assert (outcome.status, outcome.filled, outcome.sent) == ("closed", 0.1, True)
    assert re.fullmatch(r"ita-[0-9a-f]{24}", outcome.client_id)
    (order,) = fake.orders.values()
    assert order["clientOrderId"] == outcome.client_id
    assert order["side"] == "BUY" and float(order["origQty"]) == 0.1
    rows = ledger.rows("exchange", "prop-1")
    assert _kinds(ledger) == ["intent", "answer"]
    assert set(rows.loc[rows["kind"] != "live_on", "client_id"]) == {outcome.client_id}
    again = _executor(fake, settings, account, ledger).place(_entry())  # a restart, a retry
    assert (again.client_id, again.status, again.sent) == (outcome.client_id, "closed", False)
    assert len(fake.orders) == 1 and len(_posts(fake)) == 1
    other = executor.place(_entry(signal="s2"))
    assert other.client_id != outcome.client_id


def test_a_reject_is_recorded_with_its_reason_and_not_resent(fake, settings, account, ledger):
    fake.balances["USDT"] = 5.0
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry())
    assert outcome.status == "rejected"
    assert "insufficient balance" in outcome.reason
    rows = ledger.rows("exchange", "prop-1")
    assert _kinds(ledger) == ["intent", "rejected"]
    assert "insufficient balance" in rows["reason"].iloc[-1]
    assert executor.place(_entry()).status == "rejected"
    assert len(_posts(fake)) == 1 and fake.orders == {}


def test_partial_fills_are_recorded_as_they_come(fake, settings, account, ledger):
    fake.fill_ratio = 0.4
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry(0.5))
    assert (outcome.status, outcome.filled) == ("open", pytest.approx(0.2))
    assert executor.refresh()[0].filled == pytest.approx(0.2)  # nothing new: no new row
    (order_id,) = fake.orders
    fake.fill(order_id, 0.1)
    assert executor.refresh()[0].filled == pytest.approx(0.3)
    fake.fill(order_id, 0.2)
    (done,) = executor.refresh()
    assert (done.status, done.filled) == ("closed", pytest.approx(0.5))
    answers = ledger.rows("exchange", "prop-1").query("kind == 'answer'")
    assert list(answers["filled"]) == pytest.approx([0.2, 0.3, 0.5])
    assert list(answers["remaining"]) == pytest.approx([0.3, 0.2, 0.0])
    assert executor.refresh() == []  # nothing open any more


def test_accepted_then_timed_out_is_looked_up_not_doubled(fake, settings, account, ledger):
    fake.script.append("hang")  # the order is stored, its answer never comes in time
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry())
    assert (outcome.status, outcome.filled, outcome.sent) == ("closed", 0.1, True)
    assert len(fake.orders) == 1 and len(_posts(fake)) == 1
    lookups = [r for r in fake.requests if r.get("method") == "GET"
               and r["path"] == "/api/v3/order"]
    assert [r["origClientOrderId"] for r in lookups] == [outcome.client_id]
    assert executor.place(_entry()).sent is False
    assert len(fake.orders) == 1 and len(_posts(fake)) == 1


def test_a_duplicate_client_id_is_looked_up(fake, settings, account, ledger):
    fake.fill_ratio = 0.0
    executor = _executor(fake, settings, account, ledger)
    request = _entry()
    client_id = executor.intent_row(request)["client_id"]
    fake.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1",
                    "newClientOrderId": client_id})  # e.g. sent by a crashed run
    outcome = executor.place(request)
    assert (outcome.status, outcome.sent) == ("open", True)  # sent, answered "duplicate"
    assert len(fake.orders) == 1


def test_restart_reconciles_lost_answers_and_reports_differences(fake, settings, account,
                                                                 ledger):
    fake.script += ["hang", "reset"]  # accepted, answer lost, the look-up fails too
    first = _executor(fake, settings, account, ledger).place(_entry())
    assert first.status == "unknown"
    assert _kinds(ledger) == ["intent"]
    fake.new_order({"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.05",
                    "price": "150", "newClientOrderId": "by-hand"})  # not ITA's
    fake.balances["BTC"] = 0.02  # the trader moved some away
    before = len(fake.requests)
    report = _executor(fake, settings, account, ledger).reconcile()  # the restart
    assert any(first.client_id in line and "closed" in line for line in report)
    assert any("not in the ledger" in line and "sell 0.05 BTC/USDT" in line for line in report)
    assert any("BTC: the ledger's fills leave 0.1, the exchange holds 0.02" in line
               for line in report)
    methods = {r.get("method") for r in fake.requests[before:]}
    assert methods == {"GET"}  # nothing sent, nothing cancelled: reported, not fixed
    assert len(fake.orders) == 2
    rows = ledger.rows("exchange", "prop-1")
    assert (rows["kind"] == "difference").sum() == 2
    assert _executor(fake, settings, account, ledger).reconcile() == report[1:]
    assert (ledger.rows("exchange", "prop-1")["kind"] == "difference").sum() == 2


def test_kill_switch_engaged_after_the_decision_blocks_the_send(fake, settings, account,
                                                                ledger):
    executor = _executor(fake, settings, account, ledger)
    request = _entry()  # decided
    kill.engage(settings, by="test", reason="news")
    outcome = executor.place(request)
    assert outcome.status == "refused" and "kill switch" in outcome.reason
    assert _posts(fake) == [] and fake.orders == {}
    assert _kinds(ledger) == ["intent", "refused"]
    kill.release(settings, by="test")
    assert executor.place(request).status == "refused"  # decided once, never sent later


def test_a_risk_limit_blocks_the_send_and_exits_pass(fake, settings, ledger):
    account = Account(name="prop-1", starting_balance=10_000, execution="live",
                      risk=RiskRules(max_risk_per_trade_pct=1))
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry(risk=500.0))
    assert outcome.status == "refused" and "risk" in outcome.reason
    assert executor.place(_entry(risk=100.0, signal="s2")).status == "closed"
    kill.engage(settings, by="test")
    exit_ = OrderRequest("s2", "exit", "BTC/USDT", "sell", 0.1, AT)
    assert executor.place(exit_).status == "closed"  # closing is never blocked
    assert [r["side"] for r in _posts(fake)] == ["BUY", "SELL"]


def test_follow_ledger_sends_the_paper_accounts_orders_once(fake, settings, account, ledger):
    sid = "smc@v1:BTC/USDT:2026-11-28T09:29:00.000000Z:long"
    common = {"symbol": "BTC/USDT", "setup_id": "smc", "direction": 1}
    ledger.append([Entry("positions", "open", "prop-1", sid, AT,
                         {**common, "signal_time": AT, "entry_time": AT, "entry_price": 100.0,
                          "size": 0.3, "stop": 99.0, "target": 103.0})])
    executor = _executor(fake, settings, account, ledger)
    (opened,) = executor.follow_ledger()
    assert (opened.status, opened.filled) == ("closed", pytest.approx(0.3))
    ledger.append([Entry("positions", "closed", "prop-1", sid, "2026-11-28T09:45:00.000000Z",
                         {**common, "exit_price": 103.0, "exit_reason": "target"})])
    assert [o.sent for o in executor.follow_ledger()] == [False, True]
    assert executor.follow_ledger()[1].sent is False
    assert [(r["side"], r["quantity"]) for r in _posts(fake)] == [("BUY", "0.3"),
                                                                   ("SELL", "0.3")]
    assert fake.balances["BTC"] == pytest.approx(0.0)


def test_a_short_entry_is_not_sent_on_spot(fake, settings, account, ledger):
    request = OrderRequest("s1", "entry", "BTC/USDT", "sell", 0.1, AT, risk=10.0)
    outcome = _executor(fake, settings, account, ledger).place(request)
    assert outcome.status == "refused" and "short" in outcome.reason
    assert fake.requests == []


def test_only_the_loopback_is_contacted(fake, settings, account, ledger, monkeypatch):
    hosts: list[str] = []
    real = urllib3.util.connection.create_connection

    def recording(address, *args, **kwargs):  # every connection ccxt's requests opens
        hosts.append(address[0])
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    executor = _executor(fake, settings, account, ledger)
    executor.place(_entry())
    executor.reconcile()
    assert hosts and set(hosts) == {"127.0.0.1"}


def test_require_live_message_names_the_switch(settings, account, monkeypatch):
    monkeypatch.delenv("ITA_ALLOW_LIVE")
    with pytest.raises(ConfigurationError, match=r"^real orders are off: start ITA with "
                                                 r"ITA_ALLOW_LIVE=1"):
        require_live(settings, account)


def test_an_order_lost_before_the_exchange_is_reported_missing_not_resent(fake, settings,
                                                                          account, ledger):
    fake.script.append("reset")  # the connection drops before the exchange takes the order
    executor = _executor(fake, settings, account, ledger)
    outcome = executor.place(_entry())
    assert outcome.status == "missing" and "not re-sent" in outcome.reason
    assert executor.place(_entry()).status == "missing"
    later = dataclasses.replace(_entry(), at="2026-11-28T09:45:00.000000Z")
    assert executor.place(later).client_id == outcome.client_id  # decided again: same id
    assert len(_posts(fake)) == 1 and fake.orders == {}
    assert any(outcome.client_id in line and "missing" in line
               for line in executor.reconcile())


_CRASHING = """
import sys
import ccxt
from engine.paper.account import Account
from engine.paper.execute import Executor, OrderRequest
from engine.paper.ledger import Ledger, ledger_path
from engine.settings import Settings
from tests.data.fake_exchange import point_at, trading_market

home, url = sys.argv[1], sys.argv[2]
settings = Settings(home=home, exchange_api_key="fake-key", exchange_secret="fake-secret")
exchange = point_at(ccxt.binance({"timeout": 3000, "apiKey": "fake-key",
                                  "secret": "fake-secret"}), url)
exchange.set_markets([trading_market("BTC")])
account = Account(name="prop-1", starting_balance=10_000, execution="live")
Executor(settings, account, Ledger(ledger_path(home)), exchange=exchange).place(
    OrderRequest("s1", "entry", "BTC/USDT", "buy", 0.1, "2026-11-28T09:30:00.000000Z",
                 risk=50.0))
"""


@pytest.mark.parametrize(("point", "status", "orders"), [
    ("execute:before_send", "missing", 0), ("execute:after_send", "closed", 1)])
def test_a_kill_9_around_the_send_never_doubles_the_order(fake, settings, account, ledger,
                                                          ita_home, point, status, orders):
    env = {**os.environ, "ITA_PAPER_CRASH_AT": point, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _CRASHING, str(ita_home), fake.url], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _kinds(ledger) == ["intent"]
    assert len(fake.orders) == orders
    executor = _executor(fake, settings, account, ledger)  # the restart
    (line,) = executor.reconcile()
    assert status in line
    assert executor.place(_entry()).sent is False
    assert len(fake.orders) == orders and len(_posts(fake)) == orders


def test_an_exit_sells_what_the_exchange_holds(fake, settings, account, ledger):
    executor = _executor(fake, settings, account, ledger)
    assert executor.place(_entry(0.1)).filled == pytest.approx(0.1)
    fake.balances["BTC"] = 0.0999  # the buy's fee was taken in BTC
    exit_ = OrderRequest("s1", "exit", "BTC/USDT", "sell", 0.1, AT)
    assert executor.place(exit_).filled == pytest.approx(0.0999)
    assert [r["quantity"] for r in _posts(fake)] == ["0.1", "0.0999"]


def test_start_reconciles_the_live_accounts_and_names_the_refused(fake, settings, ledger,
                                                                   monkeypatch):
    live = Account(name="live-1", execution="live")
    paper = Account(name="paper-1")
    executors, lines = start(settings, [live, paper], ledger,
                             exchange=lambda s: _client(fake, s))
    assert list(executors) == ["live-1"]
    assert lines == ["live-1: no differences: 0 orders agree with the exchange"]
    monkeypatch.setenv("ITA_ALLOW_LIVE", "0")
    executors, lines = start(settings, [live], ledger, exchange=lambda s: _client(fake, s))
    assert executors == {}
    assert len(lines) == 1 and lines[0].startswith("live-1: real orders are off")


def test_only_binance_spot_is_spoken(settings, account):
    with pytest.raises(ConfigurationError, match="Binance spot only"):
        require_live(settings.model_copy(update={"live_exchange": "kraken"}), account)
    require_live(settings.model_copy(update={"live_exchange": "binanceus"}), account)


def test_a_trade_closed_on_paper_before_it_was_sent_is_not_sent(fake, settings, account,
                                                                 ledger):
    sid = "smc@v1:BTC/USDT:2026-11-28T09:29:00.000000Z:long"
    common = {"symbol": "BTC/USDT", "setup_id": "smc", "direction": 1}
    ledger.append([
        Entry("positions", "open", "prop-1", sid, AT,
              {**common, "signal_time": AT, "entry_time": AT, "entry_price": 100.0,
               "size": 0.3, "stop": 99.0, "target": 103.0}),
        Entry("positions", "closed", "prop-1", sid, AT,
              {**common, "exit_price": 99.0, "exit_reason": "stop"})])
    (outcome,) = _executor(fake, settings, account, ledger).follow_ledger()
    assert outcome.status == "refused" and "closed on paper (stop)" in outcome.reason
    assert fake.requests == []
    (again,) = _executor(fake, settings, account, ledger).follow_ledger()
    assert again.status == "refused" and fake.requests == []


def test_reconcile_says_when_the_exchange_did_not_answer(fake, settings, account, ledger):
    executor = _executor(fake, settings, account, ledger)
    executor.place(_entry())
    fake.script.append("503")  # the open orders request
    (line,) = executor.reconcile()
    assert line.startswith("the exchange did not answer") and "try again" in line
    assert (ledger.rows("exchange", "prop-1")["kind"] == "difference").sum() == 0


def test_positions_booked_before_live_was_switched_on_are_left_alone(fake, settings, account,
                                                                     ledger):
    sid = "smc@v1:BTC/USDT:2026-11-28T09:29:00.000000Z:long"
    ledger.append([Entry("positions", "open", "prop-1", sid, AT,
                         {"symbol": "BTC/USDT", "setup_id": "smc", "direction": 1,
                          "signal_time": AT, "entry_time": AT, "entry_price": 100.0,
                          "size": 0.3, "stop": 99.0, "target": 103.0})])
    later = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)  # switched on after booking
    executor = Executor(settings, account, ledger, exchange=_client(fake, settings),
                        now=lambda: later)
    assert executor.follow_ledger() == [] and fake.requests == []
    again = Executor(settings, account, ledger, exchange=_client(fake, settings),
                     now=lambda: later + pd.Timedelta(days=1))
    assert again.live_since() == executor.live_since()  # the first switch-on counts


def test_the_real_client_loads_only_spot_markets_and_places(fake, settings, account, ledger):
    exchange = point_at(live_exchange(settings), fake.url)  # the production client, keys in
    executor = Executor(settings, account, ledger, exchange=exchange, now=lambda: NOW)
    assert executor.place(_entry()).status == "closed"
    paths = [r["path"] for r in fake.requests]
    assert paths == ["/api/v3/exchangeInfo", "/api/v3/order"]  # no futures, no private lists
    assert fake.requests[1]["newClientOrderId"].startswith("ita-")


def _open_on_paper(ledger: Ledger, sid: str, at: str = AT) -> None:
    ledger.append([Entry("positions", "open", "prop-1", sid, at,
                         {"symbol": "BTC/USDT", "setup_id": "smc", "direction": 1,
                          "signal_time": at, "entry_time": at, "entry_price": 100.0,
                          "size": 0.3, "stop": 99.0, "target": 103.0})])


def test_the_position_being_sent_does_not_count_against_its_own_limits(fake, settings, ledger):
    account = Account(name="prop-1", starting_balance=10_000, execution="live",
                      risk=RiskRules(max_open_positions=1))
    executor = Executor(settings, account, ledger, exchange=_client(fake, settings),
                        now=lambda: pd.Timestamp("2026-11-28T10:00Z"))
    _open_on_paper(ledger, "smc@v1:BTC/USDT:2026-11-28T09:29:00.000000Z:long")
    (first,) = executor.follow_ledger()
    assert first.status == "closed"  # the paper check allowed it; so does the real one
    _open_on_paper(ledger, "smc@v1:BTC/USDT:2026-11-28T09:44:00.000000Z:long",
                   "2026-11-28T09:45:00.000000Z")
    outcomes = executor.follow_ledger()
    assert outcomes[1].status == "refused" and "open positions" in outcomes[1].reason
    assert len(_posts(fake)) == 1


def _live_paper(settings, fake, sent: list[str]):
    """The monitor's paper step (engine.paper.live) with no setups of its own, sending what it
    says to `sent` and its orders to `fake`."""
    from engine.paper.live import LivePaper

    return LivePaper(settings, journal_file=settings.home / "journal.sqlite",
                     setup_of=lambda *_: None, active=lambda: [],
                     send=lambda text: sent.append(text) or True,
                     read_store=lambda *_: pd.DataFrame(),
                     exchange=lambda s: _client(fake, s))


def test_the_live_paper_path_sends_a_live_accounts_orders_once(fake, settings, ledger):
    """The live monitor's paper step (engine.paper.live) drives the executor of an account
    with ``execution: live``: the ledger's open position goes out once, its close once, and
    the same closes again send nothing."""
    from engine.paper.account import AccountStore

    account = Account(name="prop-1", starting_balance=10_000, execution="live",
                      follow=["smc"])
    AccountStore(settings.home).create(account)
    sent: list[str] = []
    paper = _live_paper(settings, fake, sent)
    paper.on_close({}, NOW)  # switched on: reconciled, nothing to send yet
    later = pd.Timestamp.now("UTC").ceil("min") + pd.Timedelta(minutes=1)  # after switch-on
    at, exit_at = (t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in (later, later + 15 * MINUTE))
    sid = f"smc@v1:BTC/USDT:{at}:long"
    common = {"symbol": "BTC/USDT", "setup_id": "smc", "direction": 1}
    ledger.append([Entry("positions", "open", "prop-1", sid, at,
                         {**common, "signal_time": at, "entry_time": at, "entry_price": 100.0,
                          "size": 0.3, "stop": 99.0, "target": 103.0})])
    paper.on_close({}, NOW)
    paper.on_close({}, NOW)
    assert [r["side"] for r in _posts(fake)] == ["BUY"]
    ledger.append([Entry("positions", "closed", "prop-1", sid, exit_at,
                         {**common, "exit_price": 103.0, "exit_reason": "target"})])
    paper.on_close({}, NOW)
    paper.on_close({}, NOW)
    paper.close()
    assert [(r["side"], r["quantity"]) for r in _posts(fake)] == [("BUY", "0.3"),
                                                                   ("SELL", "0.3")]
    assert sent == []  # nothing refused, rejected or missing


def test_the_live_paper_path_reports_a_refused_live_account_once(fake, settings, ledger,
                                                                  monkeypatch):
    from engine.paper.account import AccountStore

    monkeypatch.delenv("ITA_ALLOW_LIVE")
    AccountStore(settings.home).create(Account(name="prop-1", starting_balance=10_000,
                                               execution="live", follow=["smc"]))
    sent: list[str] = []
    paper = _live_paper(settings, fake, sent)
    paper.on_close({}, NOW)
    paper.on_close({}, NOW)
    paper.close()
    assert len(sent) == 1 and "prop-1" in sent[0] and "ITA_ALLOW_LIVE=1" in sent[0]
    assert fake.requests == []
