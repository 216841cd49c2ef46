"""The weekly summary: Monday 08:00 in the trader's zone across DST, never twice after a
restart, Telegram-sized messages."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from engine.adapters.runs import short_id
from engine.live.alert import telegram_length
from engine.reports.weekly import (
    MESSAGE_LIMIT,
    last_sent,
    next_weekly_due,
    send_weekly_if_due,
    split_message,
    weekly_messages,
)
from engine.settings import get_settings
from tests.reports._journal import record_live

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
UTC = dt.UTC


def utc(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_monday_8_stays_8_across_daylight_saving() -> None:
    # Berlin: summer time from Sunday 29 March 2026; winter time from Sunday 25 October
    spring = next_weekly_due(utc(2026, 3, 25), BERLIN, utc(2026, 3, 23, 7, 0))
    assert spring.astimezone(UTC) == utc(2026, 3, 30, 6, 0)
    assert spring.astimezone(BERLIN).hour == 8 and spring.weekday() == 0
    autumn = next_weekly_due(utc(2026, 10, 21), BERLIN, utc(2026, 10, 19, 6, 0))
    assert autumn.astimezone(UTC) == utc(2026, 10, 26, 7, 0)
    # New York changes on 8 March 2026
    ny = next_weekly_due(utc(2026, 3, 4), NEW_YORK, utc(2026, 3, 2, 13, 0))
    assert ny.astimezone(UTC) == utc(2026, 3, 9, 12, 0)


def test_due_time_after_a_send_and_without_one() -> None:
    monday_8 = utc(2026, 3, 23, 7, 0)  # 08:00 in Berlin
    assert next_weekly_due(monday_8, BERLIN, monday_8) == next_weekly_due(
        monday_8, BERLIN, monday_8 - dt.timedelta(seconds=1)) + dt.timedelta(days=7)
    late = utc(2026, 3, 24, 15, 0)  # sent Tuesday afternoon (the daemon was down on Monday)
    assert next_weekly_due(late, BERLIN, late).astimezone(UTC) == utc(2026, 3, 30, 6, 0)
    # never sent: this week's Monday 08:00 (Sunday 23:30 in Berlin is still that week)
    sunday = utc(2026, 3, 29, 21, 30)
    assert next_weekly_due(sunday, BERLIN, None).astimezone(UTC) == monday_8


def test_a_restart_never_sends_twice(home, monkeypatch) -> None:
    monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Berlin")
    settings = get_settings()
    sent: list[str] = []
    wednesday = utc(2026, 3, 18, 10, 0)
    assert not send_weekly_if_due(settings, now=wednesday, send=sent.append)  # arms
    assert last_sent(home) == wednesday and not sent
    assert not send_weekly_if_due(settings, now=utc(2026, 3, 23, 6, 59), send=sent.append)
    monday = utc(2026, 3, 23, 7, 0)
    assert send_weekly_if_due(settings, now=monday, send=sent.append)
    assert len(sent) == 1 and sent[0].startswith("<b>ITA weekly summary</b>")
    restarted = get_settings()  # a new process reads the state from ITA_HOME
    for minutes in (0, 1, 60 * 24 * 6):
        assert not send_weekly_if_due(restarted, now=monday + dt.timedelta(minutes=minutes),
                                      send=sent.append)
    assert len(sent) == 1
    assert send_weekly_if_due(restarted, now=utc(2026, 3, 30, 6, 0), send=sent.append)
    assert len(sent) == 2


def test_summary_per_setup_version_against_its_backtest(home, run) -> None:
    version = run.summary["setup_version"]
    record_live(home, [1.5, -1.0, None], version=version, day="2026-03-18")
    messages = weekly_messages(get_settings(), utc(2026, 3, 23, 7, 0))
    assert len(messages) == 1
    text = messages[0]
    assert f"<b>sma-cross v{version}</b>" in text
    assert "signals 3 · taken 3 · outcomes 2 (1 W / 1 L) · +0.50 R (avg +0.25 R)" in text
    assert f"per trade (run {short_id(run.run_id)}) · drift +" in text
    assert "Too few live trades to judge" in text
    assert "<b>pdh-sweep-reversal v1</b>: no signals this week" in text  # idle: one line


def test_long_summaries_split_between_setups() -> None:
    blocks = [f"<b>setup-{i} v1</b>\nsignals {i} · taken 0\n<i>{'x' * 300}</i>"
              for i in range(40)]
    messages = split_message(blocks, "<b>ITA weekly summary</b>")
    assert len(messages) > 1
    assert all(telegram_length(m) <= MESSAGE_LIMIT for m in messages)
    joined = "\n".join(messages)
    assert all(block in joined for block in blocks)  # none cut, none lost
    assert all(m.count("<b>") == m.count("</b>") for m in messages)
    assert messages[1].startswith("<b>ITA weekly summary</b> (continued)")
