"""The outbox loop: send what the journal has queued for a channel, exactly once.

`deliver_pending(journal, channel, render)` takes the channel's queued alerts oldest bar first
(best score first within one bar) and for each: renders it, marks it `sending`, sends it
(each chat's message id is recorded as that chat confirms), marks it `sent`. An alert left
`sending` by a crash is sent again, only to the chats that never confirmed, its caption
starting with "(resent)" — the one case where a trader may see an alert twice (see
`engine/live/journal.py`).

`ITA_CRASH_POINT` (tests only) names a point where the process kills itself with SIGKILL:
`after_mark_sending`; `after_accept` (a chat accepted the alert, its message id not yet
recorded: the ambiguous point); `after_send` (every chat's id recorded, the row still
`sending`: the restart sends nothing more); `after_mark_sent`. The crash tests start a real
process with it and restart one without it.
"""

from __future__ import annotations

import html
import logging
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import ConfigurationError, ItaError, TemporaryError
from engine.live.journal import OutboxItem, SignalJournal

log = logging.getLogger(__name__)

RESENT_MARK = "(resent) "
CRASH_ENV = "ITA_CRASH_POINT"

Render = Callable[[OutboxItem], tuple[bytes | None, str]]


class AlertRejected(ItaError):
    """The channel refused this one alert for good (e.g. a caption it cannot parse)."""


class Channel(Protocol):
    """What `deliver_pending` needs from a channel."""

    name: str

    def send_alert(self, png: bytes | None, caption: str, signal_id: str, *,
                   skip_chats: Any = (),
                   on_sent: Callable[[str, int], None] | None = None) -> dict[str, int]:
        """Send to every chat not in `skip_chats`; call `on_sent(chat, message_id)` as each
        confirms; return {chat: message id}."""
        ...


@dataclass
class DeliveryReport:
    """What one `deliver_pending` call did."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    waiting: int = 0  # still queued after a temporary failure (retry later)
    error: str | None = None


def deliver_pending(journal: SignalJournal, channel: Channel, render: Render) -> DeliveryReport:
    """Deliver every alert `journal` holds for `channel`; stop at the first temporary failure
    (alerts stay queued, in order). While alerts are paused, queued alerts are suppressed.

    `render(item)` returns (PNG bytes or None, caption); if it fails, the alert goes out as
    text with a plain caption rather than not at all.
    """
    report = DeliveryReport()
    if journal.paused:
        report.suppressed = journal.suppress_pending(channel.name)
        return report
    items = journal.pending(channel.name)
    for position, item in enumerate(items):
        try:
            _deliver_one(journal, channel, render, item)
        except AlertRejected as exc:
            journal.mark_failed(item.signal_id, channel.name, str(exc))
            log.warning("alert %s refused by %s: %s", item.signal_id, channel.name, exc)
            report.failed += 1
            continue
        except (TemporaryError, ConfigurationError) as exc:
            journal.mark_retry(item.signal_id, channel.name, str(exc))
            report.waiting = len(items) - position
            report.error = str(exc)
            if isinstance(exc, ConfigurationError):
                raise
            log.warning("%s unavailable, %d alert(s) wait: %s", channel.name, report.waiting, exc)
            return report
        report.sent += 1
    return report


def _deliver_one(journal: SignalJournal, channel: Channel, render: Render,
                 item: OutboxItem) -> None:
    png, caption = _rendered(render, item)
    if item.unconfirmed:
        caption = RESENT_MARK + caption
    journal.mark_sending(item.signal_id, channel.name, resent=item.unconfirmed)
    crash_point("after_mark_sending")

    def confirmed(chat: str, message_id: int) -> None:
        crash_point("after_accept")
        journal.mark_chat_sent(item.signal_id, channel.name, chat, message_id)

    ids = channel.send_alert(png, caption, item.signal_id, skip_chats=set(item.message_ids),
                             on_sent=confirmed)
    crash_point("after_send")
    journal.mark_sent(item.signal_id, channel.name, ids)
    crash_point("after_mark_sent")


def _rendered(render: Render, item: OutboxItem) -> tuple[bytes | None, str]:
    try:
        return render(item)
    except Exception:  # a drawing bug must not lose the alert: send it as text
        log.exception("rendering alert %s failed; sending it as text", item.signal_id)
        return None, plain_caption(item)


def plain_caption(item: OutboxItem) -> str:
    """A minimal HTML caption from the journaled signal alone (the fallback)."""
    s = item.signal
    side = "LONG" if s.direction > 0 else "SHORT"
    late = " (late)" if s.late else ""
    lines = [f"<b>{html.escape(s.setup_id)} v{s.setup_version}</b>{late}",
             f"{html.escape(s.symbol)} {html.escape(s.timeframe)} {side}",
             f"entry {s.entry:g}  stop {s.stop:g}  target {s.target:g}  R {s.r_planned:.2f}",
             f"bar {s.known_at:%Y-%m-%d %H:%M} UTC"]
    return "\n".join(lines)


def plain_text(caption: str) -> str:
    """`caption` without its HTML tags and entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", caption))


def crash_point(name: str) -> None:
    """Tests only: die here, as `kill -9` would, when ITA_CRASH_POINT names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
