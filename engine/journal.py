"""The trade journal: the analyst's notes, tags and mistakes per trade or signal (pure).

A journal entry belongs to a trade idea, not to one backtest: its key is the signal's stable
identity, so re-running a backtest of the same setup version finds the same entries.

**Key** (`TradeKey`): ``(setup_id, setup_version, symbol, signal_time, direction)`` where
``signal_time`` is the close of the bar that made the signal known (``known_at`` of the
signal, ``signal_time`` of the trade), in UTC. `entry_id` turns it into one file name:
``<setup>-v<N>-<symbol>-<YYYYmmddTHHMMSSZ>-<long|short>-<digest>``; the symbol is reduced to
letters and digits for reading, and the digest (8 hex digits of the full key) keeps two keys
that read alike (``BTC/USDT`` and ``BTC-USDT``) apart.

**Entry** (`JournalEntry`), one YAML file per entry:

| field | type | meaning |
| --- | --- | --- |
| `schema_version` | int | 1 |
| `entry_id` | str | `entry_id(key)`; the file name without `.yaml` |
| `setup_id`, `setup_version`, `symbol`, `signal_time`, `direction` | key | the trade idea |
| `run_id` | str or null | the run the analyst was looking at when writing (informational) |
| `note` | str | free text (Markdown), at most 20,000 characters |
| `tags` | list[str] | the analyst's labels (``a+``, ``news``, ``london-open``) |
| `mistakes` | list[str] | what went wrong (`MISTAKES` offers the usual ones; any tag-shaped word) |
| `screenshots` | list[str] | file names in the entry's screenshot folder |
| `created_at`, `updated_at` | str | ISO times, UTC |

Tags and mistakes are lower-case words of letters, digits, ``-``, ``_``, ``+`` (at most 40
characters); `parse_tags` reads them from "A+, news london-open" and refuses anything else with
a one-line message. File layout, atomic writes and the one-writer rule are the store's
(`engine.adapters.journal`).

`journal_frame` joins a run's trades (or its `untraded_signals`, keyed the same way) with
their entries; `filter_trades` filters them by tag, mistake, session, weekday and direction;
`pnl_calendar` sums R and money per day of exit.

>>> entry_id(TradeKey("sma-cross", 1, "BTC/USDT", "2023-03-01 14:05", 1))
'sma-cross-v1-BTCUSDT-20230301T140500Z-long-7902accb'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.errors import DataError

SCHEMA_VERSION = 1
MAX_NOTE_CHARS = 20_000
MISTAKES = ("early-entry", "late-entry", "chased", "fomo", "moved-stop", "no-stop",
            "oversized", "cut-winner", "held-loser", "against-trend", "not-my-setup",
            "revenge", "news")
_TAG = re.compile(r"[a-z0-9+][a-z0-9_+-]{0,39}")
_SPLIT = re.compile(r"[,\s]+")


@dataclasses.dataclass(frozen=True)
class TradeKey:
    """What identifies a trade idea across re-runs of the same setup version."""

    setup_id: str
    setup_version: int
    symbol: str
    signal_time: pd.Timestamp | str
    direction: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "setup_version", int(self.setup_version))
        object.__setattr__(self, "direction", 1 if int(self.direction) > 0 else -1)
        object.__setattr__(self, "signal_time", _utc(self.signal_time))


def _utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _direction_name(direction: int) -> str:
    return "long" if direction > 0 else "short"


def entry_id(key: TradeKey) -> str:
    """One safe file name per key (letters, digits, ``-``, ``.``; at most 128 characters)."""
    stamp = key.signal_time.strftime("%Y%m%dT%H%M%SZ")
    canonical = "|".join([key.setup_id, str(key.setup_version), key.symbol,
                          key.signal_time.isoformat(), str(key.direction)])
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
    symbol = re.sub(r"[^A-Za-z0-9]", "", key.symbol) or "symbol"
    tail = f"-v{key.setup_version}-{symbol[:20]}-{stamp}-{_direction_name(key.direction)}-{digest}"
    return key.setup_id[: 128 - len(tail)] + tail


def trade_keys(trades: pd.DataFrame) -> list[TradeKey]:
    """The key of every trade (rows of a run's trades.parquet), in order."""
    return [TradeKey(t.setup_id, t.setup_version, t.symbol, t.signal_time, t.direction)
            for t in trades[["setup_id", "setup_version", "symbol", "signal_time",
                             "direction"]].itertuples(index=False)]


def parse_tags(text: str | list[str] | None, *, field: str = "tags") -> list[str]:
    """Tags from "A+, news london-open" (commas or spaces): lower case, unique, in order.

    >>> parse_tags("A+, news  News london-open")
    ['a+', 'news', 'london-open']
    """
    words = text if isinstance(text, list) else _SPLIT.split(text or "")
    tags: list[str] = []
    for word in (w.strip().lower() for w in words):
        if not word:
            continue
        if not _TAG.fullmatch(word):
            raise DataError(f"{field}: {word!r} is not a tag: use letters, digits, '-', '_' "
                            "and '+' (at most 40 characters, no spaces inside a tag)")
        if word not in tags:
            tags.append(word)
    return tags


class JournalEntry(BaseModel):
    """One journal entry (the table in the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(default=SCHEMA_VERSION, description="Entry format version")
    entry_id: str = Field(description="entry_id(key): the file name without .yaml")
    setup_id: str = Field(description="Setup id of the trade idea")
    setup_version: int = Field(ge=1, description="Setup version of the trade idea")
    symbol: str = Field(description="Market symbol")
    signal_time: str = Field(description="Close of the bar that made the signal known (UTC)")
    direction: int = Field(description="+1 long, -1 short")
    run_id: str | None = Field(default=None, description="Run open when the entry was written")
    note: str = Field(default="", max_length=MAX_NOTE_CHARS, description="Free text")
    tags: list[str] = Field(default_factory=list, description="The analyst's labels")
    mistakes: list[str] = Field(default_factory=list, description="What went wrong")
    screenshots: list[str] = Field(default_factory=list, description="Attached image files")
    created_at: str = Field(description="When the entry was first written (UTC)")
    updated_at: str = Field(description="When the entry was last written (UTC)")

    @field_validator("tags", "mistakes")
    @classmethod
    def _tag_shaped(cls, value: list[str], info) -> list[str]:
        try:
            return parse_tags(value, field=info.field_name)
        except DataError as error:  # pydantic reports ValueErrors with the field's name
            raise ValueError(str(error).split(": ", 1)[1]) from None

    @property
    def key(self) -> TradeKey:
        return TradeKey(self.setup_id, self.setup_version, self.symbol, self.signal_time,
                        self.direction)


def new_entry(key: TradeKey, *, run_id: str | None = None,
              now: dt.datetime | None = None) -> JournalEntry:
    """An empty entry for `key`, to be filled and saved."""
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    return JournalEntry(entry_id=entry_id(key), setup_id=key.setup_id,
                        setup_version=key.setup_version, symbol=key.symbol,
                        signal_time=key.signal_time.isoformat(), direction=key.direction,
                        run_id=run_id, created_at=stamp, updated_at=stamp)


JOURNAL_COLUMNS = ("entry_id", "note", "tags", "mistakes", "screenshots")


def journal_frame(trades: pd.DataFrame, entries: dict[str, JournalEntry]) -> pd.DataFrame:
    """`trades` with the columns of `JOURNAL_COLUMNS` (tags and mistakes as lists; "" and []
    where a trade has no entry). `entries` maps entry ids to entries."""
    frame = trades.copy()
    ids = [entry_id(key) for key in trade_keys(trades)] if len(trades) else []
    found = [entries.get(i) for i in ids]
    frame["entry_id"] = ids
    frame["note"] = [e.note if e else "" for e in found]
    frame["tags"] = [list(e.tags) if e else [] for e in found]
    frame["mistakes"] = [list(e.mistakes) if e else [] for e in found]
    frame["screenshots"] = [len(e.screenshots) if e else 0 for e in found]
    return frame


def untraded_signals(signals: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """The signals of a run that did not become a trade (skipped while in a trade or while
    an order worked, never filled, ...), as rows a journal keys like trades: the signal's
    columns plus ``signal_time`` (its ``known_at``, the time a trade of it would carry), so
    `journal_frame` finds their entries and a note written on one stays with that idea.

    A signal became a trade when a trade has its ``signal_time`` and direction."""
    frame = signals.drop(columns=["reasons"], errors="ignore").copy()
    frame["signal_time"] = pd.to_datetime(frame["known_at"], utc=True)
    if frame.empty:
        return frame.reset_index(drop=True)
    traded = set(zip(pd.to_datetime(trades["signal_time"], utc=True),
                     trades["direction"].astype(int), strict=True)) if len(trades) else set()
    keep = [(t, int(d)) not in traded
            for t, d in zip(frame["signal_time"], frame["direction"], strict=True)]
    return frame[keep].reset_index(drop=True)


def filter_trades(frame: pd.DataFrame, *, tags=(), mistakes=(), sessions=(), weekdays=(),
                  directions=()) -> pd.DataFrame:
    """Rows of a `journal_frame` that have every chosen tag and mistake, and whose session,
    weekday and direction (+1/-1) are among the chosen ones (an empty choice keeps all)."""
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("tags", tags), ("mistakes", mistakes)):
        if wanted:
            keep &= frame[column].map(lambda have, w=set(wanted): w <= set(have))
    for column, wanted in (("session", sessions), ("weekday", weekdays),
                           ("direction", directions)):
        if wanted:
            keep &= frame[column].isin(list(wanted))
    return frame[keep]


def pnl_calendar(trades: pd.DataFrame, tz=None) -> pd.DataFrame:
    """One row per day (in zone `tz`, the trader's; None: UTC) with a closed trade: ``trades``,
    ``r`` (sum of R multiples) and ``pnl`` (sum of money), indexed by ``day`` (a date). A trade
    counts on the day it closed, as a broker statement books it."""
    if trades.empty:
        return pd.DataFrame({"trades": pd.Series(dtype="int64"), "r": pd.Series(dtype=float),
                             "pnl": pd.Series(dtype=float)}).rename_axis("day")
    days = pd.DatetimeIndex(trades["exit_time"]).tz_convert(tz or "UTC").date
    daily = trades.groupby(days).agg(trades=("r_multiple", "size"), r=("r_multiple", "sum"),
                                     pnl=("pnl", "sum"))
    return daily.rename_axis("day")


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def calendar_month(daily: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """A month of `pnl_calendar` as a grid: one row per week (labelled by its Monday), one
    column per weekday; a cell reads ``"14  +1.20 R  +120.00"`` (day, R, money), ``"14"`` on a
    day without trades and ``""`` outside the month."""
    first = dt.date(year, month, 1)
    last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    monday = first - dt.timedelta(days=first.weekday())
    rows = {}
    while monday <= last:
        cells = []
        for offset in range(7):
            day = monday + dt.timedelta(days=offset)
            if day.month != month:
                cells.append("")
            elif day in daily.index:
                row = daily.loc[day]
                cells.append(f"{day.day}  {row['r']:+.2f} R  {row['pnl']:+,.2f}")
            else:
                cells.append(str(day.day))
        rows[f"week of {monday:%d %b}"] = cells
        monday += dt.timedelta(days=7)
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(WEEKDAYS))
