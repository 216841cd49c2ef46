"""Optional real execution: a paper account's orders also sent to the exchange through ccxt.

**Off by default.** An `Executor` exists only for an account whose file says
``execution: live``, in a process started with ``ITA_ALLOW_LIVE=1`` in its environment (a
``.env`` line does not count, on purpose) and with ``ITA_EXCHANGE_API_KEY`` /
``ITA_EXCHANGE_SECRET`` set; otherwise it is refused in one line before any request. The keys
are `SecretStr` and never logged. docs/EXECUTION.md is the trader's page.

The exchange is reached only through `engine.adapters.binance_orders.BinanceSpot` (ccxt's
``create_order`` with ``newClientOrderId``, ``fetch_order`` by ``origClientOrderId``,
``fetch_open_orders``, ``fetch_balance``), which translates ccxt's errors at that boundary.

Every order goes through these steps, each written to the ledger's ``exchange`` table
(append-only, stable ids, like the rest of the ledger):

| kind       | when                                                                  |
| ---------- | --------------------------------------------------------------------- |
| intent     | before anything is sent; its id (from account, signal id and role:    |
|            | entry or exit) gives the **client order id** ``ita-<24 hex>``         |
|            | (Binance allows 36 of ``[.A-Z:/a-z0-9_-]``)                           |
| refused    | the kill switch or a risk limit stopped it; nothing was sent          |
| answer     | the exchange's view of the order (status, filled, remaining, average),|
|            | once per distinct (status, filled): partial fills are recorded as     |
|            | they come                                                             |
| rejected   | the exchange refused it (its reason, e.g. insufficient balance)       |
| missing    | looked up after a timeout and not found at the exchange               |
| difference | reconciliation found the exchange and the ledger apart (in words)     |
| live_on    | the first time an `Executor` was made for the account: positions the  |
|            | paper ledger booked before then are never sent                        |

- **No order is ever sent twice.** An intent that has no answer (a timeout, a dropped
  connection, a crash after sending) is *looked up* by its client id, never sent again;
  "Duplicate order sent" from the exchange is looked up too. An intent found ``missing`` is
  left for the trader (`reconcile` looks again); it is not re-sent.
- **Kill switch and limits last.** For an entry, `engine.paper.kill.state` and
  `engine.paper.risk.check` are asked after the intent is written and immediately before the
  order leaves (the paper position being sent is not counted against itself). Exits
  (closing what ITA opened) are never blocked: they reduce risk.
- **Stops and targets are managed by ITA on closed bars**, not resting at the exchange: when the
  paper ledger closes a position (stop, target, time, breakeven, by hand) the executor sends a
  market order closing what the exchange filled. Between bars nothing protects the position.
- **Timing**: the paper ledger books an entry once its fill bar has closed, so the real
  market order goes out then (one bar after the signal for a market entry; a paper limit fill
  is sent as a market order). A position opened and closed on paper before its entry could be
  sent is not sent at all.
- **Spot, long only**: a short signal is refused with its reason (Binance spot cannot sell
  what the account does not hold).
- **Reconciliation on start** (`reconcile`): pending intents are looked up; the exchange's open
  orders and balances are compared with the ledger; every difference is recorded and reported
  in words, never silently fixed.

>>> executor = Executor(settings, account, ledger)  # doctest: +SKIP
>>> executor.reconcile()  # doctest: +SKIP
['no differences: 2 orders agree with the exchange']
>>> executor.follow_ledger()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
from collections.abc import Callable, Iterable
from typing import Any, Literal

import pandas as pd

from engine.adapters.binance_orders import (
    AnswerLost,
    BinanceSpot,
    OrderRejected,
    OrderState,
    OrderUnknown,
    client,
    speaks_binance,
)
from engine.errors import ConfigurationError
from engine.paper import kill
from engine.paper.account import Account
from engine.paper.follow import account_state
from engine.paper.ledger import Entry, Ledger, crash_point, iso, stable_id
from engine.paper.risk import AccountState, Proposal, check

ALLOW_ENV = "ITA_ALLOW_LIVE"
ANSWERED = ("refused", "answer", "rejected")
OPEN = ("open",)


@dataclasses.dataclass(frozen=True)
class ExchangeEntry(Entry):
    """A row of the ``exchange`` table. Its id leaves the time out: (account, signal, kind,
    `key`) — one intent per (signal, role) whenever it is decided, one answer row per
    (status, filled) however often it is seen."""

    key: str = ""

    @property
    def id(self) -> str:
        return stable_id(self.account, self.signal_id, self.table, self.kind, self.key)


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    """One order the paper account decided: `role` entry (opens; risk-checked) or exit."""

    signal_id: str
    role: Literal["entry", "exit"]
    symbol: str
    side: Literal["buy", "sell"]
    amount: float
    at: str  # ISO UTC: when the paper account decided it
    type: Literal["market", "limit"] = "market"
    price: float | None = None
    risk: float = 0.0  # money lost at the stop (entries)
    skip: str = ""  # why it must not be sent (recorded as refused)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Where an order stands: `sent` tells whether this call sent it."""

    client_id: str
    status: str  # refused, rejected, open, closed, canceled, missing, unknown
    filled: float = 0.0
    reason: str = ""
    sent: bool = False


def require_live(settings: Any, account: Account) -> None:
    """Refuse (one line, `ConfigurationError`) unless real execution is switched on."""
    if account.execution != "live":
        raise ConfigurationError(f"paper account {account.name!r}: execution is 'paper'; "
                                 "set 'execution: live' in its file to send real orders")
    if os.environ.get(ALLOW_ENV) != "1":
        raise ConfigurationError(f"real orders are off: start ITA with {ALLOW_ENV}=1 in the "
                                 "environment to send paper account "
                                 f"{account.name!r}'s orders (docs/EXECUTION.md)")
    if not speaks_binance(settings.live_exchange):
        raise ConfigurationError(f"live_exchange {settings.live_exchange!r}: real orders speak "
                                 "Binance spot only (binance, binanceus); see "
                                 "docs/EXECUTION.md")
    if settings.exchange_api_key is None or settings.exchange_secret is None:
        raise ConfigurationError("real orders need ITA_EXCHANGE_API_KEY and ITA_EXCHANGE_SECRET "
                                 "in the environment or .env (docs/EXECUTION.md)")


def live_exchange(settings: Any):
    """The ccxt client of `settings.live_exchange` with the trader's keys."""
    return client(settings.live_exchange,
                  api_key=settings.exchange_api_key.get_secret_value(),
                  secret=settings.exchange_secret.get_secret_value())


class Executor:
    """Send `account`'s orders to the exchange, recording each step in `ledger`."""

    def __init__(self, settings: Any, account: Account, ledger: Ledger, *,
                 exchange=None, now=None) -> None:
        """`exchange`: a ccxt client (tests point one at the fake); default: `live_exchange`."""
        require_live(settings, account)
        self.settings, self.account, self.ledger = settings, account, ledger
        self.venue = BinanceSpot(exchange if exchange is not None else live_exchange(settings))
        self._now = now  # tests: a fixed clock (callable returning an aware time)
        self._record("live_on", {"signal_id": "live", "at": ""}, "first")  # kept once only

    def live_since(self) -> str:
        """When real execution was first switched on for this account (ISO UTC)."""
        rows = self.rows()
        return str(rows.loc[rows["kind"] == "live_on", "at"].iloc[0])

    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self._now() if self._now else dt.datetime.now(dt.UTC))

    # -- the ledger's view ------------------------------------------------------------------
    def rows(self) -> pd.DataFrame:
        return self.ledger.rows("exchange", self.account.name)

    def _record(self, kind: str, request_row: dict, key: str, **values) -> None:
        entry = ExchangeEntry("exchange", kind, self.account.name, request_row["signal_id"],
                              iso(self.now()) if kind != "intent" else request_row["at"],
                              {**{c: request_row.get(c) for c in (
                                  "role", "client_id", "symbol", "side", "type", "amount",
                                  "price")}, **values}, key=key)
        self.ledger.append([entry])

    def intent_row(self, request: OrderRequest) -> dict:
        intent = ExchangeEntry("exchange", "intent", self.account.name, request.signal_id,
                               request.at, {}, key=request.role)
        return {**dataclasses.asdict(request), "client_id": f"ita-{intent.id}"}

    def _last(self, client_id: str) -> pd.Series | None:
        rows = self.rows()
        rows = rows[(rows["client_id"] == client_id) & (rows["kind"] != "intent")]
        return rows.iloc[-1] if len(rows) else None

    # -- placing ----------------------------------------------------------------------------
    def place(self, request: OrderRequest) -> Outcome:
        """Send `request` once: recorded as intent first, checked last, looked up (never
        re-sent) when its answer is lost."""
        row = self.intent_row(request)
        cid = row["client_id"]
        rows = self.rows()
        if (rows["client_id"] == cid).any():
            last = self._last(cid)
            if last is not None and last["kind"] in ANSWERED:
                return self._outcome(last)
            return self.look_up(row)  # sent before, answer unknown: never sent again
        if request.role == "exit" and request.side == "sell":
            try:  # Binance takes a buy's fee from the coin bought: sell what is there
                held, _ = self.venue.holdings(request.symbol.split("/")[0])
            except AnswerLost as error:
                return Outcome(cid, "unknown", reason=str(error))  # nothing sent: next round
            if held < request.amount:
                request = dataclasses.replace(request, amount=held)
                row = {**row, "amount": held}
        self._record("intent", row, request.role)
        refusal = request.skip or self._refusal(request)
        if refusal:
            self._record("refused", row, "refused", reason=refusal)
            return Outcome(cid, "refused", reason=refusal)
        crash_point("execute:before_send")
        try:
            order = self.venue.place(request.symbol, request.side, request.amount,
                                     client_id=cid, type=request.type, price=request.price)
        except AnswerLost:  # a timeout, a reset, a duplicate: maybe placed; look, never resend
            return dataclasses.replace(self.look_up(row), sent=True)
        except OrderRejected as error:
            self._record("rejected", row, "rejected", reason=str(error), status="rejected")
            return Outcome(cid, "rejected", reason=str(error), sent=True)
        crash_point("execute:after_send")
        return dataclasses.replace(self._answer(row, order), sent=True)

    def _refusal(self, request: OrderRequest) -> str:
        if request.role != "entry":
            return ""
        if request.side == "sell":
            return "spot account: short entries are not sent (the account would sell what it " \
                   "does not hold)"
        now = self.now()
        state = self._state_without(account_state(self.ledger, self.account, now), request)
        verdict = check(self.account.risk, state,
                        Proposal(symbol=request.symbol, risk=request.risk),
                        now.to_pydatetime(), kill_switch=kill.state(self.settings))
        return "" if verdict.allowed else verdict.reason

    def _state_without(self, state: AccountState, request: OrderRequest) -> AccountState:
        """The paper ledger already holds the position being sent as open: the limits judge
        the real order as the paper account's check judged it, without it."""
        opened = self.ledger.open_positions(self.account.name)
        mine = opened[opened["signal_id"] == request.signal_id] if len(opened) else opened
        if mine.empty or mine["entry_time"].iloc[0] > iso(self.now()):
            return state  # not counted in `state`
        positions = list(state.open_positions)
        for number, position in enumerate(positions):
            if position.symbol == request.symbol and math.isclose(position.risk, request.risk):
                del positions[number]
                break
        return dataclasses.replace(state, open_positions=tuple(positions))

    def _answer(self, row: dict, order: OrderState) -> Outcome:
        self._record("answer", row, f"{order.status}:{order.filled:.12g}",
                     exchange_id=order.exchange_id, status=order.status, filled=order.filled,
                     remaining=order.remaining, average=order.average)
        return Outcome(row["client_id"], order.status, order.filled)

    @staticmethod
    def _outcome(last: pd.Series) -> Outcome:
        status = last["status"] if isinstance(last["status"], str) else last["kind"]
        return Outcome(last["client_id"], status, float(last["filled"] or 0.0),
                       last["reason"] if isinstance(last["reason"], str) else "")

    def look_up(self, row: dict) -> Outcome:
        """What the exchange knows of the order with `row`'s client id (recorded)."""
        try:
            order = self.venue.look_up(row["symbol"], row["client_id"])
        except OrderUnknown:
            reason = "not at the exchange after the answer was lost; not re-sent"
            self._record("missing", row, iso(self.now()), status="missing", reason=reason)
            return Outcome(row["client_id"], "missing", reason=reason)
        except AnswerLost as error:
            return Outcome(row["client_id"], "unknown", reason=str(error))
        return self._answer(row, order)

    def _intents(self) -> list[dict]:
        rows = self.rows()
        intents = rows[rows["kind"] == "intent"]
        cols = ["signal_id", "role", "client_id", "symbol", "side", "type", "amount", "price",
                "at"]
        return [dict(zip(cols, values, strict=True))
                for values in intents[cols].itertuples(index=False)]

    def refresh(self) -> list[Outcome]:
        """Look up every order the ledger holds as open: partial fills recorded as they come."""
        out = []
        for row in self._intents():
            last = self._last(row["client_id"])
            if last is not None and last["kind"] == "answer" and last["status"] in OPEN:
                out.append(self.look_up(row))
        return out

    # -- reconciliation ---------------------------------------------------------------------
    def reconcile(self) -> list[str]:
        """On start: look up pending intents and open orders, compare the exchange's open
        orders and balances with the ledger. Returns the report, one sentence a line."""
        lines: list[str] = []
        intents = self._intents()
        for row in intents:
            last = self._last(row["client_id"])
            if last is None or last["kind"] == "missing":
                outcome = self.look_up(row)
                lines.append(f"{row['client_id']} ({row['role']} {row['symbol']}) had no answer:"
                             f" {outcome.status}, {outcome.filled:g} filled")
        self.refresh()
        try:
            lines += self._foreign_orders(intents) + self._balances(intents)
        except AnswerLost as error:
            return [*lines, f"the exchange did not answer ({error}): open orders and balances "
                            "not compared; try again"]
        return lines or [f"no differences: {len(intents)} orders agree with the exchange"]

    def _difference(self, text: str) -> str:
        row = {"signal_id": "reconcile", "at": iso(self.now())}
        self._record("difference", row, text, reason=text)
        return text

    def _foreign_orders(self, intents: list[dict]) -> list[str]:
        known = {row["client_id"] for row in intents}
        out = []
        for symbol in sorted({row["symbol"] for row in intents}):
            for order in self.venue.open_orders(symbol):
                if order.client_id not in known:
                    out.append(self._difference(
                        f"open order {order.exchange_id} ({order.side} {order.amount:g} "
                        f"{symbol}) at the exchange is not in the ledger; left alone"))
        return out

    def _balances(self, intents: list[dict]) -> list[str]:
        held: dict[str, float] = {}
        for row in intents:
            last = self._last(row["client_id"])
            if last is None or last["kind"] != "answer":
                continue
            base = row["symbol"].split("/")[0]
            sign = 1.0 if row["side"] == "buy" else -1.0
            held[base] = held.get(base, 0.0) + sign * float(last["filled"] or 0.0)
        if not held:
            return []
        out = []
        for base, expected in sorted(held.items()):
            _, total = self.venue.holdings(base)
            if total + 1e-9 < expected:
                out.append(self._difference(
                    f"{base}: the ledger's fills leave {expected:g}, the exchange holds "
                    f"{total:g}; nothing changed"))
        return out

    # -- the paper account's orders ---------------------------------------------------------
    def requests(self) -> list[OrderRequest]:
        """The orders the paper ledger decided: each opened position's entry, and for each
        closed one the market order closing what the exchange filled. A position the paper
        account opened and closed before its entry was ever sent is not sent at all (a
        round trip would only pay fees): its entry is recorded refused, with the reason.
        Positions the paper ledger booked before real execution was first switched on for the
        account are left alone."""
        positions = self.ledger.positions(self.account.name)
        if len(positions):  # booked before real execution was first on: never sent
            positions = positions[positions["created_at"] >= self.live_since()]
        out = []
        for pos in positions.itertuples(index=False):
            side = "buy" if int(pos.direction) > 0 else "sell"
            entry = OrderRequest(pos.signal_id, "entry", pos.symbol, side, float(pos.size),
                                 pos.entry_time,
                                 risk=abs(float(pos.entry_price) - float(pos.stop))
                                 * float(pos.size))
            client_id = self.intent_row(entry)["client_id"]
            if pos.status == "closed" and not (self.rows()["client_id"] == client_id).any():
                out.append(dataclasses.replace(entry, skip=(
                    f"closed on paper ({pos.exit_reason}) before the real order could go out; "
                    "not sent")))
                continue
            out.append(entry)
            if pos.status != "closed":
                continue
            last = self._last(client_id)
            filled = float(last["filled"] or 0.0) if last is not None \
                and last["kind"] == "answer" else 0.0
            if filled > 0:
                out.append(OrderRequest(pos.signal_id, "exit", pos.symbol,
                                        "sell" if side == "buy" else "buy", filled,
                                        pos.exit_time))
        return out

    def follow_ledger(self) -> list[Outcome]:
        """Send what the paper ledger decided and the exchange has not seen yet."""
        return [self.place(request) for request in self.requests()]


def start(settings: Any, accounts: Iterable[Account], ledger: Ledger, *,
          exchange: Callable[[Any], Any] = live_exchange,
          ) -> tuple[dict[str, Executor], list[str]]:
    """On start of the process that follows the paper accounts: an `Executor` for each
    account with ``execution: live``, reconciled, and the report — one line per refused
    account and per reconciliation sentence, each naming its account. Call
    ``executors[name].follow_ledger()`` after each `engine.paper.follow.on_bars` of that
    account."""
    executors: dict[str, Executor] = {}
    lines: list[str] = []
    for account in accounts:
        if account.execution != "live":
            continue
        try:
            executor = Executor(settings, account, ledger, exchange=exchange(settings))
        except ConfigurationError as error:
            lines.append(f"{account.name}: {error}")
            continue
        executors[account.name] = executor
        lines += [f"{account.name}: {line}" for line in executor.reconcile()]
    return executors, lines
