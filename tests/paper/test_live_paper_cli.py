"""`ita live status` says which paper accounts the live monitor follows."""

from __future__ import annotations

import ccxt
import pandas as pd
from typer.testing import CliRunner

from engine.cli import app
from engine.live.evaluate import LiveEvaluator
from engine.live.monitor import LiveMonitor
from engine.paper.account import Account, AccountStore
from engine.settings import Settings
from engine.setups.store import SetupStore
from tests.paper.test_live_paper import SETUP

runner = CliRunner()


def test_live_status_names_the_paper_accounts_followed_live(ita_home) -> None:
    SetupStore(ita_home / "setups").save(SETUP)
    store = AccountStore(ita_home)
    store.create(Account(name="prop", follow=["sma-a"]))
    store.create(Account(name="hand", follow=["sma-a"], mode="taken"))
    store.create(Account(name="idle", follow=["gone"]))
    monitor = LiveMonitor(Settings(home=ita_home, live_exchange="binance"),
                          exchange=ccxt.binance(), telegram=None,
                          evaluator=LiveEvaluator(ita_home), updates=False)
    try:
        monitor.refresh_setups(pd.Timestamp.now(tz="UTC"))
        monitor.write_state()
    finally:
        monitor.close()
    output = runner.invoke(app, ["live", "status"]).output
    assert "paper (live): prop follows sma-a" in output
    assert "paper (live): hand follows sma-a (only the alerts marked Taken)" in output
    assert "idle" not in output
