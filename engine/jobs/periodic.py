"""The engine daemon's small periodic duties, on one thread of their own (`Periodic`):

- **the kill switch's file door**, each second: a ``KILL`` file dropped in ``exchange/`` turns
  the paper kill switch on (`engine.paper.kill.poll_file`);
- **the weekly summary**, looked at each minute, sent Mondays 08:00 in the display zone
  (`engine.reports.weekly.send_weekly_if_due`): to the Telegram chats, and as a page under
  "ITA reports" when Notion is set up;
- **the Notion round**, every ``notion_minutes`` (`engine.adapters.notion.periodic.notion_tick`):
  journal rows delivered, parameter edits read; nothing, and no request, without Notion.

Each duty runs in turn, never two at once; one that fails is logged (one line, or the
traceback for a bug) and tried again at its next turn: a duty never stops the daemon or the
other duties. The jobs the trader waits for run in the daemon's main loop, untouched by these.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import ItaError
from engine.settings import Settings

log = logging.getLogger("engine.jobs.daemon")
TICK_SECONDS = 1.0


@dataclass
class Duty:
    name: str
    every: float  # seconds
    run: Callable[[], None]
    due: float = 0.0  # monotonic time of its next turn
    failures: int = field(default=0)


class Periodic:
    """Runs `duties` on a thread until `stopping` is set (`start`), or one turn (`tick`)."""

    def __init__(self, duties: list[Duty], *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.duties = duties
        self.clock = clock

    @classmethod
    def for_settings(cls, settings: Settings) -> Periodic:
        duties = [Duty("kill switch file", 1.0, lambda: _kill_file(settings))]
        if settings.weekly_summary:
            duties.append(Duty("weekly summary", 60.0, lambda: send_weekly(settings)))
        if settings.notion_minutes > 0:
            duties.append(Duty("notion", settings.notion_minutes * 60,
                               lambda: _notion(settings)))
        return cls(duties)

    def tick(self) -> None:
        """Every duty whose turn has come, once."""
        for duty in self.duties:
            now = self.clock()
            if now < duty.due:
                continue
            duty.due = now + duty.every
            try:
                duty.run()
                duty.failures = 0
            except ItaError as error:
                duty.failures += 1
                if duty.failures == 1:  # the same failure each second would flood the log
                    log.warning("%s: %s", duty.name, error)
            except Exception:  # a bug in one duty must not stop the others
                duty.failures += 1
                if duty.failures == 1:
                    log.exception("%s failed", duty.name)

    def start(self, stopping: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stopping.is_set():
                self.tick()
                stopping.wait(TICK_SECONDS)

        thread = threading.Thread(target=loop, name="ita-periodic", daemon=True)
        thread.start()
        return thread


def _kill_file(settings: Settings) -> None:
    from engine.paper.kill import poll_file

    state = poll_file(settings)
    if state is not None:
        log.warning("kill switch ON from a file in exchange/: %s", state.reason or "no reason")


def _notion(settings: Settings) -> None:
    from engine.adapters.notion.periodic import notion_tick

    lines = notion_tick(settings.home)
    for line in lines or []:
        log.info("notion %s", line)


def send_weekly(settings: Settings, *, now: dt.datetime | None = None) -> bool:
    """The weekly summary when it is due: each message to every configured Telegram chat, and
    the whole summary as one Notion page when Notion is set up. True when it was due."""
    from engine.live.wiring import telegram_from
    from engine.reports.weekly import send_weekly_if_due

    channel = telegram_from(settings)
    sent: list[str] = []

    def send(message: str) -> None:
        sent.append(message)
        if channel is not None:
            for chat in channel.chat_ids:
                channel.send_text(chat, message, html=True)

    try:
        due = send_weekly_if_due(settings, now=now or dt.datetime.now(dt.UTC), send=send)
    finally:
        if channel is not None:
            channel.close()
    if due:
        log.info("weekly summary sent (%d message(s), Telegram: %s)", len(sent),
                 "yes" if channel is not None else "not configured")
        _weekly_to_notion(settings, sent, now or dt.datetime.now(dt.UTC))
    return due


def _weekly_to_notion(settings: Settings, messages: list[str], now: dt.datetime) -> None:
    from engine.adapters.notion import blocks
    from engine.adapters.notion.config import notion_settings
    from engine.adapters.notion.reports import publish_report

    notion = notion_settings()
    if not notion.enabled or not messages:
        return
    week = now.astimezone(settings.display_zone).strftime("%G-W%V")
    text = "\n\n".join(_plain(message) for message in messages)
    try:
        publish_report(settings.home, notion, f"weekly-{week}", f"ITA weekly summary {week}",
                       lambda _gateway: blocks.paragraphs(text))
    except ItaError as error:  # Telegram has it; Notion gets the next one
        log.warning("weekly summary not written to Notion: %s", error)


def _plain(html: str) -> str:
    """Telegram HTML as plain text (tags dropped, the three escapes undone)."""
    text = re.sub(r"<[^>]+>", "", html)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
