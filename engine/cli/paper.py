"""`ita paper create|list|follow|status|close|replay`: paper accounts that follow setups with
the backtester's fills (`engine.paper`)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

console = Console()
paper_app = typer.Typer(help="Paper accounts: follow setups on paper, exactly as the backtest "
                             "would fill them.", no_args_is_help=True)


def _home():
    from engine.settings import get_settings

    return get_settings().home


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


@paper_app.command("create")
def create(name: str = typer.Argument(..., help="Account name (letters, digits, - _ .)"),
           balance: float = typer.Option(10_000.0, "--balance", help="Starting balance"),
           currency: str = typer.Option("USD", "--currency", help="Account currency"),
           follow: list[str] = typer.Option(None, "--follow", help="Setup id to follow "
                                                                   "(repeatable)"),
           taken: bool = typer.Option(False, "--taken", help="Follow only the alerts you mark "
                                                             "Taken")) -> None:
    """Create a paper account."""
    from engine.errors import ConfigurationError
    from engine.paper.account import Account, AccountStore

    try:
        account = Account(name=name, starting_balance=balance, currency=currency,
                          follow=list(follow or []), mode="taken" if taken else "auto")
    except ValueError as error:  # pydantic's ValidationError: one line, naming the field
        detail = error.errors()[0] if hasattr(error, "errors") else {"msg": str(error)}
        where = ".".join(str(p) for p in detail.get("loc", ()))
        raise ConfigurationError(f"paper account {where}: {detail['msg']}".replace(
            "Value error, ", "")) from None
    AccountStore(_home()).create(account)
    follows = ("taken alerts only" if taken
               else "following " + (", ".join(account.follow) or "nothing yet"))
    console.print(f"created paper account {name}: {_money(balance, currency)}, {follows}",
                  markup=False)


@paper_app.command("list")
def list_accounts() -> None:
    """The paper accounts and their balances."""
    from engine.paper.account import AccountStore
    from engine.paper.ledger import Ledger, ledger_path

    store = AccountStore(_home())
    table = Table("account", "balance", "open", "follows")
    with Ledger(ledger_path(_home())) as ledger:
        for name in store.names():
            account = store.load(name)
            table.add_row(name, _money(ledger.balance(name, account.starting_balance),
                                       account.currency),
                          str(len(ledger.open_positions(name))),
                          "taken alerts" if account.mode == "taken"
                          else ", ".join(account.follow) or "-")
    console.print(table)


@paper_app.command("follow")
def follow(name: str = typer.Argument(...), setup: str = typer.Argument(..., help="Setup id")
           ) -> None:
    """Follow one more setup."""
    from engine.errors import DataError
    from engine.paper.account import AccountStore
    from engine.setups.store import SetupStore

    if setup not in SetupStore.from_settings().ids():
        raise DataError(f"no setup {setup!r}; see `ita setup list`")
    account = AccountStore(_home()).follow(name, setup)
    console.print(f"{name} follows {', '.join(account.follow)}", markup=False)


def _marks(symbols) -> dict[str, float]:
    from engine.adapters.store import CandleStore
    from engine.errors import DataError

    store, marks = CandleStore.from_settings(), {}
    for symbol in symbols:
        try:
            marks[symbol] = float(store.read(symbol, "1m").iloc[-1]["close"])
        except (DataError, IndexError):
            continue
    return marks


@paper_app.command("status")
def status(name: str = typer.Argument(...)) -> None:
    """Balance, equity, open positions and today's P&L."""
    from engine.paper.account import AccountStore
    from engine.paper.follow import status as account_status
    from engine.paper.ledger import Ledger, ledger_path

    account = AccountStore(_home()).load(name)
    with Ledger(ledger_path(_home())) as ledger:
        opened = ledger.open_positions(name)
        marks = _marks(set(opened["symbol"])) if len(opened) else {}
        state = account_status(ledger, account, marks=marks)
    cur = account.currency
    console.print(f"{name}: balance {_money(state['balance'], cur)}, equity "
                  f"{_money(state['equity'], cur)}, today {state['today_pnl']:+,.2f} {cur}, "
                  f"{state['closed_trades']} closed trades", markup=False)
    table = Table("position", "symbol", "side", "entry time", "entry", "size", "stop",
                  "target", "mark")
    for row in state["open"].itertuples(index=False):
        table.add_row(row.position_id, row.symbol, "long" if row.direction > 0 else "short",
                      str(row.entry_time), f"{row.entry_price:g}", f"{row.size:.6g}",
                      f"{row.stop:g}", f"{row.target:g}",
                      f"{marks.get(row.symbol, float('nan')):g}")
    if len(state["open"]):
        console.print(table)


@paper_app.command("close")
def close(name: str = typer.Argument(...),
          position: str = typer.Argument(None, help="Position id (see `ita paper status`)"),
          all_: bool = typer.Option(False, "--all", help="Close every open position"),
          price: float = typer.Option(None, "--price", help="Exit price (default: the last "
                                                            "stored 1m close)")) -> None:
    """Close a position (or --all) by hand."""
    import pandas as pd

    from engine.errors import DataError
    from engine.paper.account import AccountStore
    from engine.paper.follow import close as close_position
    from engine.paper.ledger import Ledger, ledger_path

    if not all_ and not position:
        raise DataError("give a POSITION id or --all")
    account = AccountStore(_home()).load(name)
    fee = (account.costs.fee_bps if account.costs else 5.0)
    with Ledger(ledger_path(_home())) as ledger:
        opened = ledger.open_positions(name)
        chosen = list(opened["position_id"]) if all_ else [position]
        marks = _marks(set(opened["symbol"])) if len(opened) else {}
        for pid in chosen:
            row = opened[opened["position_id"] == pid]
            symbol = row["symbol"].iloc[0] if len(row) else None
            exit_price = price if price is not None else marks.get(symbol)
            if exit_price is None:
                raise DataError(f"no stored price for {symbol or pid}: give --price")
            pnl = close_position(ledger, account, pid, price=exit_price,
                                 at=pd.Timestamp.now(tz="UTC"), fee_bps=fee)
            console.print(f"closed {pid} at {exit_price:g}: {pnl:+,.2f} {account.currency}",
                          markup=False)
    if all_ and not chosen:
        console.print(f"{name}: no open positions", markup=False)


@paper_app.command("replay")
def replay(name: str = typer.Argument(...),
           setup: str = typer.Option(None, "--setup", help="Default: each setup it follows"),
           start: str = typer.Option(None, "--from", help="First day, e.g. 2023-03-01"),
           end: str = typer.Option(None, "--to", help="Day after the last (exclusive)"),
           chunk: int = typer.Option(96, "--chunk", help="Bars fed per step")) -> None:
    """Run the account over stored history and compare it with the backtest of the same
    signals (paper must equal backtest)."""
    from engine.errors import DataError
    from engine.paper.account import AccountStore
    from engine.paper.follow import replay as run_replay

    account = AccountStore(_home()).load(name)
    setups = [setup] if setup else account.follow
    if not setups:
        raise DataError(f"paper account {name!r} follows no setup: give --setup or "
                        f"`ita paper follow {name} SETUP`")
    differ = False
    for ref in setups:
        done = run_replay(_home(), name, ref, start=start, end=end, chunk_bars=chunk)
        closed = done.paper[done.paper["status"] == "closed"] if len(done.paper) else done.paper
        rules = done.backtest[done.backtest["exit_reason"] != "end"]
        console.print(f"{done.setup} on {done.symbol}: {done.bars} bars, {done.signals} "
                      f"signals; paper {len(closed)} trades "
                      f"({float(closed['pnl'].sum()) if len(closed) else 0.0:+,.2f}), backtest "
                      f"{len(rules)} trades ({float(rules['pnl'].sum()):+,.2f}): "
                      f"{'same trades' if done.same else 'DIFFERENT'}"
                      f"{'' if done.alone else ' (in R: sizes follow the whole account)'}",
                      markup=False)
        differ |= not done.same
    if differ:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(paper_app, name="paper")
