"""Paper accounts in the live monitor: followed on every evaluated close, exactly once.

The live monitor (`engine.live.monitor`) owns one `LivePaper`. On each evaluated close it calls
`LivePaper.on_close(frames, now)` *before* it records that close's new alerts, then asks
`caption_lines(signal)` for each new alert's "📒 Paper" lines:

- **follow**: for each account, each followed setup active on a watched series,
  `follow.on_bars` with the monitor's window (older bars from the candle store when the
  account's open window reaches further back), that setup's signals in the live journal since
  the account was created (only those marked **Taken** in ``taken`` mode), the kill switch
  and the news calendar;
- **kill**: while the kill switch is on with "close open positions", every open position on a
  series that just closed is closed at that bar's close (`follow.close`); a closed position
  stays closed and no new one opens while the switch is on, so this happens once;
- **follow-up**: a refusal booked for a signal whose caption did not say so (its alert already
  left) is sent as a short message;
- **nearing**: `risk.nearing` warnings are sent once per key; the keys sent are kept in
  ``.ita/paper/live.json`` (atomic), so a restart never repeats one.

Nothing here may stop the alerts: a failing account is logged once per distinct error and
skipped (`on_close` never raises an `ItaError` or a `sqlite3.Error`).

Exactly once: the ledger's stable ids make a close processed twice (a restart, a ``kill -9``
at any of the ledger's crash points) append nothing twice; the window always comes from the
ledger itself, never from memory.

Telegram's ``/positions`` lists the open positions numbered (`positions_text`), ``/close N``
closes the N-th at its series' last closed bar's close (`close_text`); both go through the
same lock as `on_close`, so a hand close never races the follower.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from engine._io import write_json_atomic
from engine.backtest._kernel import RISK_PERCENT, _position_size_nb
from engine.candles import timeframe_delta
from engine.errors import ItaError
from engine.paper import kill as kill_switch
from engine.paper.account import Account, AccountStore
from engine.paper.follow import (
    _cursor,
    _refused,
    account_state,
    close,
    on_bars,
    signal_id,
    terms,
)
from engine.paper.ledger import Ledger, iso, ledger_path
from engine.paper.risk import Proposal, check, nearing, news_for, trading_day_start
from engine.signals import SIGNAL_COLUMNS, conform_signals, empty_signals

log = logging.getLogger("ita.paper.live")

STATE_FILE = Path(".ita") / "paper" / "live.json"
ICON = "📒"


def state_path(home: str | Path) -> Path:
    return Path(home) / STATE_FILE


def _side(direction: int) -> str:
    return "long" if int(direction) > 0 else "short"


def _base(symbol: str) -> str:
    return str(symbol).split("/")[0].split(":")[0]


def planned_size(account: Account, setup, balance: float, entry: float, stop: float
                 ) -> tuple[float, float]:
    """(size, money at risk) the backtester's sizing (`_position_size_nb`, the kernel's own)
    gives a signal on `balance`: risk % of the balance over the stop distance, the notional
    capped at the balance times the leverage limit."""
    _, sizing = terms(account, setup)
    distance = abs(float(entry) - float(stop))
    if not distance or not entry:
        return 0.0, 0.0
    size, _ = _position_size_nb(RISK_PERCENT, float(sizing.value), float(balance), distance,
                                abs(float(entry)), float(sizing.max_leverage))
    return size, size * distance


class LivePaper:
    """The paper accounts of the home of `settings`, driven by the live monitor.

    `setup_of(setup_id, version)` returns a setup; `active()` the (setup_id, version,
    feed keys) the monitor watches; `send(text)` sends a text to the configured chats and
    says whether it went; `read_store(key, start, end)` reads stored candles of a feed key.
    """

    def __init__(self, settings, *, journal_file: str | Path,
                 setup_of: Callable[[str, int], Any],
                 active: Callable[[], Iterable[tuple[str, int, tuple]]],
                 send: Callable[[str], bool],
                 read_store: Callable[[Any, pd.Timestamp, pd.Timestamp], pd.DataFrame],
                 exchange: Callable[[Any], Any] | None = None) -> None:
        self.settings = settings
        self.home = Path(settings.home)
        self.journal_file = Path(journal_file)
        self.setup_of, self.active, self.send, self.read_store = (setup_of, active, send,
                                                                  read_store)
        self.lock = threading.RLock()
        self._ledger: Ledger | None = None
        self._logged: set[str] = set()
        self._captioned: dict[tuple[str, str], str] = {}  # (account, signal id) -> verdict
        self._last: dict[Any, pd.DataFrame] = {}  # feed key -> its last window
        self._accounts: dict[str, tuple[int, Account]] = {}  # name -> (file mtime, account)
        self._read: dict[tuple, tuple[tuple, pd.DataFrame]] = {}  # journal reads by version
        self._judged: dict[str, tuple] = {}  # account -> (balance, trading day) last warned on
        self.exchange = exchange  # real orders' ccxt client factory (None: the configured one)
        self._executors: dict[str, Any] | None = None  # account -> Executor, made at first use

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(ledger_path(self.home))
        return self._ledger

    def close(self) -> None:
        with self.lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None

    def _once(self, what: str, error: BaseException) -> None:
        text = f"paper: {what}: {type(error).__name__}: {error}"
        if text not in self._logged:  # once per distinct failure, with its traceback
            self._logged.add(text)
            log.error("%s", text, exc_info=not isinstance(error, ItaError))

    def accounts(self) -> list[Account]:
        """The accounts that follow at least one setup (an unreadable one is logged)."""
        store = AccountStore(self.home)
        out = []
        for name in store.names():
            try:
                stamp = (store.root / f"{name}.yaml").stat().st_mtime_ns
                cached = self._accounts.get(name)
                if cached is None or cached[0] != stamp:  # read again only when it changes
                    cached = (stamp, store.load(name))
                    self._accounts[name] = cached
            except (ItaError, OSError) as error:
                self._once(f"account {name}", error)
                continue
            if cached[1].follow:
                out.append(cached[1])
        return out

    def _state(self) -> dict:
        try:
            return json.loads(state_path(self.home).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            self._once("state file", error)
            return {}

    def _save_state(self, data: dict) -> None:
        path = state_path(self.home)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)

    # --- the journal's signals ---------------------------------------------------------------
    def _signals(self, account: Account, setup_id: str, key) -> pd.DataFrame:
        """The journal's signals of `setup_id` on feed `key` since `account` was created
        (only Taken ones in taken mode)."""
        if not self.journal_file.exists():
            return empty_signals()
        where = ("setup_id = ? AND symbol = ? AND timeframe = ? AND source = ? "
                 "AND known_at >= ?")
        args = [setup_id, key.symbol, key.timeframe, key.source, iso(account.created_at)]
        if account.mode == "taken":
            where += " AND decision = 'Taken'"
        columns = ", ".join(SIGNAL_COLUMNS)
        with sqlite3.connect(f"file:{self.journal_file}?mode=ro", uri=True, timeout=30) as db:
            version = tuple(db.execute(  # the rows' count and newest bar: read again on change
                f"SELECT COUNT(*), MAX(known_at) FROM signals WHERE {where}", args).fetchone())
            cache_key = (account.name, account.mode, account.created_at, setup_id, key)
            cached = self._read.get(cache_key)
            if cached is not None and cached[0] == version:
                return cached[1]
            frame = pd.read_sql_query(f"SELECT {columns} FROM signals WHERE {where} "
                                      "ORDER BY known_at", db, params=args)
        frame["known_at"] = pd.to_datetime(frame["known_at"], utc=True, format="ISO8601")
        for name in ("expiry_bars", "time_exit_bars"):
            frame[name] = frame[name].fillna(0)
        frame = conform_signals(frame)
        self._read[cache_key] = (version, frame)
        return frame

    def _followed(self, account: Account, keys) -> list[tuple[str, int, Any]]:
        """(setup id, version, key) of the account's setups on the series `keys`."""
        keys = set(keys)
        return [(setup_id, version, key) for setup_id, version, watched in self.active()
                if setup_id in account.follow for key in watched if key in keys]

    # --- one close ---------------------------------------------------------------------------
    def on_close(self, frames: dict, now: pd.Timestamp) -> None:
        """Advance every account on the series of `frames` (feed key -> the monitor's window,
        its last bar the one that just closed). Never raises for a paper problem."""
        with self.lock:
            try:
                accounts = self.accounts()
                switch = kill_switch.state(self.settings)
            except (ItaError, OSError, sqlite3.Error) as error:
                self._once("accounts", error)
                return
            self._last.update({k: v for k, v in frames.items() if len(v)})
            if not accounts:
                return
            try:
                self._baseline(accounts)
            except (ItaError, OSError, sqlite3.Error) as error:
                self._once("state", error)
            for account in accounts:
                try:
                    self._advance(account, frames, switch)
                except Exception as error:  # a paper bug must never stop the alerts
                    self._once(f"account {account.name}", error)
            try:
                self._execute(accounts)
            except Exception as error:  # nor may an exchange problem
                self._once("real orders", error)
            try:
                self._follow_ups(accounts)
                self._warn(accounts, now)
            except (ItaError, OSError, sqlite3.Error) as error:
                self._once("messages", error)

    def _advance(self, account: Account, frames: dict, switch) -> None:
        news = tuple(news_for(self.home, account.risk))
        for setup_id, version, key in self._followed(account, frames):
            window = frames[key]
            if window.empty:
                continue
            setup = self.setup_of(setup_id, version)
            signals = self._signals(account, setup_id, key)
            start, _ = _cursor(self.ledger, account, key.symbol, {setup_id})
            if start is not None:
                signals = signals[signals["known_at"] >= start].reset_index(drop=True)
            signals = self._unrefused(account, signals)  # on_bars drops them too
            if len(signals):  # else no position can be open: nothing to follow
                candles = self._history(key, window, signals["known_at"].min())
                costs, sizing = terms(account, setup)
                on_bars(self.ledger, account, candles, signals, timeframe=key.timeframe,
                        costs=costs, sizing=sizing, kill_switch=switch, news=news,
                        lower_candles=self._lower(key, candles))
            if switch.engaged and switch.close_positions:
                self._close_all(account, setup, setup_id, key, window)

    def _execute(self, accounts: list[Account]) -> None:
        """Accounts with ``execution: live`` send what their ledger just decided through
        `engine.paper.execute` (off unless ITA_ALLOW_LIVE=1 and keys are set: a refused
        account is reported once). The executors are made, and reconciled with the exchange,
        at the first close that has such an account; each close first records the fills of
        orders still working (`refresh`), then sends the new ones (`follow_ledger`)."""
        live = [account for account in accounts if account.execution == "live"]
        if not live:
            return
        if self._executors is None:
            from engine.paper import execute

            factory = {} if self.exchange is None else {"exchange": self.exchange}
            self._executors, lines = execute.start(self.settings, live, self.ledger, **factory)
            for line in lines:  # "<account>: <refusal or reconciliation sentence>"
                quiet = line.partition(": ")[2].startswith("no differences")
                log.log(logging.INFO if quiet else logging.WARNING, "real orders: %s", line)
                if not quiet:
                    self.send(f"⚠️ Real orders: {line}")
        for account in live:
            executor = self._executors.get(account.name)
            if executor is None:
                continue
            executor.refresh()
            for outcome in executor.follow_ledger():
                if outcome.sent or outcome.status in ("refused", "rejected", "missing"):
                    log.info("real orders: %s %s %s %s", account.name, outcome.client_id,
                             outcome.status, outcome.reason)
                if outcome.status in ("rejected", "missing"):
                    self.send(f"⚠️ Real orders {account.name}: {outcome.client_id} "
                              f"{outcome.status} — {outcome.reason}")

    def _unrefused(self, account: Account, signals: pd.DataFrame) -> pd.DataFrame:
        """`signals` without those the account refused: a refusal is final, so an old one
        never keeps the window (and the store reads) reaching back."""
        if not len(signals):
            return signals
        refused = _refused(self.ledger, account.name)
        if not refused:
            return signals
        keep = [signal_id(row) not in refused for row in signals.itertuples(index=False)]
        return signals[keep].reset_index(drop=True)

    def _lower(self, key, candles: pd.DataFrame) -> pd.DataFrame | None:
        """Stored 1m bars under a higher timeframe's `candles`, to resolve a bar that touches
        stop and target as the backtester does (`backtest.run._lower_candles`); None for 1m
        or when none are stored."""
        step = timeframe_delta(key.timeframe)
        if step <= pd.Timedelta(minutes=1):
            return None
        try:
            lower = self.read_store(dataclasses.replace(key, timeframe="1m"), candles.index[0],
                                    candles.index[-1] + step)
        except ItaError:
            return None
        return lower if len(lower) else None

    def _history(self, key, window: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
        """The window, reaching back to `start` (the account's first signal since its last
        closed position) with stored bars when it is shorter."""
        if start >= window.index[0]:
            return window
        older = self.read_store(key, start, window.index[0])
        older = older[older.index < window.index[0]] if len(older) else older
        return pd.concat([older, window]) if len(older) else window

    def _close_all(self, account: Account, setup, setup_id: str, key, window) -> None:
        opened = self.ledger.open_positions(account.name)
        if not len(opened):
            return
        mine = opened[(opened["setup_id"] == setup_id) & (opened["symbol"] == key.symbol)]
        costs, _ = terms(account, setup)
        bar = window.index[-1]
        price = float(window["close"].iloc[-1])
        for row in mine.itertuples(index=False):
            pnl = close(self.ledger, account, row.position_id, price=price, at=bar,
                        fee_bps=costs.fee_bps)
            self.send(f"{ICON} Paper {account.name}: kill switch — closed {_side(row.direction)} "
                      f"{row.size:.6g} {_base(row.symbol)} at {price:,.2f} "
                      f"(P&L {pnl:+,.2f} {account.currency})")

    # --- what the trader reads ---------------------------------------------------------------
    def caption_lines(self, signal) -> list[str]:
        """One "📒 Paper" line per account following `signal`'s setup: in auto mode what it
        does with the signal, judged at its bar's close as the follower will judge it (the
        size is the backtester's sizing at the planned entry; the fill comes at the next bar);
        in taken mode that it follows once the trader marks the alert Taken."""
        with self.lock:
            try:
                return self._caption_lines(signal)
            except Exception as error:  # a paper bug must never stop the alert
                self._once("caption", error)
                return []

    def _caption_lines(self, signal) -> list[str]:
        lines = []
        at = pd.Timestamp(signal.known_at) + timeframe_delta(signal.timeframe)
        switch = kill_switch.state(self.settings)
        for account in self.accounts():
            if signal.setup_id not in account.follow:
                continue
            if account.mode != "auto":
                lines.append(f"{ICON} Paper {account.name}: follows it if you mark it Taken")
                continue
            setup = self.setup_of(signal.setup_id, int(signal.setup_version))
            state = account_state(self.ledger, account, at)
            size, risk = planned_size(account, setup, state.balance, signal.entry, signal.stop)
            verdict = check(account.risk, state, Proposal(symbol=signal.symbol, risk=risk),
                            at.to_pydatetime(), news=tuple(news_for(self.home, account.risk)),
                            kill_switch=switch)
            self._captioned[(account.name, signal_id(signal))] = verdict.reason
            if verdict.allowed:
                lines.append(f"{ICON} Paper {account.name}: {_side(signal.direction)} "
                             f"{size:.6g} {_base(signal.symbol)} at {float(signal.entry):,.2f}")
            else:
                lines.append(f"{ICON} Paper {account.name}: not taken — {verdict.reason}")
        return lines

    def _newest_order(self, accounts: list[Account]) -> int:
        newest = 0
        for account in accounts:
            orders = self.ledger.rows("orders", account.name)
            if len(orders):
                newest = max(newest, int(orders["seq"].max()))
        return newest

    def _baseline(self, accounts: list[Account]) -> None:
        """On the first close ever, the refusals already booked are history, not news."""
        if "refusals_seq" not in self._state():
            self._save_state({**self._state(), "refusals_seq": self._newest_order(accounts)})

    def _follow_ups(self, accounts: list[Account]) -> None:
        """A short message for each refusal booked since the last close that its alert's
        caption did not already carry."""
        seen = int(self._state().get("refusals_seq", 0))
        newest = seen
        for account in accounts:
            orders = self.ledger.rows("orders", account.name)
            newest = max([newest, *orders["seq"].astype(int)])
            refused = orders[(orders["kind"] == "refused") & (orders["seq"] > seen)]
            for row in refused.itertuples(index=False):
                if self._captioned.get((account.name, row.signal_id)) == row.reason:
                    continue
                self.send(f"{ICON} Paper {account.name}: not taken — {row.reason} "
                          f"({row.setup_id} {row.symbol} {_side(row.direction)}, signal "
                          f"{pd.Timestamp(row.at):%Y-%m-%d %H:%M} UTC)")
        if newest != seen:
            self._save_state({**self._state(), "refusals_seq": newest})

    def _warn(self, accounts: list[Account], now: pd.Timestamp) -> None:
        """`risk.nearing` once per key across restarts."""
        state = self._state()
        warned = state.get("warned", {})
        changed = False
        for account in accounts:
            rules = account.risk
            if (rules.daily_loss_limit(account.starting_balance) is None
                    and rules.drawdown_limit(account.starting_balance) is None):
                continue
            # the limits' use depends only on the balance rows and the trading day
            judged = (self.ledger.balance(account.name, account.starting_balance),
                      trading_day_start(rules, pd.Timestamp(now).to_pydatetime()))
            if self._judged.get(account.name) == judged:
                continue
            current = account_state(self.ledger, account, pd.Timestamp(now))
            told = True
            for warning in nearing(rules, current, pd.Timestamp(now).to_pydatetime()):
                sent = warned.setdefault(account.name, [])
                if warning.key in sent:
                    continue
                if self.send(f"⚠️ {ICON} Paper {account.name}: {warning.text}"):
                    sent.append(warning.key)
                    changed = True
                else:
                    told = False  # tried again on the next close
            if told:
                self._judged[account.name] = judged
        if changed:
            self._save_state({**self._state(), "warned": warned})

    # --- Telegram /positions and /close --------------------------------------------------------
    def _open(self) -> list[tuple[Account, Any]]:
        out = []
        for account in self.accounts():
            opened = self.ledger.open_positions(account.name)
            for row in (opened.sort_values(["entry_time", "position_id"]).itertuples(index=False)
                        if len(opened) else []):
                out.append((account, row))
        return out

    def positions_text(self) -> str:
        """The answer to /positions: the open paper positions, numbered for /close."""
        with self.lock:
            rows = self._open()
        if not rows:
            return "No open paper positions."
        lines = [f"Open paper positions ({len(rows)}):"]
        for number, (account, row) in enumerate(rows, start=1):
            lines.append(f"{number}. {account.name} {row.setup_id} {row.symbol} "
                         f"{_side(row.direction)} {row.size:.6g} at {row.entry_price:,.2f} "
                         f"(stop {row.stop:,.2f}, since "
                         f"{pd.Timestamp(row.entry_time):%m-%d %H:%M} UTC)")
        lines.append("/close N closes one at its last closed bar's close.")
        return "\n".join(lines)

    def close_text(self, argument: str) -> str:
        """The answer to /close N."""
        text = argument.strip()
        if not text.isdigit():
            return "Usage: /close N (the number /positions shows)"
        with self.lock:
            rows = self._open()
            number = int(text)
            if not 1 <= number <= len(rows):
                return f"No open paper position {number} (/positions lists {len(rows)})."
            account, row = rows[number - 1]
            window = next((w for k, w in self._last.items() if k.symbol == row.symbol), None)
            if window is None or window.empty:
                return f"No closed {row.symbol} bar yet: try again after the next close."
            setup = self.setup_of(row.setup_id, int(_version(row.signal_id)))
            costs, _ = terms(account, setup)
            price = float(window["close"].iloc[-1])
            try:
                pnl = close(self.ledger, account, row.position_id, price=price,
                            at=window.index[-1], fee_bps=costs.fee_bps)
            except ItaError as error:
                return str(error)
        return (f"Closed {account.name} {row.symbol} {_side(row.direction)} {row.size:.6g} at "
                f"{price:,.2f}: P&L {pnl:+,.2f} {account.currency}")


def _version(signal_id: str) -> int:
    return int(signal_id.split("@v", 1)[1].split(":", 1)[0])


def followed_live(home: str | Path, active: Iterable[str]) -> list[str]:
    """One line per paper account following a setup of `active` (the live monitor's active
    setup ids): what it follows and how; the monitor drives exactly these.

    >>> followed_live(home, ["sma-a"])  # doctest: +SKIP
    ['prop follows sma-a']
    """
    active = set(active)
    store = AccountStore(home)
    out = []
    for name in store.names():
        try:
            account = store.load(name)
        except ItaError as error:
            out.append(f"{name}: unreadable ({error})")
            continue
        live = [s for s in account.follow if s in active]
        if live:
            how = " (only the alerts marked Taken)" if account.mode == "taken" else ""
            out.append(f"{name} follows {', '.join(live)}{how}")
    return out
