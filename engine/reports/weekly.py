"""The weekly summary: what Telegram (and Notion) get on Monday morning.

**When.** `next_weekly_due(now, tz, last_sent)` is the first Monday 08:00 in the trader's zone
(``ITA_DISPLAY_TZ``) after the last send, in wall-clock time: 08:00 stays 08:00 across a
daylight-saving change. The last send is kept in ``exchange/weekly.json`` under ITA_HOME,
written atomically *before* the messages go out, so a restart never sends one week twice (a
crash in the middle of sending loses that week's summary instead). A home without that file is
armed on the first check: its first summary comes the next Monday, not at once. A daemon that
was down on Monday morning sends the missed summary once when it is back.

**What.** `weekly_messages` — per setup version of `drift.period_report` over the 7 days up to
now: signals, taken, outcomes (wins / losses), total and mean R, against its backtest's
expectancy, with the drift sentence. Telegram HTML (every name escaped), split between setups
into messages of at most 4,096 characters (Telegram's limit, counted in UTF-16 code units).

The lead wires `send_weekly_if_due(settings, now=..., send=...)` into the daemon's loop.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine._io import write_json_atomic
from engine.adapters.runs import short_id
from engine.backtest import presentation as view
from engine.live.alert import FIELD_CHARS, telegram_length
from engine.reports.drift import VersionLine, period_report

MESSAGE_LIMIT = 4096
SEND_WEEKDAY, SEND_TIME = 0, dt.time(8, 0)  # Monday 08:00 in the trader's zone
WEEKLY_FILE = Path("exchange") / "weekly.json"
PERIOD = dt.timedelta(days=7)


def _monday_8(day: dt.date, tz) -> dt.datetime:
    monday = day - dt.timedelta(days=(day.weekday() - SEND_WEEKDAY) % 7)
    return dt.datetime.combine(monday, SEND_TIME, tzinfo=tz)


def next_weekly_due(now: dt.datetime, tz, last_sent: dt.datetime | None) -> dt.datetime:
    """The Monday 08:00 (zone `tz`) the next summary is due: the first one after `last_sent`;
    without a last send, this week's (which may be before `now`: due at once).

    >>> import zoneinfo
    >>> berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    >>> sent = dt.datetime(2026, 3, 23, 7, 0, tzinfo=dt.UTC)  # Monday 08:00 CET
    >>> next_weekly_due(sent, berlin, sent).astimezone(dt.UTC).hour  # 08:00 CEST
    6
    """
    tz = view.zone(tz)
    if last_sent is None:
        return _monday_8(now.astimezone(tz).date(), tz)
    local = last_sent.astimezone(tz)
    slot = _monday_8(local.date(), tz)
    while slot <= local:
        slot = dt.datetime.combine(slot.date() + dt.timedelta(days=7), SEND_TIME, tzinfo=tz)
    return slot


def _state_path(home: str | Path) -> Path:
    return Path(home) / WEEKLY_FILE


def last_sent(home: str | Path) -> dt.datetime | None:
    """When the last weekly summary went out (or the home was armed); None: never checked."""
    path = _state_path(home)
    if not path.exists():
        return None
    return dt.datetime.fromisoformat(json.loads(path.read_text())["last_sent"])


def mark_sent(home: str | Path, when: dt.datetime) -> None:
    write_json_atomic(_state_path(home), {"last_sent": when.astimezone(dt.UTC).isoformat()})


def weekly_due(home: str | Path, now: dt.datetime, tz) -> bool:
    """Is a summary due at `now`? The first check of a home arms it (records `now`)."""
    sent = last_sent(home)
    if sent is None:
        mark_sent(home, now)
        return False
    return now >= next_weekly_due(now, tz, sent)


def _esc(text: str) -> str:
    return html.escape(str(text)[:FIELD_CHARS], quote=False)


def _block(line: VersionLine) -> str:
    lv = line.live
    if not lv["signals"]:
        return f"<b>{_esc(line.setup_id)} v{line.version}</b>: no signals this week"
    rows = [f"<b>{_esc(line.setup_id)} v{line.version}</b>",
            f"signals {lv['signals']} · taken {lv['taken']} · outcomes {lv['outcomes']} "
            f"({lv['wins']} W / {lv['losses']} L) · {lv['total_r']:+.2f} R"
            + (f" (avg {lv['expectancy_r']:+.2f} R)" if lv["expectancy_r"] is not None else "")]
    if line.backtest is not None:
        rows.append(f"backtest {view.format_value(line.backtest['expectancy_r_net'], 'r')} "
                    f"per trade (run {short_id(line.run_id)})"
                    + (f" · drift {line.drift:+.2f} R" if line.drift is not None else ""))
    rows.append(f"<i>{html.escape(line.verdict, quote=False)}</i>")
    return "\n".join(rows)


def split_message(blocks: list[str], head: str, *, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`head` then the blocks, packed into messages of at most `limit` (UTF-16) characters,
    split only between blocks, so each block's tags stay whole. A block is a few hundred
    characters at most (names are cut to `FIELD_CHARS`), far below the limit."""
    messages, current = [], head
    for block in blocks:
        candidate = f"{current}\n\n{block}"
        if telegram_length(candidate) > limit:
            messages.append(current)
            candidate = f"{head} (continued)\n\n{block}"
        current = candidate
    messages.append(current)
    return messages


def weekly_messages(settings, now: dt.datetime) -> list[str]:
    """The summary of the 7 days up to `now`, as Telegram HTML messages."""
    tz = settings.display_zone
    start = now - PERIOD
    report = period_report(settings, start=start, end=now, tz=tz)
    head = (f"<b>ITA weekly summary</b> {view.format_time(pd.Timestamp(start), tz)} → "
            f"{view.format_time(pd.Timestamp(now), tz)} ({_esc(view.zone_name(tz))})")
    blocks = [_block(line) for line in report.lines]
    if not blocks:
        blocks = ["No active setups."]
    return split_message(blocks, head)


def send_weekly_if_due(settings, *, now: dt.datetime, send: Callable[[str], None]) -> bool:
    """If a summary is due: record the send, then `send` each message; True when it sent."""
    if not weekly_due(settings.home, now, settings.display_zone):
        return False
    messages = weekly_messages(settings, now)
    mark_sent(settings.home, now)
    for message in messages:
        send(message)
    return True
