"""The prop-firm limits a signal must pass before a paper account takes it. Pure: no files, no
clock, no settings (the calendar loader `load_news` is the one function that reads a file).

The ledger produces an `AccountState`; the follower asks `check(rules, state, proposal, now)`
and takes the trade only when the `Verdict` allows it, showing ``verdict.reason`` with the alert
otherwise; it sends each of `nearing(rules, state, now)` once (by its ``key``).

Definitions (money is in the account's currency; "%" is of the **starting balance**, as FTMO,
Topstep and most prop firms state their limits):

- **Risk of a trade**: the money lost if its stop is hit (``Proposal.risk``). Open positions
  count with their current risk (zero once the stop is at breakeven or better).
- **Daily loss**: ``day_start_equity - equity`` (closed and open P&L since the day's reset),
  where the day starts at ``daily_reset`` in ``timezone`` (e.g. 00:00 Europe/Prague for FTMO,
  17:00 America/New_York for futures firms), daylight saving included. A trade is refused when
  the daily loss plus the risk of the open positions plus its own risk would pass the limit
  (the worst case if every stop is hit); exactly reaching it is allowed.
- **Total drawdown, static**: the floor is ``start_balance - max_drawdown``; it never moves.
- **Total drawdown, trailing**: the floor is ``equity_high - max_drawdown`` (the highest equity
  the account has reached, open P&L included); with ``trailing_lock=True`` the floor stops
  rising once it reaches ``start_balance`` (Topstep's "trailing max loss locks at the starting
  balance"). Both refuse a trade whose worst case (equity minus open risk minus its risk) would
  fall below the floor.
- **Cooldown**: after ``cooldown_after_losses`` consecutive losing trades no new trade for
  ``cooldown_minutes`` after the last loss, or, when that is not set, until the next daily reset.
- **Trading hours / no-trade windows**: ``"HH:MM-HH:MM"`` in ``timezone``, end excluded; a window
  may cross midnight (``"22:00-02:00"``). Outside every trading-hours window (when any are set)
  or inside any no-trade window, no trade.
- **News windows**: each row of the calendar blocks trades on matching symbols from
  ``minutes_before`` before to ``minutes_after`` after its time (end excluded; a row that does
  not say uses the rules' ``news_minutes_before`` / ``news_minutes_after``, 2 and 2). A row
  names a ``symbol`` (exact, case-insensitive) or a ``currency`` (its letters appear in the
  symbol: ``USD`` matches ``EURUSD`` and ``BTC/USDT``) or neither (blocks every symbol).

>>> rules = RiskRules(max_daily_loss_pct=5)
>>> state = AccountState(balance=100_000, equity=95_400, equity_high=100_000,
...                      start_balance=100_000, day_start_equity=100_000)
>>> now = dt.datetime(2026, 11, 27, 15, tzinfo=dt.UTC)
>>> check(rules, state, Proposal(symbol="EURUSD", risk=1_000), now).reason
'daily loss limit: 4.6 % of 5 % used, this trade risks 1 %'
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import ConfigurationError, DataError, ItaError
from engine.timezones import parse_timezone

if TYPE_CHECKING:  # the switch's state only; risk stays free of files and locks
    from engine.paper.kill import KillState

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_WINDOW = re.compile(r"^\s*(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s*$")


def _clock(text: str) -> dt.time:
    match = _CLOCK.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day HH:MM (e.g. 17:00)")
    return dt.time(int(match[1]), int(match[2]))


def _window(text: str) -> tuple[dt.time, dt.time]:
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a window HH:MM-HH:MM (e.g. 08:00-17:00)")
    start, end = _clock(match[1]), _clock(match[2])
    if start == end:
        raise ValueError(f"{text!r} is an empty window (start equals end)")
    return start, end


def _in_window(clock: dt.time, window: str) -> bool:
    start, end = _window(window)
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # crosses midnight


class RiskRules(BaseModel):
    """One account's limits. Every limit is optional (``None`` = not enforced)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schema_version: Literal[1] = Field(default=1, description="Format version of these rules")
    timezone: str = Field(
        default="UTC", description="The account's time zone: the daily reset, trading hours "
        "and no-trade windows are read in it (e.g. America/New_York, Europe/Prague)")
    max_risk_per_trade_pct: float | None = Field(
        default=None, gt=0, le=100, description="Max money at risk in one trade (entry to "
        "stop), % of the current balance")
    max_open_positions: int | None = Field(
        default=None, ge=1, description="Max positions open at once across all symbols")
    max_open_per_symbol: int | None = Field(
        default=None, ge=1, description="Max positions open at once on one symbol")
    max_daily_loss_pct: float | None = Field(
        default=None, gt=0, le=100, description="Max loss in one trading day (closed and open "
        "P&L since the daily reset), % of the starting balance (FTMO: 5)")
    max_daily_loss_money: float | None = Field(
        default=None, gt=0, description="Max loss in one trading day, in money (Topstep 50K: "
        "1000); with a % limit too, the smaller one applies")
    daily_reset: str = Field(
        default="00:00", description="Time of day (in `timezone`) the trading day starts and "
        "the daily loss resets (FTMO 00:00 Europe/Prague, futures 17:00 America/New_York)")
    max_drawdown_pct: float | None = Field(
        default=None, gt=0, le=100, description="Max total drawdown, % of the starting "
        "balance (FTMO: 10)")
    max_drawdown_money: float | None = Field(
        default=None, gt=0, description="Max total drawdown in money (Topstep 50K: 2000); with "
        "a % limit too, the smaller one applies")
    drawdown_mode: Literal["static", "trailing"] = Field(
        default="static", description="static: the floor is the starting balance minus the "
        "max drawdown; trailing: the floor is the equity high minus the max drawdown")
    trailing_lock: bool = Field(
        default=False, description="Trailing only: the floor stops rising once it reaches the "
        "starting balance (Topstep)")
    cooldown_after_losses: int | None = Field(
        default=None, ge=1, description="After this many losing trades in a row, pause")
    cooldown_minutes: int | None = Field(
        default=None, ge=1, description="Length of the pause after the losing streak; unset: "
        "until the next daily reset")
    trading_hours: list[str] = Field(
        default_factory=list, description="Windows HH:MM-HH:MM (in `timezone`) when trades may "
        "open; empty: any time")
    no_trade_windows: list[str] = Field(
        default_factory=list, description="Windows HH:MM-HH:MM (in `timezone`) when no trade "
        "opens (e.g. the daily rollover 16:55-18:05)")
    news_calendar: str | None = Field(
        default=None, description="Calendar file (CSV or YAML) under the ITA home with news "
        "times that block trades around them; see `load_news`")
    news_minutes_before: int = Field(
        default=2, ge=0, le=1440, description="Minutes before a news time when no trade opens, "
        "for calendar rows that do not say (FTMO's news rule: 2)")
    news_minutes_after: int = Field(
        default=2, ge=0, le=1440, description="Minutes after a news time when no trade opens, "
        "for calendar rows that do not say (FTMO's news rule: 2)")
    warn_at_pct: float = Field(
        default=80, gt=0, lt=100, description="Warn once when this % of a limit is used")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            parse_timezone(value, field="timezone")
        except ItaError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("daily_reset")
    @classmethod
    def _reset_clock(cls, value: str) -> str:
        _clock(value)
        return value

    @field_validator("trading_hours", "no_trade_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        for window in value:
            _window(window)
        return value

    @property
    def zone(self) -> dt.tzinfo:
        return parse_timezone(self.timezone, field="timezone")

    def daily_loss_limit(self, start_balance: float) -> float | None:
        """The daily loss limit in money (the smaller of the two when both are set)."""
        return _smaller(self.max_daily_loss_money, self.max_daily_loss_pct, start_balance)

    def drawdown_limit(self, start_balance: float) -> float | None:
        """The total drawdown limit in money (the smaller of the two when both are set)."""
        return _smaller(self.max_drawdown_money, self.max_drawdown_pct, start_balance)


def _smaller(money: float | None, pct: float | None, base: float) -> float | None:
    limits = [x for x in (money, None if pct is None else base * pct / 100) if x is not None]
    return min(limits) if limits else None


def rules_from_dict(data: object, *, source: str = "risk rules") -> RiskRules:
    """`RiskRules` from a parsed YAML mapping, or a `ConfigurationError` naming the field."""
    try:
        return RiskRules.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "rules"
        raise ConfigurationError(f"{source}: {where}: {first['msg']}") from None


@dataclass(frozen=True)
class OpenPosition:
    """A position the ledger holds: its symbol and the money lost if its stop is hit now."""

    symbol: str
    risk: float


@dataclass(frozen=True)
class AccountState:
    """What the limits need to know about an account at one moment (the ledger produces it).

    ``day_start_equity`` is the equity at the last daily reset; ``day_start`` (aware) says which
    reset that was: a state from before the current trading day's reset counts a daily loss of 0
    (the day restarted with the current equity). ``equity_high`` is the highest equity reached.
    """

    balance: float
    equity: float
    equity_high: float
    start_balance: float
    day_start_equity: float
    open_positions: tuple[OpenPosition, ...] = ()
    consecutive_losses: int = 0
    last_loss_at: dt.datetime | None = None
    day_start: dt.datetime | None = None

    @property
    def open_risk(self) -> float:
        return sum(max(position.risk, 0.0) for position in self.open_positions)


@dataclass(frozen=True)
class Proposal:
    """A trade a signal proposes: its symbol and the money lost if its stop is hit."""

    symbol: str
    risk: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.risk) or self.risk < 0:
            raise ValueError(f"the risk of a {self.symbol} trade must be a finite amount of "
                             f"money >= 0 (entry to stop), got {self.risk!r}")


@dataclass(frozen=True)
class Verdict:
    """``allowed``; ``reason`` (the first refusal, in a trader's words, empty when allowed);
    every refusal in ``reasons``; ``warnings`` about limits nearly used."""

    allowed: bool
    reason: str = ""
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimitWarning:
    """A limit nearly used: send ``text`` once per ``key`` (the limit and the trading day)."""

    key: str
    text: str
    used_pct: float


@dataclass(frozen=True)
class NewsEvent:
    """One calendar row: trades on matching symbols wait from ``start`` to ``end``."""

    at: dt.datetime
    title: str = ""
    currency: str | None = None
    symbol: str | None = None
    minutes_before: int | None = None  # None: the rules' news_minutes_before
    minutes_after: int | None = None  # None: the rules' news_minutes_after
    row: int = field(default=0, compare=False)

    def window(self, rules: RiskRules) -> tuple[dt.datetime, dt.datetime, int, int]:
        """(start, end, minutes before, minutes after) under `rules`' defaults."""
        before = rules.news_minutes_before if self.minutes_before is None else self.minutes_before
        after = rules.news_minutes_after if self.minutes_after is None else self.minutes_after
        return (self.at - dt.timedelta(minutes=before), self.at + dt.timedelta(minutes=after),
                before, after)

    def matches(self, symbol: str) -> bool:
        if self.symbol:
            return self.symbol.upper() == symbol.upper()
        if self.currency:
            return self.currency.upper() in re.sub(r"[^A-Z]", "", symbol.upper())
        return True


def pct(value: float) -> str:
    """A percentage as traders read it: ``4.6``, ``5``, ``0.25``."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def trading_day_start(rules: RiskRules, now: dt.datetime) -> dt.datetime:
    """The last daily reset at or before `now` (aware, in the rules' zone).

    >>> rules = RiskRules(timezone="America/New_York", daily_reset="17:00")
    >>> trading_day_start(rules, dt.datetime(2026, 11, 27, 21, 30, tzinfo=dt.UTC)).isoformat()
    '2026-11-26T17:00:00-05:00'
    """
    _aware(now)
    zone = rules.zone
    local = now.astimezone(zone)
    reset = _clock(rules.daily_reset)
    day = local.date() if local.time() >= reset else local.date() - dt.timedelta(days=1)
    start = dt.datetime.combine(day, reset, tzinfo=zone)
    # A reset inside a skipped DST hour is read as the instant after the jump.
    return start.astimezone(dt.UTC).astimezone(zone)


def next_trading_day_start(rules: RiskRules, now: dt.datetime) -> dt.datetime:
    """The first daily reset after `now`."""
    start = trading_day_start(rules, now)
    day = start.date() + dt.timedelta(days=1)
    following = dt.datetime.combine(day, _clock(rules.daily_reset), tzinfo=rules.zone)
    return following.astimezone(dt.UTC).astimezone(rules.zone)


def _aware(moment: dt.datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} must be timezone-aware")


def daily_loss(rules: RiskRules, state: AccountState, now: dt.datetime) -> float:
    """Money lost since the current trading day's reset (0 when the state is from an earlier
    day, negative when the day is in profit)."""
    if state.day_start is not None and state.day_start < trading_day_start(rules, now):
        return 0.0
    return state.day_start_equity - state.equity


def drawdown_floor(rules: RiskRules, state: AccountState) -> float | None:
    """The equity the account must stay above (see the module docstring), or None."""
    limit = rules.drawdown_limit(state.start_balance)
    if limit is None:
        return None
    if rules.drawdown_mode == "static":
        return state.start_balance - limit
    # The high is at least the equity now (a ledger that updates the high later changes nothing).
    floor = max(state.equity_high, state.equity, state.start_balance) - limit
    return min(floor, state.start_balance) if rules.trailing_lock else floor


def check(rules: RiskRules, state: AccountState, proposal: Proposal, now: dt.datetime, *,
          news: Sequence[NewsEvent] = (), kill_switch: KillState | None = None) -> Verdict:
    """May `proposal` open now? Every limit is checked; the verdict lists every refusal.
    `news` comes from `load_news` (or `news_for`); `kill_switch` from `engine.paper.kill.state`:
    while it is on every trade is refused, first."""
    _aware(now)
    reasons = [text for text in (
        _killed(kill_switch),
        _risk_per_trade(rules, state, proposal),
        _positions(rules, state, proposal),
        _daily(rules, state, proposal, now),
        _drawdown(rules, state, proposal),
        _cooldown(rules, state, now),
        _hours(rules, now),
        _news(rules, news, proposal.symbol, now),
    ) if text]
    warnings = tuple(warning.text for warning in nearing(rules, state, now))
    return Verdict(allowed=not reasons, reason=reasons[0] if reasons else "",
                   reasons=tuple(reasons), warnings=warnings)


def _killed(kill_switch: KillState | None) -> str:
    if kill_switch is None or not kill_switch.engaged:
        return ""
    why = f": {kill_switch.reason}" if kill_switch.reason else ""
    return f"kill switch on (by {kill_switch.by}){why}"


def _risk_per_trade(rules: RiskRules, state: AccountState, proposal: Proposal) -> str:
    if rules.max_risk_per_trade_pct is None:
        return ""
    if state.balance <= 0:
        return "risk per trade: the balance is not positive"
    used = proposal.risk / state.balance * 100
    if used > rules.max_risk_per_trade_pct + 1e-9:
        return (f"risk per trade: this trade risks {pct(used)} % of the balance, the limit is "
                f"{pct(rules.max_risk_per_trade_pct)} %")
    return ""


def _positions(rules: RiskRules, state: AccountState, proposal: Proposal) -> str:
    total = len(state.open_positions)
    if rules.max_open_positions is not None and total >= rules.max_open_positions:
        return f"open positions: {total} of {rules.max_open_positions} already open"
    same = sum(1 for p in state.open_positions if p.symbol.upper() == proposal.symbol.upper())
    if rules.max_open_per_symbol is not None and same >= rules.max_open_per_symbol:
        return (f"open positions on {proposal.symbol}: {same} of {rules.max_open_per_symbol} "
                "already open")
    return ""


def _of_start(money: float, state: AccountState) -> str:
    return pct(money / state.start_balance * 100) if state.start_balance > 0 else "?"


def _daily(rules: RiskRules, state: AccountState, proposal: Proposal, now: dt.datetime) -> str:
    limit = rules.daily_loss_limit(state.start_balance)
    if limit is None:
        return ""
    lost = daily_loss(rules, state, now)
    worst = lost + state.open_risk + proposal.risk
    if worst <= limit + 1e-9:
        return ""
    open_part = (f", open positions risk {_of_start(state.open_risk, state)} %"
                 if state.open_risk > 0 else "")
    return (f"daily loss limit: {_of_start(max(lost, 0.0), state)} % of "
            f"{_of_start(limit, state)} % used{open_part}, this trade risks "
            f"{_of_start(proposal.risk, state)} %")


def _drawdown(rules: RiskRules, state: AccountState, proposal: Proposal) -> str:
    floor = drawdown_floor(rules, state)
    if floor is None:
        return ""
    worst = state.equity - state.open_risk - proposal.risk
    if worst >= floor - 1e-9:
        return ""
    limit = rules.drawdown_limit(state.start_balance) or 0.0
    used = limit - (state.equity - floor)
    return (f"max drawdown ({rules.drawdown_mode}): {_of_start(max(used, 0.0), state)} % of "
            f"{_of_start(limit, state)} % used (floor {floor:,.2f}, equity "
            f"{state.equity:,.2f}), this trade risks {_of_start(proposal.risk, state)} %")


def cooldown_until(rules: RiskRules, state: AccountState) -> dt.datetime | None:
    """When the losing-streak pause ends, or None when there is none."""
    streak = rules.cooldown_after_losses
    if streak is None or state.consecutive_losses < streak or state.last_loss_at is None:
        return None
    if rules.cooldown_minutes is not None:
        return state.last_loss_at + dt.timedelta(minutes=rules.cooldown_minutes)
    return next_trading_day_start(rules, state.last_loss_at)


def _cooldown(rules: RiskRules, state: AccountState, now: dt.datetime) -> str:
    until = cooldown_until(rules, state)
    if until is None or now >= until:
        return ""
    local = until.astimezone(rules.zone)
    return (f"cooldown: {state.consecutive_losses} losses in a row, no new trade until "
            f"{local:%Y-%m-%d %H:%M} {rules.timezone}")


def _hours(rules: RiskRules, now: dt.datetime) -> str:
    clock = now.astimezone(rules.zone).time()
    if rules.trading_hours and not any(_in_window(clock, w) for w in rules.trading_hours):
        return (f"outside trading hours ({', '.join(rules.trading_hours)} {rules.timezone}) at "
                f"{clock:%H:%M}")
    for window in rules.no_trade_windows:
        if _in_window(clock, window):
            return f"no-trade window {window} {rules.timezone} at {clock:%H:%M}"
    return ""


def _news(rules: RiskRules, news: Iterable[NewsEvent], symbol: str, now: dt.datetime) -> str:
    for event in news:
        minutes_after_news = (now - event.at).total_seconds() / 60
        if abs(minutes_after_news) > _MAX_NEWS_MINUTES:  # the quick skip for far-off rows
            continue
        _, _, before, after = event.window(rules)
        if -before <= minutes_after_news < after and event.matches(symbol):
            what = event.title or event.symbol or event.currency or "news"
            return (f"news window: {what} at {event.at.astimezone(dt.UTC):%H:%M} UTC, no trade "
                    f"from {before} min before to {after} min after")
    return ""


def nearing(rules: RiskRules, state: AccountState, now: dt.datetime) -> list[LimitWarning]:
    """The limits at least ``warn_at_pct`` % used now. Each ``key`` names the limit and the
    trading day, so a caller that remembers the keys it sent warns once per limit and day."""
    day = trading_day_start(rules, now).date().isoformat()
    found = []
    limit = rules.daily_loss_limit(state.start_balance)
    if limit:
        used = max(daily_loss(rules, state, now), 0.0) / limit * 100
        if used >= rules.warn_at_pct:
            found.append(LimitWarning(
                key=f"daily_loss:{day}", used_pct=used,
                text=(f"daily loss limit nearly reached: {pct(used)} % of it used "
                      f"({_of_start(used * limit / 100, state)} % of "
                      f"{_of_start(limit, state)} %)")))
    floor = drawdown_floor(rules, state)
    limit = rules.drawdown_limit(state.start_balance)
    if floor is not None and limit:
        used = max(limit - (state.equity - floor), 0.0) / limit * 100
        if used >= rules.warn_at_pct:
            found.append(LimitWarning(
                key=f"drawdown:{day}", used_pct=used,
                text=(f"max drawdown ({rules.drawdown_mode}) nearly reached: {pct(used)} % of "
                      f"it used (floor {floor:,.2f}, equity {state.equity:,.2f})")))
    return found


# --- the news calendar -------------------------------------------------------------------------

_MAX_NEWS_MINUTES = 1440
_NEWS_FIELDS = {"time", "title", "currency", "symbol", "minutes_before", "minutes_after"}


def news_for(home: str | Path, rules: RiskRules) -> list[NewsEvent]:
    """The events of ``rules.news_calendar``, a path relative to the ITA home (``[]`` when none
    is set), read again only when the file changes. A path that leaves the home is refused."""
    if not rules.news_calendar:
        return []
    root = Path(home).resolve()
    path = (root / rules.news_calendar).resolve()
    if not path.is_relative_to(root):
        raise ConfigurationError(f"news_calendar {rules.news_calendar!r} must be a file under "
                                 f"the ITA home {root}")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: news calendar not found") from None
    return list(_cached_news(str(path), info.st_mtime_ns, info.st_size))


@functools.lru_cache(maxsize=16)
def _cached_news(path: str, _mtime_ns: int, _size: int) -> tuple[NewsEvent, ...]:
    """`load_news` once per version of the file (the follower asks on every bar)."""
    return tuple(load_news(path))


def load_news(path: str | Path) -> list[NewsEvent]:
    """Read a news calendar: CSV with a header, or YAML (a list of mappings, or a mapping with
    ``events:``). Fields: ``time`` (ISO 8601 with an offset or ``Z``; no offset means UTC),
    ``title``, ``currency`` or ``symbol`` (optional), ``minutes_before``, ``minutes_after``
    (optional: the rules' ``news_minutes_before`` / ``news_minutes_after`` when left out).

    A bad file or row is a `DataError` of one line naming the file and the row.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: news calendar not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the news calendar ({error})") from None
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _yaml_rows(path, text)
    return [_event(path, number, row) for number, row in rows]


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    header = {name.strip() for name in reader.fieldnames or []}
    if "time" not in header:
        raise DataError(f"{path}: the CSV header must name a 'time' column, got "
                        f"{sorted(header)}")
    return [(index + 2, {k.strip(): (v or "").strip() for k, v in row.items() if k})
            for index, row in enumerate(reader)]


def _yaml_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise DataError(f"{path}:{where} not valid YAML") from None
    if data is None:
        return []
    if isinstance(data, dict):
        data = data.get("events")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of events (or 'events:' with a list)")
    return [(index + 1, row) for index, row in enumerate(data)]


def _event(path: Path, number: int, row: object) -> NewsEvent:
    where = f"{path}: row {number}"
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a mapping with time, currency/symbol, minutes")
    unknown = set(map(str, row)) - _NEWS_FIELDS
    if unknown:
        raise DataError(f"{where}: unknown field {sorted(unknown)[0]!r} (known: "
                        f"{', '.join(sorted(_NEWS_FIELDS))})")
    return NewsEvent(at=_event_time(where, row.get("time")),
                     title=str(row.get("title") or ""),
                     currency=str(row["currency"]) if row.get("currency") else None,
                     symbol=str(row["symbol"]) if row.get("symbol") else None,
                     minutes_before=_minutes(where, row, "minutes_before"),
                     minutes_after=_minutes(where, row, "minutes_after"), row=number)


def _event_time(where: str, value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"{where}: time {value!r} is not an ISO time like "
                            "2026-12-04T13:30:00Z") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _minutes(where: str, row: dict, name: str) -> int | None:
    value = row.get(name)
    if value in (None, ""):
        return None
    try:
        minutes = int(str(value).strip())
    except ValueError:
        raise DataError(f"{where}: {name} {value!r} is not a whole number of minutes") from None
    if not 0 <= minutes <= _MAX_NEWS_MINUTES:
        raise DataError(f"{where}: {name} must be 0 to {_MAX_NEWS_MINUTES} minutes, got "
                        f"{minutes}")
    return minutes
