"""The Paper page's pieces: the kill switch control, the accounts and their creation, one
account's equity curve, open positions (close by hand), today's P&L against the prop limits,
the ledger and live vs backtest per setup. The work is `engine.paper` (account, follow, risk,
kill): the page calls the same functions as `ita paper` and `ita kill`."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

from app import state
from app.jobs_ui import follow
from app.ui import fmt, show_error
from engine.errors import ConfigurationError, DataError, ItaError
from engine.paper import kill
from engine.paper.account import Account, AccountStore
from engine.paper.ledger import Ledger, ledger_path
from engine.paper.risk import RiskRules, cooldown_until, daily_loss, drawdown_floor, pct

TAKEN = "Taken alerts only"
JOB_KEY = "paper_replay_job"
NOTICE_KEY = "paper_notice"
LEDGER_PAGE = 50
PROP_DEFAULTS = {"max_risk_per_trade_pct": 1.0, "max_open_positions": 3,
                 "max_daily_loss_pct": 5.0, "max_drawdown_pct": 10.0}
"""Shown in the create form: a typical prop-firm challenge (FTMO-like 5 % daily, 10 % total)."""
_NUMBER_RULES = ("max_risk_per_trade_pct", "max_open_positions", "max_open_per_symbol",
                 "max_daily_loss_pct", "max_daily_loss_money", "max_drawdown_pct",
                 "max_drawdown_money", "cooldown_after_losses", "cooldown_minutes")
_INT_RULES = {"max_open_positions", "max_open_per_symbol", "cooldown_after_losses",
              "cooldown_minutes"}
_RULE_LABELS = {"max_risk_per_trade_pct": "Max risk per trade, %",
                "max_open_positions": "Max open positions",
                "max_open_per_symbol": "Max open per symbol",
                "max_daily_loss_pct": "Max daily loss, % of start",
                "max_daily_loss_money": "Max daily loss, money",
                "max_drawdown_pct": "Max drawdown, % of start",
                "max_drawdown_money": "Max drawdown, money",
                "cooldown_after_losses": "Cooldown after N losses",
                "cooldown_minutes": "Cooldown minutes"}


def _home() -> Path:
    return Path(state.settings().home)


def _help(name: str) -> str:
    return RiskRules.model_fields[name].description or ""


def notice() -> None:
    if text := st.session_state.pop(NOTICE_KEY, None):
        st.success(text)


def _done(text: str) -> None:
    st.session_state[NOTICE_KEY] = text
    st.rerun()


# ------------------------------------------------------------------------------ kill switch

def kill_part() -> None:
    """The big control: engage (reason, close open positions, confirm) or release."""
    settings = state.settings()
    switch = kill.state(settings)
    with st.container(border=True):
        if switch.engaged:
            closing = (" Open paper positions are being closed." if switch.close_positions
                       else "")
            st.markdown(f"**Kill switch ON** (by {switch.by}"
                        f"{': ' + switch.reason if switch.reason else ''}): no paper order "
                        f"opens until it is released.{closing}")
            if st.button("Release the kill switch", key="paper_kill_release", type="primary"):
                kill.release(settings, by="app")
                _done("Kill switch released: paper following resumes with the next closed bar.")
            return
        st.markdown("**Kill switch** · off: the accounts follow their setups. Engaging stops "
                    "all paper following at once and stays on until released.")
        reason_col, close_col, confirm_col, button_col = st.columns([4, 2, 2, 2],
                                                                    vertical_alignment="bottom")
        reason = reason_col.text_input("Reason", key="paper_kill_reason",
                                       placeholder="e.g. news spike, stepping away")
        close = close_col.checkbox("Close open positions", key="paper_kill_close",
                                   help="Also close every open paper position at the next price")
        sure = confirm_col.checkbox("I am sure", key="paper_kill_confirm")
        if button_col.button("Engage the kill switch", key="paper_kill_engage", type="primary",
                             disabled=not sure, width="stretch"):
            kill.engage(settings, by="app", reason=reason, close_positions=close)
            st.session_state.pop("paper_kill_confirm", None)
            st.rerun()  # the banner above every page says it is on


# ------------------------------------------------------------------------------ accounts

def store() -> AccountStore:
    return AccountStore(_home())


def _ledger() -> Ledger:
    return Ledger(ledger_path(_home()))


@st.cache_data(show_spinner=False, max_entries=16)
def _last_close(root: str, stamp: str, symbol: str) -> float | None:
    from engine.adapters.store import CandleStore

    try:
        frame = CandleStore(Path(root)).read(symbol, "1m")
    except DataError:
        return None
    return float(frame["close"].iloc[-1]) if len(frame) else None


def marks(symbols) -> dict[str, float]:
    """The last stored 1m close of each symbol (what `ita paper status` marks at), cached on
    the candle files."""
    from app.state import _stamp

    candle_store = state.candle_store()
    root = Path(candle_store.root)
    stamp = _stamp(root, "*/*/*.parquet")  # the candle files, as every candle loader keys
    found = {s: _last_close(str(root), stamp, s) for s in symbols}
    return {s: v for s, v in found.items() if v is not None}


def overview(names: list[str]) -> pd.DataFrame:
    """One row per account: balance, equity, open positions, today's P&L, what it follows."""
    from engine.paper.follow import status

    rows = []
    with _ledger() as ledger:
        for name in names:
            try:
                account = store().load(name)
            except ItaError as error:
                rows.append({"account": name, "follows": f"cannot be read: {error}"})
                continue
            opened = ledger.open_positions(name)
            now = status(ledger, account, marks=marks(set(opened["symbol"])) if len(opened)
                         else {})
            rows.append({"account": name, "currency": account.currency,
                         "balance": now["balance"], "equity": now["equity"],
                         "open": len(now["open"]), "today P&L": now["today_pnl"],
                         "closed trades": now["closed_trades"], "follows": follows_text(account)})
    return pd.DataFrame(rows)


def follows_text(account: Account) -> str:
    if account.mode == "taken":
        return TAKEN
    return ", ".join(account.follow) or "nothing yet"


def accounts_table(frame: pd.DataFrame) -> None:
    money = st.column_config.NumberColumn(format="%,.2f")
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"balance": money, "equity": money,
                                "today P&L": st.column_config.NumberColumn(format="%+,.2f")})


def _rule_inputs() -> dict:
    values: dict = {}
    cols = st.columns(3)
    for n, name in enumerate(_NUMBER_RULES):
        integer = name in _INT_RULES
        default = PROP_DEFAULTS.get(name)
        values[name] = cols[n % 3].number_input(
            _RULE_LABELS[name], value=default, min_value=1 if integer else 0.0,
            step=1 if integer else 0.5, key=f"paper_new_{name}", help=_help(name)
            + ". Empty: not enforced.")
    left, mid, right = st.columns(3)
    values["drawdown_mode"] = left.selectbox("Drawdown", ["static", "trailing"],
                                             key="paper_new_drawdown_mode",
                                             help=_help("drawdown_mode"))
    values["trailing_lock"] = mid.checkbox("Trailing locks at start", key="paper_new_lock",
                                           help=_help("trailing_lock"))
    values["warn_at_pct"] = right.number_input("Warn at % of a limit", value=80.0, min_value=1.0,
                                               max_value=99.0, key="paper_new_warn",
                                               help=_help("warn_at_pct"))
    left, mid, right = st.columns(3)
    values["timezone"] = left.text_input("Time zone", value="UTC", key="paper_new_tz",
                                         help=_help("timezone"))
    values["daily_reset"] = mid.text_input("Daily reset", value="00:00", key="paper_new_reset",
                                           help=_help("daily_reset"))
    values["trading_hours"] = _windows(right.text_input(
        "Trading hours", key="paper_new_hours", placeholder="08:00-17:00, 19:00-21:00",
        help=_help("trading_hours")))
    values["no_trade_windows"] = _windows(st.text_input(
        "No-trade windows", key="paper_new_no_trade", placeholder="16:55-18:05",
        help=_help("no_trade_windows")))
    return values


def _windows(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _rules(values: dict) -> dict:
    """Form values as `RiskRules` fields: empty numbers are unset limits, counts are ints."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = int(value) if name in _INT_RULES else (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool)
            else value)
    return out


def new_account(*, name: str, currency: str, balance: float, follow: list[str], taken: bool,
                rules: dict) -> Account:
    """A validated account from the create form, or a one-line `ConfigurationError` naming
    the field."""
    try:
        return Account.model_validate({"name": name.strip(), "currency": currency.strip(),
                                       "starting_balance": float(balance),
                                       "follow": [] if taken else follow,
                                       "mode": "taken" if taken else "auto",
                                       "risk": _rules(rules)})
    except ValidationError as error:
        detail = error.errors()[0]
        where = ".".join(str(p) for p in detail["loc"]) or "account"
        message = detail["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"paper account {where}: {message}") from None


def create_part(setup_ids: list[str], *, expanded: bool) -> None:
    """Create an account: name, currency, balance, what it follows, its prop rules."""
    with st.expander("Create a paper account", expanded=expanded), \
            st.form("paper_create", border=False):
        name_col, currency_col, balance_col = st.columns([3, 1, 2])
        name = name_col.text_input("Name", key="paper_new_name", placeholder="prop-50k",
                                   help="Letters, digits, '-', '_', '.'")
        currency = currency_col.text_input("Currency", value="USD", key="paper_new_currency")
        balance = balance_col.number_input("Starting balance", value=10_000.0, min_value=1.0,
                                           step=1_000.0, key="paper_new_balance")
        follow_col, taken_col = st.columns([3, 1], vertical_alignment="bottom")
        chosen = follow_col.multiselect("Follow setups", setup_ids, key="paper_new_follow",
                                        help="Every signal of these setups is traded on paper")
        taken = taken_col.checkbox(TAKEN, key="paper_new_taken",
                                   help="Trade only the alerts you mark Taken (Live page or "
                                        "Telegram)")
        st.markdown("**Risk rules** (prop-firm style; a signal that would break one is refused "
                    "and its reason kept in the ledger)")
        rules = _rule_inputs()
        if st.form_submit_button("Create account", type="primary", key="paper_create_submit"):
            try:
                account = store().create(new_account(name=name, currency=currency,
                                                     balance=balance, follow=chosen,
                                                     taken=taken, rules=rules))
            except ItaError as error:
                show_error(error)
                return
            st.session_state["paper_account"] = account.name
            _done(f"Created paper account {account.name}: "
                  f"{fmt(account.starting_balance, 'money')} {account.currency}, "
                  f"{follows_text(account)}.")


def follow_part(account: Account, setup_ids: list[str]) -> None:
    """Follow or unfollow setups (or only the Taken alerts)."""
    with st.expander(f"What {account.name} follows: {follows_text(account)}"):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        chosen = left.multiselect("Setups", setup_ids, default=[s for s in account.follow
                                                                 if s in setup_ids],
                                  key=f"paper_follow_{account.name}")
        taken = right.checkbox(TAKEN, value=account.mode == "taken",
                               key=f"paper_taken_{account.name}")
        if st.button("Save", key=f"paper_follow_save_{account.name}"):
            updated = Account.model_validate(account.model_dump() | {
                "follow": chosen, "mode": "taken" if taken else "auto"})
            store().save(updated)
            _done(f"{account.name} now follows: {follows_text(updated)}.")


# ------------------------------------------------------------------------------ one account

def account_part(account: Account) -> None:
    """Metrics, limits, equity curve, open positions, live vs backtest and the ledger."""
    from engine.paper.follow import account_state, status

    now = pd.Timestamp.now(tz="UTC")
    with _ledger() as ledger:
        opened = ledger.open_positions(account.name)
        at_marks = marks(set(opened["symbol"])) if len(opened) else {}
        current = status(ledger, account, marks=at_marks)
        limits = account_state(ledger, account, now)
        money = ledger.rows("balance", account.name)
        positions = ledger.positions(account.name)
        entries = ledger_rows(ledger, account.name)
    cur = account.currency
    cells = st.columns(4)
    cells[0].metric("Balance", f"{current['balance']:,.2f} {cur}",
                    f"{current['balance'] - account.starting_balance:+,.2f} since start")
    cells[1].metric("Equity", f"{current['equity']:,.2f} {cur}",
                    help="Balance plus open positions at the last stored 1m close")
    cells[2].metric("Today's P&L", f"{current['today_pnl']:+,.2f} {cur}",
                    help="Closed trades and fees since 00:00 UTC")
    cells[3].metric("Open / closed trades", f"{len(current['open'])} / "
                                            f"{current['closed_trades']}")
    limits_part(account.risk, limits, now.to_pydatetime())
    st.plotly_chart(equity_figure(money, account), key="paper_equity")
    open_part(account, current["open"], at_marks)
    versus_part(account, positions)
    ledger_part(entries)


def limits_part(rules: RiskRules, now_state, now: dt.datetime) -> None:
    """Today's P&L against the limits, as progress bars in the rules' words."""
    st.subheader("Today against the limits")
    shown = 0
    start = now_state.start_balance
    limit = rules.daily_loss_limit(start)
    if limit:
        lost = max(daily_loss(rules, now_state, now), 0.0)
        _bar(lost / limit, f"Daily loss: {pct(lost / start * 100)} % of "
                           f"{pct(limit / start * 100)} % used ({lost:,.2f} of {limit:,.2f}; "
                           f"resets {rules.daily_reset} {rules.timezone})")
        shown += 1
    floor = drawdown_floor(rules, now_state)
    limit = rules.drawdown_limit(start)
    if floor is not None and limit:
        used = max(limit - (now_state.equity - floor), 0.0)
        _bar(used / limit, f"Max drawdown ({rules.drawdown_mode}): {pct(used / start * 100)} % "
                           f"of {pct(limit / start * 100)} % used (floor {floor:,.2f})")
        shown += 1
    if rules.max_open_positions:
        count = len(now_state.open_positions)
        _bar(count / rules.max_open_positions,
             f"Open positions: {count} of {rules.max_open_positions}")
        shown += 1
    if rules.cooldown_after_losses:
        until = cooldown_until(rules, now_state)
        paused = until is not None and now < until
        text = (f"Cooldown: {now_state.consecutive_losses} losses in a row, no new trade until "
                f"{until.astimezone(rules.zone):%Y-%m-%d %H:%M} {rules.timezone}" if paused else
                f"Cooldown: off ({now_state.consecutive_losses} of "
                f"{rules.cooldown_after_losses} losses in a row)")
        _bar(1.0 if paused else now_state.consecutive_losses / rules.cooldown_after_losses,
             text)
        shown += 1
    if not shown:
        st.caption("This account sets no daily loss, drawdown, position or cooldown limit.")


def _bar(fraction: float, text: str) -> None:
    st.progress(min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 1.0, text=text)


def equity_figure(money: pd.DataFrame, account: Account) -> go.Figure:
    """The balance after every change in the ledger (fees and closed trades)."""
    start = float(account.starting_balance)
    figure = go.Figure()
    if len(money):
        ordered = money.sort_values(["at", "seq"], kind="stable")
        times = pd.to_datetime(ordered["at"])
        path = start + ordered["amount"].cumsum()
        figure.add_scatter(x=[times.iloc[0], *times], y=[start, *path], mode="lines",
                           line_shape="hv", name="balance")
    else:
        figure.add_annotation(text="No trades yet: the balance is the starting balance",
                              showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
    figure.update_layout(title=f"Balance ({account.currency})", height=280,
                         margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    return figure


def open_part(account: Account, opened: pd.DataFrame, at_marks: dict[str, float]) -> None:
    """The open positions, each with a Close button (confirm), through `follow.close`."""
    st.subheader("Open positions")
    if not len(opened):
        st.caption("No open position.")
        return
    shown = opened.assign(side=opened["direction"].map(lambda d: "long" if d > 0 else "short"),
                          mark=opened["symbol"].map(at_marks))
    shown["open P&L"] = (shown["mark"] - shown["entry_price"]) * shown["size"] * \
        shown["direction"]
    shown["entry_time"] = _times(shown["entry_time"])
    number = st.column_config.NumberColumn
    st.dataframe(shown[["position_id", "setup_id", "symbol", "side", "entry_time", "entry_price",
                        "size", "stop", "target", "mark", "open P&L"]],
                 hide_index=True, width="stretch", placeholder="—",
                 column_config={"position_id": "position", "setup_id": "setup",
                                "entry_time": st.column_config.DatetimeColumn(
                                    f"entry ({_zone_name()})", format="YYYY-MM-DD HH:mm"),
                                "entry_price": number("entry", format="%g"),
                                "size": number(format="%.6g"), "stop": number(format="%g"),
                                "target": number(format="%g"), "mark": number(format="%g"),
                                "open P&L": number(format="%+,.2f")})
    for row in opened.itertuples(index=False):
        mark = at_marks.get(row.symbol)
        label, sure, button = st.columns([5, 1, 1], vertical_alignment="center")
        label.markdown(f"`{row.position_id}` {row.symbol} "
                       f"{'long' if row.direction > 0 else 'short'} from {row.entry_price:g}"
                       + (f" · close at {mark:g}" if mark is not None else " · no stored price"))
        confirm = sure.checkbox("Sure", key=f"paper_close_sure_{row.position_id}")
        if button.button("Close", key=f"paper_close_{row.position_id}",
                         disabled=not confirm or mark is None):
            close_position(account, row.position_id, mark)


def close_position(account: Account, position: str, price: float) -> None:
    from engine.paper.follow import close

    fee = account.costs.fee_bps if account.costs else 5.0  # as `ita paper close`
    try:
        with _ledger() as ledger:
            pnl = close(ledger, account, position, price=price,
                        at=pd.Timestamp.now(tz="UTC"), fee_bps=fee)
    except ItaError as error:
        show_error(error)
        return
    _done(f"Closed {position} at {price:g}: {pnl:+,.2f} {account.currency}.")


# ------------------------------------------------------------------------------ the ledger

def ledger_rows(ledger: Ledger, account: str) -> pd.DataFrame:
    """Orders (refused ones with their reason), fills and balance changes, newest first."""
    parts = []
    for table in ("orders", "fills", "balance"):
        rows = ledger.rows(table, account)
        if len(rows):
            parts.append(rows.assign(entry=table))
    if not parts:
        return pd.DataFrame(columns=["seq", "entry", "kind", "at", "symbol", "price", "amount",
                                     "reason", "signal_id"])
    frame = pd.concat(parts, ignore_index=True)
    keep = [c for c in ("seq", "entry", "kind", "at", "symbol", "setup_id", "price", "size",
                        "fee", "amount", "reason", "signal_id") if c in frame.columns]
    return frame.sort_values("seq", ascending=False, kind="stable")[keep].reset_index(drop=True)


def ledger_part(entries: pd.DataFrame) -> None:
    st.subheader("Ledger")
    if not len(entries):
        st.caption("Nothing in the ledger yet.")
        return
    pages = max(1, math.ceil(len(entries) / LEDGER_PAGE))
    left, right = st.columns([1, 4], vertical_alignment="bottom")
    number = left.number_input("Page", min_value=1, max_value=pages, value=1, step=1,
                               key="paper_ledger_page")
    refused = int((entries["kind"] == "refused").sum())
    right.caption(f"{len(entries)} entries, newest first · {refused} refused orders · page "
                  f"{number} of {pages}")
    first = (int(number) - 1) * LEDGER_PAGE
    shown = entries.iloc[first:first + LEDGER_PAGE].assign(
        at=lambda frame: _times(frame["at"]))
    number_column = st.column_config.NumberColumn
    st.dataframe(shown, hide_index=True, width="stretch", key="paper_ledger_table",
                 placeholder="—",
                 column_config={"seq": number_column("#", format="%d"),
                                "at": st.column_config.DatetimeColumn(
                                    f"bar time ({_zone_name()})", format="YYYY-MM-DD HH:mm"),
                                "setup_id": "setup", "price": number_column(format="%g"),
                                "size": number_column(format="%.6g"),
                                "fee": number_column(format="%,.2f"),
                                "amount": number_column(format="%+,.2f"),
                                "signal_id": "signal"})


def _zone_name() -> str:
    return str(state.settings().display_zone)


def _times(values: pd.Series) -> pd.Series:
    """ISO UTC ledger times in the display zone, without offset (the zone is in the header)."""
    zone = state.settings().display_zone
    return pd.to_datetime(values, utc=True).dt.tz_convert(zone).dt.tz_localize(None)


# ------------------------------------------------------------------------------ vs backtest

def versus_part(account: Account, positions: pd.DataFrame) -> None:
    """Paper expectancy R per setup next to the backtest's (the newest run of the setup's
    active version), and the replay check."""
    st.subheader("Live vs backtest")
    setups = sorted(set(account.follow) | (set(positions["setup_id"]) if len(positions)
                                           else set()))
    runs = state.runs()
    rows = []
    for setup_id in setups:
        closed = positions[(positions["setup_id"] == setup_id)
                           & (positions["status"] == "closed")] if len(positions) else positions
        version = state.setup_store().active(setup_id)
        of = runs[(runs["setup_id"] == setup_id) & (runs["setup_version"] == version)] \
            if len(runs) else runs
        rows.append({"setup": f"{setup_id}@v{version}", "paper trades": len(closed),
                     "paper expectancy R": float(closed["r_net"].mean()) if len(closed)
                     else None,
                     "backtest trades": of["trades"].iloc[0] if len(of) else None,
                     "backtest expectancy R": of["expectancy_r"].iloc[0] if len(of) else None,
                     "backtest run": of["name"].iloc[0] if len(of)
                     else f"no run of v{version} yet: backtest it, or check below"})
    if rows:
        r = st.column_config.NumberColumn(format="%+.2f R")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", placeholder="—",
                     column_config={"paper expectancy R": r, "backtest expectancy R": r})
    replay_part(account)


def replay_part(account: Account) -> None:
    """"Does paper match the backtest over <range>?": a `paper_replay` job on the daemon."""
    if not account.follow:
        st.caption("Follow a setup to compare this account with its backtest.")
        return
    series = state.series()
    first, last = (series["first"].min().date(), series["last"].max().date()) if len(series) \
        else (dt.date.today(), dt.date.today())
    start_col, end_col, button_col = st.columns([2, 2, 3], vertical_alignment="bottom")
    start = start_col.date_input("From", value=max(first, last - dt.timedelta(days=6)),
                                 min_value=first, max_value=last, key="paper_replay_start")
    end = end_col.date_input("To (inclusive)", value=last, min_value=first, max_value=last,
                             key="paper_replay_end")
    if st.session_state.get(JOB_KEY):
        status = follow(JOB_KEY)
        if status is None:
            _daemon_hint(account)
        else:
            st.session_state.pop(JOB_KEY, None)
            st.session_state["paper_replay_result"] = {
                "account": st.session_state.get("paper_replay_for"), "status": status}
    running = bool(st.session_state.get(JOB_KEY))
    if button_col.button(f"Does paper match the backtest over {start} – {end}?",
                         key="paper_replay", disabled=running or start > end,
                         help="Runs this account's settings over the stored history, bar by "
                              "bar as the live feed would, in a scratch ledger, and backtests "
                              "the same signals (a daemon job; the account's own ledger is not "
                              "touched)"):
        st.session_state[JOB_KEY] = state.job_bus().submit("paper_replay", {
            "account": account.name, "start": str(start),
            "end": str(end + dt.timedelta(days=1))})
        st.session_state["paper_replay_for"] = account.name
        st.session_state.pop("paper_replay_result", None)
        st.rerun()
    checked = st.session_state.get("paper_replay_result")
    if not running and checked and checked["account"] == account.name:
        replay_result(checked["status"])  # the last check, while this account is shown


def _daemon_hint(account: Account) -> None:
    engine = state.engine_state()
    if not (engine and engine["alive"]):
        st.caption("The engine daemon is not running: the check waits in its queue until "
                   f"`ita engine start` (or in a terminal: `ita paper replay {account.name}`).")


def _r(value: float | None) -> str:
    return "— R per trade" if value is None else f"{value:+.2f} R per trade"


def replay_result(status: dict) -> None:
    if status["state"] != "done":
        st.error(f"Replay {status['state']}: {status.get('error', '')}")
        return
    for row in (status.get("result") or {}).get("setups", []):
        line = (f"{row['setup']} on {row['symbol']}: {row['bars']} bars, {row['signals']} "
                f"signals; paper {row['paper_trades']} trades ({row['paper_pnl']:+,.2f}, "
                f"{_r(row['paper_expectancy_r'])}), backtest {row['backtest_trades']} trades "
                f"({row['backtest_pnl']:+,.2f}, {_r(row['backtest_expectancy_r'])})")
        if row["same"]:
            st.success(f"Same trades. {line}"
                       + ("" if row["alone"] else " (compared in R: sizes follow the whole "
                                                  "account)"))
        else:
            st.error(f"DIFFERENT trades. {line}")
        if row.get("refused"):
            why = "; ".join(f"{reason} ({n}×)" for reason, n in row["refused_reasons"])
            st.warning(f"{row['refused']} signals of {row['setup']} were refused by this "
                       f"account's limits (the backtest has none): {why}")
