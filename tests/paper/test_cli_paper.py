"""`ita paper`: create, list, follow, replay over the demo data (paper equals backtest),
status and closing by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.store import CandleStore
from engine.backtest.run import run_backtest
from engine.cli import app
from engine.demo import EXAMPLES_DIR
from engine.errors import ItaError
from engine.paper.account import AccountStore
from engine.paper.ledger import Ledger, ledger_path
from engine.setups.store import SetupStore

runner = CliRunner()
DAYS = pd.Timestamp("2023-03-01", tz="UTC"), pd.Timestamp("2023-03-04", tz="UTC")


@pytest.fixture()
def home(ita_home, demo_candles):
    """The demo's candles for four days (1m) and the example setups."""
    CandleStore(ita_home / "data" / "candles").upsert(
        demo_candles.loc[DAYS[0]:DAYS[1]], source="binance", symbol="BTC/USDT",
        timeframe="1m")
    SetupStore(ita_home / "setups").seed_examples(EXAMPLES_DIR)
    return ita_home


def ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


def test_replay_on_the_demo_data_books_the_backtests_trades(home) -> None:
    ok(["paper", "create", "prop-1", "--balance", "50000", "--follow", "sma-cross"])
    out = ok(["paper", "replay", "prop-1", "--from", "2023-03-01", "--to", "2023-03-03",
              "--chunk", "45"])
    assert "same trades" in " ".join(out.split())
    with Ledger(ledger_path(home)) as ledger:
        paper = ledger.positions("prop-1")
        balance = ledger.balance("prop-1", 50_000)
    backtest = run_backtest("sma-cross", start="2023-03-01", end="2023-03-03",
                            initial_equity=50_000).result
    rules = backtest.trades[backtest.trades["exit_reason"] != "end"]
    closed = paper[paper["status"] == "closed"]
    assert len(closed) == len(rules) >= 3
    assert list(closed["exit_reason"]) == list(rules["exit_reason"])
    assert closed["r_net"].to_numpy() == pytest.approx(rules["r_net"].to_numpy(), abs=1e-9)
    assert closed["fees"].sum() == pytest.approx(rules["fees"].sum(), rel=1e-9)
    if (backtest.trades["exit_reason"] == "end").any():
        open_fee = paper[paper["status"] == "open"]
        assert len(open_fee) == 1
    else:
        assert balance == pytest.approx(backtest.equity["equity"].iloc[-1], rel=1e-9)
    listed = " ".join(ok(["paper", "list"]).split())
    assert "prop-1" in listed and "sma-cross" in listed
    # replaying the same days again books nothing new
    again = Ledger(ledger_path(home)).snapshot("prop-1")
    ok(["paper", "replay", "prop-1", "--from", "2023-03-01", "--to", "2023-03-03"])
    assert Ledger(ledger_path(home)).snapshot("prop-1") == again


def test_status_and_closing_by_hand(home) -> None:
    ok(["paper", "create", "hand", "--balance", "10000"])
    ok(["paper", "follow", "hand", "sma-cross"])
    assert AccountStore(home).load("hand").follow == ["sma-cross"]
    ok(["paper", "replay", "hand", "--from", "2023-03-01", "--to", "2023-03-02"])
    with Ledger(ledger_path(home)) as ledger:
        opened = ledger.open_positions("hand")
        before = ledger.balance("hand", 10_000)
    status = " ".join(ok(["paper", "status", "hand"]).split())
    assert "balance" in status and "equity" in status and "today" in status
    if len(opened):  # the replay ended with a position open: close it by hand
        pid = opened["position_id"].iloc[0]
        out = ok(["paper", "close", "hand", pid, "--price", "23500"])
        assert f"closed {pid}" in out
        with Ledger(ledger_path(home)) as ledger:
            assert ledger.open_positions("hand").empty
            row = ledger.positions("hand").set_index("position_id").loc[pid]
            assert row["exit_reason"] == "manual" and row["exit_price"] == 23500
            assert ledger.balance("hand", 10_000) == pytest.approx(
                before + row["pnl"] + row["size"] * row["entry_price"] * 5 / 1e4)
    out = ok(["paper", "close", "hand", "--all", "--price", "23500"])
    assert "no open positions" in out


def test_user_errors_are_one_line(home) -> None:
    ok(["paper", "create", "a1"])
    ok(["paper", "create", "prop-a"])
    for args, words in [
        (["paper", "create", "a1"], "exists already"),
        (["paper", "create", "../x"], "account name"),
        (["paper", "status", "prop-b"], "did you mean 'prop-a'"),
        (["paper", "follow", "a1", "no-such-setup"], "no setup"),
        (["paper", "replay", "a1"], "follows no setup"),
        (["paper", "close", "a1", "p-nothing", "--price", "1"], "no open position"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code != 0
        assert isinstance(result.exception, ItaError), result.exception  # one red line
        assert words in str(result.exception), args


def test_an_account_of_two_setups_matches_each_backtest_in_r(home) -> None:
    ok(["paper", "create", "two", "--follow", "bos-order-block-retest", "--follow",
        "sma-cross"])
    out = " ".join(ok(["paper", "replay", "two", "--from", "2023-03-01", "--to", "2023-03-03",
                       "--chunk", "200"]).split())
    assert out.count("same trades") == 2
    assert "in R: sizes follow the whole account" in out  # the second setup's money differs
