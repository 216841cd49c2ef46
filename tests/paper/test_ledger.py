"""The ledger: append-only with stable ids; a ``kill -9`` at any point between deciding,
recording and returning, then a restart, leaves exactly the ledger of an uninterrupted run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from engine.backtest.simulate import Costs, Sizing
from engine.paper.account import Account
from engine.paper.follow import on_bars
from engine.paper.ledger import CRASH_ENV, Entry, Ledger, position_id, stable_id
from tests.backtest.test_no_lookahead import make_signals, random_bars

COSTS, SIZING = Costs(5, 3), Sizing("risk_percent", 1.0)


def follow_history(path: Path) -> None:
    """Replay 160 bars with 40 signals to the account "crash", four bars per call."""
    candles = random_bars(21, 160)
    drawn = [(x / 40, 1 if x % 3 else -1, x % 4 == 0, 0.003, 0.008, 0.016, 5, x % 5, np.nan,
              0.7 if x % 2 else np.nan) for x in range(40)]
    signals = make_signals(candles, drawn)
    account = Account(name="crash", starting_balance=25_000)
    with Ledger(path) as ledger:
        for cut in range(4, 161, 4):
            shown = candles.iloc[:cut]
            on_bars(ledger, account, shown, signals[signals["known_at"] <= shown.index[-1]],
                    timeframe="15m", costs=COSTS, sizing=SIZING)


def killed_run(path: Path, point: str, nth: int) -> int:
    """`follow_history` in a child process told to SIGKILL itself at `point`; its status."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child dies or exits here
        os.environ[CRASH_ENV], os.environ["ITA_PAPER_CRASH_NTH"] = point, str(nth)
        try:
            follow_history(path)
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    return status


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("whole") / "paper.sqlite"
    follow_history(path)
    snapshot = Ledger(path).snapshot("crash")
    assert len(snapshot["fills"]) > 10  # enough trades to crash between
    return snapshot


@pytest.mark.parametrize("point", ["follow:decided", "ledger:inside_transaction",
                                   "follow:recorded"])
@pytest.mark.parametrize("nth", [2, 15])
def test_a_kill_at_each_point_then_a_restart_gives_the_same_ledger(tmp_path, uninterrupted,
                                                                   point, nth) -> None:
    path = tmp_path / "paper.sqlite"
    status = killed_run(path, point, nth)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert Ledger(path).snapshot("crash") != uninterrupted  # the crash did cut the run short
    follow_history(path)  # the restart: the same bars again, from the start
    assert Ledger(path).snapshot("crash") == uninterrupted


def test_the_same_entry_twice_is_one_row(tmp_path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    entry = Entry("fills", "entry", "a", "s@v1:X:t:long", "2024-01-01T00:15:00.000000Z",
                  {"price": 100.0, "size": 2.0, "fee": 0.1})
    assert ledger.append([entry]) == 1
    assert ledger.append([entry, entry]) == 0
    rows = ledger.rows("fills", "a")
    assert len(rows) == 1 and rows["id"].iloc[0] == entry.id
    assert rows["position_id"].iloc[0] == position_id("a", "s@v1:X:t:long")
    # the id is the account, signal, table, kind and bar: another account is another row
    assert entry.id == stable_id("a", "s@v1:X:t:long", "fills", "entry",
                                 "2024-01-01T00:15:00.000000Z")
    other = Entry("fills", "entry", "b", entry.signal_id, entry.at, entry.values)
    assert ledger.append([other]) == 1


def test_a_half_written_call_leaves_nothing(tmp_path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    good = Entry("balance", "fee", "a", "s", "t", {"amount": -1.0})
    bad = Entry("nosuchtable", "x", "a", "s", "t", {})
    with pytest.raises(KeyError):
        ledger.append([good, bad])
    assert ledger.rows("balance", "a").empty
    assert ledger.balance("a", 100.0) == 100.0
