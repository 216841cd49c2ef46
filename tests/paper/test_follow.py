"""Following under the account's limits: a signal that would break a limit is not taken, the
refusal is a ledger row with its reason, and a restart does not change the decision."""

from __future__ import annotations

import datetime as dt

import numpy as np

from engine.backtest.simulate import Costs, Sizing
from engine.paper.account import Account
from engine.paper.follow import on_bars
from engine.paper.kill import KillState
from engine.paper.ledger import Ledger
from engine.paper.risk import RiskRules
from tests.backtest.test_no_lookahead import make_signals, random_bars

COSTS, SIZING = Costs(5, 3), Sizing("risk_percent", 2.0)


def run(ledger, account, candles, signals, **options) -> None:
    for cut in range(5, len(candles) + 1, 5):
        shown = candles.iloc[:cut]
        on_bars(ledger, account, shown, signals[signals["known_at"] <= shown.index[-1]],
                timeframe="15m", costs=COSTS, sizing=SIZING, **options)


def data():
    candles = random_bars(17, 120)
    drawn = [(x / 12, 1 if x % 2 else -1, False, 0.0, 0.01, 0.02, 0, 3, np.nan, np.nan)
             for x in range(12)]
    return candles, make_signals(candles, drawn)


def test_a_trade_over_the_risk_per_trade_limit_is_refused_with_its_reason(tmp_path) -> None:
    candles, signals = data()
    ledger = Ledger(tmp_path / "l.sqlite")
    # sized at 2 % of the balance, 1 % allowed: refused, unless the leverage cap made the
    # position (and its risk) smaller
    strict = Account(name="strict", risk=RiskRules(max_risk_per_trade_pct=1.0))
    run(ledger, strict, candles, signals)
    orders = ledger.rows("orders", "strict")
    refused = orders[orders["kind"] == "refused"]
    assert len(refused) >= 5
    assert refused["reason"].str.startswith("risk per trade").all()
    taken = ledger.positions("strict")
    assert (taken["risk"].dropna() <= 100 + 1e-9).all()
    before = ledger.snapshot("strict")
    run(ledger, strict, candles, signals)  # a restart: the same bars again
    assert ledger.snapshot("strict") == before


def test_the_kill_switch_refuses_every_new_trade(tmp_path) -> None:
    candles, signals = data()
    ledger = Ledger(tmp_path / "l.sqlite")
    account = Account(name="k")
    killed = KillState(engaged=True, since=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), by="cli",
                       reason="test")
    run(ledger, account, candles, signals, kill_switch=killed)
    assert ledger.positions("k").empty
    assert (ledger.rows("orders", "k")["kind"] == "refused").all()


def test_a_cooldown_after_losses_skips_the_next_signals(tmp_path) -> None:
    candles, signals = data()
    free, ruled = Ledger(tmp_path / "a.sqlite"), Ledger(tmp_path / "b.sqlite")
    run(free, Account(name="a"), candles, signals)
    run(ruled, Account(name="a", risk=RiskRules(cooldown_after_losses=1,
                                                cooldown_minutes=600)), candles, signals)
    everything, fewer = free.positions("a"), ruled.positions("a")
    assert len(fewer) < len(everything)
    refused = ruled.rows("orders", "a")
    assert (refused["kind"] == "refused").any()
    assert refused.loc[refused["kind"] == "refused", "reason"].str.contains("loss").all()
