"""Drive paper accounts from closed bars with the backtester's fills.

**One implementation of the fills.** `on_bars` does not fill orders itself: it runs
`engine.backtest.simulate` (the backtester's kernel) over the account's open *window* — the
closed bars since its last closed position on that symbol (or since the start), from the
balance that position left — and appends to the ledger what those bars have decided:

- a trade the simulation opened: its order (at the signal bar), its entry fill, the entry fee
  and an ``open`` position event;
- a trade the simulation closed by its plan (stop, target, time, breakeven; a partial exit is
  recorded with the exit, at the exit bar): its partial and exit fills, a ``closed`` position
  event with the trade's R gross/net, fees and slippage, and the balance change;
- a trade still open at the last closed bar (the simulation's ``end``): only its opening.

Because the backtester's trades begun or ended by bar t never depend on bars after t, feeding
the bars in any chunks — a year at once, a day at a time, one bar at a time — appends the same
rows as one backtest of the whole history: **paper equals backtest**, the property
tests/paper/test_parity*.py prove. Sizing is the backtester's (risk % of the balance, notional
capped at the balance) with the account's balance as the equity, so the money matches too.

Only closed bars count: with `now`, bars that have not closed by then are ignored; 1m candles
used to resolve ambiguous bars are cut at the last closed bar's close.

Closing by hand (`close`) books the exit at the price and time given and moves the window
past it; from then on the account differs from the backtest, as a trader's hand does.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.candles import timeframe_delta
from engine.errors import DataError
from engine.paper.account import Account
from engine.paper.kill import KillState
from engine.paper.ledger import Entry, Ledger, crash_point, iso
from engine.paper.risk import AccountState, NewsEvent, OpenPosition, Proposal, check
from engine.signals import SIGNAL_COLUMNS, conform_signals


@dataclasses.dataclass(frozen=True)
class FollowResult:
    """What one `on_bars` call did: rows appended, trades closed and open in its window."""

    appended: int
    closed: int
    open: int
    counters: dict[str, int]


def signal_id(row) -> str:
    """The stable id of a signal: setup@vN:symbol:known_at:long|short."""
    side = "long" if int(row.direction) > 0 else "short"
    return f"{row.setup_id}@v{int(row.setup_version)}:{row.symbol}:{iso(row.known_at)}:{side}"


def _cursor(ledger: Ledger, account: Account, symbol: str, setups: set[str]
            ) -> tuple[pd.Timestamp | None, float]:
    """Where the window starts: the last closed position of `setups` on `symbol` (its exit
    bar and the balance it left), else the beginning with the starting balance."""
    closed = ledger.rows("positions", account.name)
    closed = closed[(closed["kind"] == "closed") & (closed["symbol"] == symbol)
                    & closed["setup_id"].isin(setups)]
    if closed.empty:
        return None, float(account.starting_balance)
    last = closed.iloc[-1]
    return pd.Timestamp(last["at"]), ledger.balance(account.name, account.starting_balance,
                                                    until=last["at"])


def _closed_bars(candles: pd.DataFrame, timeframe: str, now) -> pd.DataFrame:
    if now is None:
        return candles
    cut = pd.Timestamp(now) - timeframe_delta(timeframe)
    return candles[candles.index <= cut]


def on_bars(ledger: Ledger, account: Account, candles: pd.DataFrame, signals: pd.DataFrame, *,
            timeframe: str, costs: Costs, sizing: Sizing,
            lower_candles: pd.DataFrame | None = None, now=None,
            gap_entry: str = "fill", kill_switch: KillState | None = None,
            news: tuple[NewsEvent, ...] = ()) -> FollowResult:
    """Advance `account` on one symbol's closed `candles` (any history that reaches back to
    the account's last closed position; more is ignored) and the `signals` known on them.

    >>> on_bars(ledger, account, candles, signals, timeframe="15m",
    ...         costs=Costs(5, 2), sizing=Sizing("risk_percent", 0.5))  # doctest: +SKIP
    FollowResult(appended=4, closed=1, open=0, counters={...})
    """
    candles = _closed_bars(candles, timeframe, now)
    if candles.empty:
        return FollowResult(0, 0, 0, {})
    signals = conform_signals(signals) if len(signals) else signals.reindex(
        columns=list(SIGNAL_COLUMNS))
    symbols = set(signals["symbol"])
    if len(symbols) > 1:
        raise DataError(f"on_bars takes one symbol's signals, got {sorted(symbols)}")
    symbol = symbols.pop() if symbols else None
    if symbol is None:
        return FollowResult(0, 0, 0, {})
    start, balance = _cursor(ledger, account, symbol, set(signals["setup_id"]))
    if start is not None:
        candles = candles[candles.index >= start]
        signals = signals[signals["known_at"] >= start].reset_index(drop=True)
    if candles.empty:
        return FollowResult(0, 0, 0, {})
    if lower_candles is not None:
        lower_candles = lower_candles[lower_candles.index < candles.index[-1]
                                      + timeframe_delta(timeframe)]
    kinds = {signal_id(row): row.entry_type for row in signals.itertuples(index=False)}
    appended = 0
    while True:  # book trade by trade: the limits judge each new one on the ledger before it
        refused = _refused(ledger, account.name)
        ids = signals.apply(signal_id, axis=1) if len(signals) else pd.Series([], dtype=object)
        signals = signals[~ids.isin(refused)].reset_index(drop=True)
        result = simulate(candles, signals, costs=costs, sizing=sizing, initial_equity=balance,
                          lower_candles=lower_candles, gap_entry=gap_entry)
        groups = _entries(account.name, result.trades, result.equity["equity"], balance,
                          costs.fee_bps / 1e4, kinds)
        new, refusal = _first_new(ledger, account, result.trades, timeframe, kill_switch, news)
        crash_point("follow:decided")
        if refusal is not None:
            appended += ledger.append([refusal])
            continue
        booked = groups if new is None else groups[:new + 1]
        appended += ledger.append([entry for group in booked for entry in group])
        crash_point("follow:recorded")
        if new is None:
            break
    ended = int((result.trades["exit_reason"] == "end").sum())
    return FollowResult(appended, len(result.trades) - ended, ended, result.counters)


def _entries(account: str, trades: pd.DataFrame, equity: pd.Series, cash: float,
             fee: float, kinds: dict[str, str]) -> list[list[Entry]]:
    """The ledger rows of each trade, trade by trade."""
    out: list[list[Entry]] = []
    for trade in trades.itertuples(index=False):
        sid = signal_id(_Keyed(trade))
        entry_fee = trade.size * trade.entry_price * fee  # the kernel's own expression
        cash_in = cash - entry_fee
        at_entry = iso(trade.entry_time)
        common = {"symbol": trade.symbol, "setup_id": trade.setup_id,
                  "direction": int(trade.direction)}
        rows = [
            Entry("orders", kinds.get(sid, "market"), account, sid, iso(trade.signal_time),
                  {**common, "setup_version": int(trade.setup_version),
                   "price": trade.entry_price, "stop": trade.stop_price,
                   "target": trade.target_price}),
            Entry("fills", "entry", account, sid, at_entry,
                  {"price": trade.entry_price, "size": trade.size, "fee": entry_fee}),
            Entry("balance", "fee", account, sid, at_entry, {"amount": -entry_fee}),
            Entry("positions", "open", account, sid, at_entry,
                  {**common, "signal_time": iso(trade.signal_time), "entry_time": at_entry,
                   "entry_price": trade.entry_price, "size": trade.size,
                   "stop": trade.stop_price, "target": trade.target_price}),
        ]
        if trade.exit_reason != "end":  # else still open at the last closed bar
            rows += _exit_entries(account, sid, trade, cash_in,
                                  float(equity.loc[trade.exit_time]))
            cash = float(equity.loc[trade.exit_time])
        out.append(rows)
    return out


def _refused(ledger: Ledger, account: str) -> set[str]:
    orders = ledger.rows("orders", account)
    return set(orders.loc[orders["kind"] == "refused", "signal_id"])


def _first_new(ledger: Ledger, account: Account, trades: pd.DataFrame, timeframe: str,
               kill_switch, news) -> tuple[int | None, Entry | None]:
    """The first trade of `trades` the ledger does not hold yet (its position), and, when the
    account's limits refuse it at its signal bar's close, a ``refused`` order row naming the
    reason (None when allowed)."""
    known = set(ledger.rows("positions", account.name)["signal_id"])
    for number, trade in enumerate(trades.itertuples(index=False)):
        sid = signal_id(_Keyed(trade))
        if sid in known:
            continue
        at = pd.Timestamp(trade.signal_time) + timeframe_delta(timeframe)
        state = account_state(ledger, account, at)
        verdict = check(account.risk, state, Proposal(symbol=trade.symbol, risk=trade.risk),
                        at.to_pydatetime(), news=news, kill_switch=kill_switch)
        if verdict.allowed:
            return number, None
        return number, Entry("orders", "refused", account.name, sid, iso(trade.signal_time),
                             {"symbol": trade.symbol, "setup_id": trade.setup_id,
                              "setup_version": int(trade.setup_version),
                              "direction": int(trade.direction), "price": trade.entry_price,
                              "stop": trade.stop_price, "target": trade.target_price,
                              "reason": verdict.reason})
    return None, None


def account_state(ledger: Ledger, account: Account, at: pd.Timestamp) -> AccountState:
    """What the limits see at `at` (aware): balance from the ledger's changes up to then,
    open positions at their stop risk, the run of losses. Open P&L is not marked (the
    equity is the balance), so the daily loss counts closed trades and fees."""
    from engine.paper.risk import trading_day_start

    start = float(account.starting_balance)
    money = ledger.rows("balance", account.name)
    money = money[money["at"] <= iso(at)]
    path = start + money.sort_values("at", kind="stable")["amount"].cumsum()
    balance = float(path.iloc[-1]) if len(path) else start
    day = trading_day_start(account.risk, at.to_pydatetime())
    day_equity = float(start + money.loc[money["at"] <= iso(day), "amount"].sum())
    positions = ledger.positions(account.name)
    moment = iso(at)
    opened = positions[(positions["entry_time"] <= moment)
                       & ~(positions["exit_time"].fillna("~") <= moment)] \
        if len(positions) else positions
    closed = positions[positions["exit_time"].fillna("~") <= moment] if len(positions) \
        else positions
    closed = closed.sort_values("exit_time", kind="stable") if len(closed) else closed
    losses, last_loss = 0, None
    for row in reversed(list(closed.itertuples(index=False))):
        if row.pnl >= 0:
            break
        losses += 1
        last_loss = last_loss or pd.Timestamp(row.exit_time).to_pydatetime()
    return AccountState(
        balance=balance, equity=balance,
        equity_high=max(start, float(path.max()) if len(path) else start),
        start_balance=start, day_start_equity=day_equity, day_start=day,
        open_positions=tuple(OpenPosition(r.symbol, abs(r.entry_price - r.stop) * r.size)
                             for r in opened.itertuples(index=False)),
        consecutive_losses=losses, last_loss_at=last_loss)


@dataclasses.dataclass(frozen=True)
class _Keyed:
    """A trade row seen as the signal it came from (for `signal_id`)."""

    trade: object

    def __getattr__(self, name: str):
        return getattr(self.trade, "signal_time" if name == "known_at" else name)


def _exit_entries(account: str, sid: str, trade, cash_in: float, cash_out: float
                  ) -> list[Entry]:
    at = iso(trade.exit_time)
    out = []
    if not np.isnan(trade.partial_price):
        out.append(Entry("fills", "partial", account, sid, at,
                         {"price": trade.partial_price, "reason": "partial"}))
    out += [
        Entry("fills", "exit", account, sid, at,
              {"price": trade.exit_price, "reason": trade.exit_reason}),
        Entry("positions", "closed", account, sid, at,
              {"symbol": trade.symbol, "setup_id": trade.setup_id,
               "direction": int(trade.direction), "exit_price": trade.exit_price,
               "exit_reason": trade.exit_reason, "risk": trade.risk, "pnl": trade.pnl,
               "fees": trade.fees, "slippage": trade.slippage, "r_gross": trade.r_gross,
               "r_net": trade.r_net}),
        Entry("balance", "pnl", account, sid, at,
              {"amount": cash_out - cash_in}),
    ]
    return out


def close(ledger: Ledger, account: Account, position: str, *, price: float, at, fee_bps: float,
          ) -> float:
    """Close an open position by hand at `price` (time `at`); returns its P&L after fees.

    The exit pays `fee_bps` like any exit and no slippage (the price given is the fill)."""
    opened = ledger.open_positions(account.name)
    match = opened[opened["position_id"] == position] if len(opened) else opened
    if match.empty:
        known = ", ".join(opened["position_id"]) if len(opened) else "none open"
        raise DataError(f"paper account {account.name!r}: no open position {position!r} "
                        f"({known})")
    row = match.iloc[0]
    d, size, fill = int(row["direction"]), float(row["size"]), float(row["entry_price"])
    exit_fee = size * price * fee_bps / 1e4
    entry_fee = size * fill * fee_bps / 1e4
    pnl_gross = size * (price - fill) * d
    risk = abs(fill - float(row["stop"])) * size
    pnl = pnl_gross - entry_fee - exit_fee
    cash_in = 0.0  # only the change is booked: the P&L less the exit fee
    cash_out = pnl_gross - exit_fee
    trade = pd.Series({"exit_time": pd.Timestamp(at), "partial_price": np.nan,
                       "exit_price": float(price), "exit_reason": "manual",
                       "symbol": row["symbol"], "setup_id": row["setup_id"], "direction": d,
                       "risk": risk, "pnl": pnl, "fees": entry_fee + exit_fee, "slippage": 0.0,
                       "r_gross": pnl_gross / risk if risk else np.nan,
                       "r_net": pnl / risk if risk else np.nan})
    ledger.append(_exit_entries(account.name, row["signal_id"], trade, cash_in, cash_out))
    return pnl


def taken_only(signals: pd.DataFrame, journal_file: str | Path) -> pd.DataFrame:
    """The rows of `signals` the trader marked **Taken** in the live journal at
    `journal_file` (matched on setup, version, symbol, bar and direction)."""
    if not len(signals) or not Path(journal_file).exists():
        return signals.iloc[0:0]
    with sqlite3.connect(f"file:{journal_file}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT setup_id, setup_version, symbol, known_at, direction "
                          "FROM signals WHERE decision = 'Taken'").fetchall()
    taken = {(s, int(v), sym, iso(t), int(d)) for s, v, sym, t, d in rows}
    keep = [(r.setup_id, int(r.setup_version), r.symbol, iso(r.known_at), int(r.direction))
            in taken for r in signals.itertuples(index=False)]
    return signals[np.array(keep, dtype=bool)].reset_index(drop=True)


def equity(ledger: Ledger, account: Account, marks: dict[str, float]) -> float:
    """Balance plus the open positions valued at `marks` (symbol -> last close)."""
    cash = ledger.balance(account.name, account.starting_balance)
    opened = ledger.open_positions(account.name)
    for row in opened.itertuples(index=False):
        mark = marks.get(row.symbol)
        if mark is not None:
            cash += row.size * (mark - row.entry_price) * row.direction
    return cash


def terms(account: Account, setup) -> tuple[Costs, Sizing]:
    """The costs and sizing `account` trades `setup` with: the account's own where it sets
    them, else the setup's (as `ita backtest` uses them)."""
    costs = account.costs or setup.costs
    percent = account.risk_percent or setup.risk.percent
    return Costs(costs.fee_bps, costs.slippage_bps), Sizing("risk_percent", percent)


@dataclasses.dataclass(frozen=True)
class Replay:
    """An account run over stored history next to the backtest of the same signals."""

    account: str
    setup: str
    symbol: str
    bars: int
    signals: int
    paper: pd.DataFrame  # the account's positions from this replay
    backtest: pd.DataFrame  # `simulate`'s trades of the same signals
    same: bool  # same trades: times, prices, reasons, R gross/net (and fees when `alone`)
    alone: bool  # the account trades only this setup: its money must match the backtest's


def replay(home: str | Path, name: str, setup_ref: str, *, start=None, end=None,
           chunk_bars: int = 96, candle_store=None, setup_store=None) -> Replay:
    """Run account `name` over the stored history of `setup_ref` (its first symbol), feeding
    `chunk_bars` closed bars per step as the live feed would, and backtest the same signals
    from the same balance: the parity a trader can check (`ita paper replay`)."""
    from engine.adapters.store import CandleStore
    from engine.backtest.run import _lower_candles, simulate_signals
    from engine.live.journal import journal_path
    from engine.paper.account import AccountStore
    from engine.paper.ledger import ledger_path
    from engine.pipeline import detect_setup

    account = AccountStore(home).load(name)
    candle_store = candle_store or CandleStore.from_settings()
    found = detect_setup(setup_ref, start=start, end=end, candle_store=candle_store,
                         setup_store=setup_store)
    setup, candles, signals = found.version.setup, found.candles, found.signals
    if account.mode == "taken":
        signals = taken_only(signals, journal_path(home))
    costs, sizing = terms(account, setup)
    timeframe = setup.market.timeframe
    lower = _lower_candles(candle_store, found.symbol, timeframe, candles.index[0],
                           candles.index[-1] + timeframe_delta(timeframe))
    with Ledger(ledger_path(home)) as ledger:
        for cut in [*range(chunk_bars, len(candles), chunk_bars), len(candles)]:
            shown = candles.iloc[:cut]
            on_bars(ledger, account, shown, signals[signals["known_at"] <= shown.index[-1]],
                    timeframe=timeframe, costs=costs, sizing=sizing, lower_candles=lower)
        paper = ledger.positions(account.name)
    ledger_setups = set(paper["setup_id"]) if len(paper) else set()
    if len(paper):  # this setup's positions on this symbol whose signals fall in the range
        when = pd.to_datetime(paper["signal_time"])
        paper = paper[(paper["setup_id"] == setup.id) & (paper["symbol"] == found.symbol)
                      & (when >= candles.index[0]) & (when <= candles.index[-1])
                      ].reset_index(drop=True)
    result, _, _ = simulate_signals(setup, candles, signals, symbol=found.symbol,
                                    candle_store=candle_store, costs=costs, sizing=sizing,
                                    initial_equity=account.starting_balance)
    alone = set(ledger_setups) <= {setup.id}  # else sizes follow the whole account's balance
    return Replay(account.name, setup.id, found.symbol, len(candles), len(signals), paper,
                  result.trades, same_trades(paper, result.trades, money=alone), alone)


_COMPARED = ["entry_price", "exit_price", "fees", "r_gross", "r_net"]


def same_trades(paper: pd.DataFrame, backtest: pd.DataFrame, *, money: bool = True) -> bool:
    """Do the account's closed positions equal the backtest's trades closed by the rules
    (times, prices, reasons, R gross and net, and with `money` the fees; to 1e-9 relative)?
    An account following several setups sizes each trade on its whole balance, so only the
    money of a single-setup account can match its backtest's."""
    closed = paper[paper["status"] == "closed"].reset_index(drop=True)
    rules = backtest[backtest["exit_reason"] != "end"].reset_index(drop=True)
    if len(closed) != len(rules):
        return False
    if not len(rules):
        return True
    times = (list(pd.to_datetime(closed["entry_time"])) == list(rules["entry_time"])
             and list(pd.to_datetime(closed["exit_time"])) == list(rules["exit_time"]))
    reasons = list(closed["exit_reason"]) == list(rules["exit_reason"])
    compared = _COMPARED if money else [c for c in _COMPARED if c != "fees"]
    numbers = all(np.allclose(closed[c].to_numpy(float), rules[c].to_numpy(float), rtol=1e-9,
                              atol=1e-9, equal_nan=True) for c in compared)
    return bool(times and reasons and numbers)


def status(ledger: Ledger, account: Account, *, marks: dict[str, float] | None = None,
           today=None) -> dict:
    """Balance, equity (open positions at `marks`), open positions and today's P&L (UTC day
    of `today`, default now) of `account`."""
    marks = marks or {}
    day = pd.Timestamp(today or pd.Timestamp.now(tz="UTC")).tz_convert("UTC").normalize()
    money = ledger.rows("balance", account.name)
    today_pnl = float(money.loc[pd.to_datetime(money["at"]) >= day, "amount"].sum()) \
        if len(money) else 0.0
    positions = ledger.positions(account.name)
    closed = positions[positions["status"] == "closed"] if len(positions) else positions
    return {"account": account.name, "currency": account.currency,
            "starting_balance": account.starting_balance,
            "balance": ledger.balance(account.name, account.starting_balance),
            "equity": equity(ledger, account, marks), "today_pnl": today_pnl,
            "open": ledger.open_positions(account.name), "closed_trades": len(closed)}
