"""The daemon's periodic duties: the kill switch's file door in a running daemon, the weekly
summary to Telegram and Notion, and a failing duty that neither floods the log nor stops the
others."""

from __future__ import annotations

import datetime as dt
import logging

from engine.adapters.notion.config import NotionSettings
from engine.adapters.notion.state import NotionState
from engine.adapters.notion.workspace import setup_workspace
from engine.demo import run_demo
from engine.errors import DataError
from engine.jobs.periodic import Duty, Periodic, send_weekly
from engine.paper import kill
from engine.settings import get_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.jobs._processes import start_daemon, wait_for
from tests.notion.conftest import fake, notion_env  # noqa: F401 (fixtures)


def test_a_kill_file_turns_the_switch_on_in_the_running_daemon(ita_home, monkeypatch) -> None:
    monkeypatch.setenv("ITA_LEARN_MINUTES", "0")
    settings = get_settings()
    daemon = start_daemon(ita_home)
    try:
        wait_for(lambda: (ita_home / "exchange" / "engine.json").exists(), what="the daemon")
        (ita_home / "exchange" / "KILL").write_text("CPI in 5 minutes\n")
        wait_for(lambda: kill.state(settings).engaged, timeout=20, what="the kill switch")
        assert kill.state(settings).reason == "CPI in 5 minutes"
        wait_for(lambda: not (ita_home / "exchange" / "KILL").exists(), what="the file moved")
        assert list((ita_home / "exchange" / "kill_applied").iterdir())
    finally:
        daemon.terminate()
        daemon.wait(20)


def test_the_weekly_summary_goes_to_telegram_and_to_notion(notion_env, fake, monkeypatch  # noqa: F811
                                                            ) -> None:
    run_demo()
    setup_workspace(get_settings().home, NotionSettings())
    with FakeTelegram() as telegram:
        monkeypatch.setenv("ITA_TELEGRAM_TOKEN", "123:abc")
        monkeypatch.setenv("ITA_TELEGRAM_CHAT_ID", "42")
        monkeypatch.setenv("ITA_TELEGRAM_API_URL", telegram.base_url)
        monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Berlin")
        settings = get_settings()
        wednesday = dt.datetime(2026, 3, 18, 10, tzinfo=dt.UTC)
        assert not send_weekly(settings, now=wednesday)  # the first look only arms it
        monday = dt.datetime(2026, 3, 23, 7, 0, tzinfo=dt.UTC)  # 08:00 in Berlin
        assert send_weekly(settings, now=monday)
        sent = telegram.sent("sendMessage")
        texts = [r.text for r in sent]
        assert len(texts) >= 1 and texts[0].startswith("<b>ITA weekly summary</b>")
        assert {r.fields.get("parse_mode") for r in sent} == {"HTML"}
        assert {r.chat_id for r in sent} == {"42"}
        assert not send_weekly(settings, now=monday + dt.timedelta(minutes=1))
        assert len(telegram.sent("sendMessage")) == len(texts)
    state = NotionState(settings.home, NotionSettings().parent_page_id())
    page_id = state.data["reports"]["weekly-2026-W13"]
    words = str(fake.block_children(page_id))
    assert "ITA weekly summary" in words and "<b>" not in words


def test_a_failing_duty_is_logged_once_and_the_others_go_on(caplog) -> None:
    now = [0.0]
    runs: list[str] = []

    def broken() -> None:
        raise DataError("calendar.csv: row 3: no time")

    periodic = Periodic([Duty("news", 1.0, broken), Duty("count", 1.0, lambda: runs.append("x"))],
                        clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="engine.jobs.daemon"):
        for second in range(5):
            now[0] = float(second)
            periodic.tick()
    assert runs == ["x"] * 5
    assert [r.getMessage() for r in caplog.records] == ["news: calendar.csv: row 3: no time"]
