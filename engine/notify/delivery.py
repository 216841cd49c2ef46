"""The outbox loop: send what the journal has queued for a channel, exactly once.

`deliver_pending(journal, channel, render)` takes the channel's queued alerts oldest close
first (best score first within one close) and for each: renders it, marks it `sending`, sends
it (each chat's message id is recorded as that chat confirms), marks it `sent`. An alert left
`sending` by a crash is sent again, only to the chats that never confirmed, its caption
starting with "(resent)" — the one case where a trader may see an alert twice (see
`engine/live/journal.py`).

**Albums.** When a channel can (`send_album`), the alerts of one close that have a picture go
as one album (up to 10, best first; more make several), which reaches the chat as fast as one
photo where single photos would arrive a second apart; their decision buttons follow in one
message (`send_decisions`), which is not urgent. The album's message ids are recorded in one
transaction with the buttons marked owed; a restart sends owed buttons only, never the album
again. An album Telegram refuses is retried photo by photo, so one bad caption fails alone.

`ITA_CRASH_POINT` (tests only) names a point where the process kills itself with SIGKILL:
`after_mark_sending`; `after_accept` (a chat accepted the alert or album, its message ids not
yet recorded: the ambiguous point); `after_send` (every chat's ids recorded, the row still
`sending`: the restart sends nothing more, except an album's buttons, which are not sent
yet); `after_buttons_accept` (an album's buttons accepted, their id not recorded: the restart
sends the buttons again, not the album); `after_mark_sent`. The crash tests start a real
process with it and restart one without it.
"""

from __future__ import annotations

import html
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from engine.errors import ConfigurationError, ItaError, TemporaryError
from engine.live.journal import OutboxItem, SignalJournal

log = logging.getLogger(__name__)

RESENT_MARK = "(resent) "
CRASH_ENV = "ITA_CRASH_POINT"
ALBUM_LIMIT = 10  # photos in one album (Telegram's sendMediaGroup)

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
    items = in_close_order(journal.pending(channel.name))
    albums = callable(getattr(channel, "send_album", None))
    done = 0
    for group in _groups(items, albums=albums):
        try:
            sent, failed = _deliver_group(journal, channel, render, group)
        except (TemporaryError, ConfigurationError) as exc:
            for item in items[done:]:
                if journal.deliveries(item.signal_id)[channel.name]["state"] in (
                        "pending", "sending"):
                    journal.mark_retry(item.signal_id, channel.name, str(exc))
            report.waiting = len(items) - done - _settled(journal, channel, items[done:])
            report.error = str(exc)
            if isinstance(exc, ConfigurationError):
                raise
            log.warning("%s unavailable, %d alert(s) wait: %s", channel.name, report.waiting, exc)
            return report
        report.sent += sent
        report.failed += failed
        done += len(group)
    return report


def in_close_order(items: list[OutboxItem]) -> list[OutboxItem]:
    """Oldest close first (a bar's close: `known_at` + its timeframe, so a 5m and a 1m bar
    closing together are one close), best score first within a close, then journal order."""
    def key(pair: tuple[int, OutboxItem]) -> tuple:
        position, item = pair
        score = item.signal.score
        return (_close(item), score is None, -(score or 0.0), position)

    return [item for _, item in sorted(enumerate(items), key=key)]


def _close(item: OutboxItem) -> pd.Timestamp:
    from engine.candles import timeframe_delta

    signal = item.signal
    return pd.Timestamp(signal.known_at) + timeframe_delta(str(signal.timeframe))


def _groups(items: list[OutboxItem], *, albums: bool) -> Iterator[list[OutboxItem]]:
    """Runs of alerts that may share an album (one close, the same chats still to reach) or
    owe the buttons of one (one close); at most `ALBUM_LIMIT` per run. Without albums, one
    alert per run."""
    def kind(item: OutboxItem) -> tuple:
        return (_close(item), frozenset(item.message_ids), bool(item.owed_buttons))

    run: list[OutboxItem] = []
    for item in items:
        if run and (not albums or kind(run[0]) != kind(item) or len(run) == ALBUM_LIMIT):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def _settled(journal: SignalJournal, channel: Channel, items: list[OutboxItem]) -> int:
    return sum(journal.deliveries(i.signal_id)[channel.name]["state"] not in (
        "pending", "sending") for i in items)


def _deliver_group(journal: SignalJournal, channel: Channel, render: Render,
                   group: list[OutboxItem]) -> tuple[int, int]:
    """Deliver one group (see `_groups`); (sent, refused)."""
    if group[0].owed_buttons:  # an album went out before a crash or failure: its buttons
        _send_decisions(journal, channel, group)
        chats = set(getattr(channel, "chat_ids", ()))
        done = [i for i in group if chats <= set(i.message_ids)]
        for item in done:
            journal.mark_sent(item.signal_id, channel.name, {})
        return len(done), 0
    rendered = [(item, *_rendered(render, item)) for item in group]
    photos = [(item, png, caption) for item, png, caption in rendered if png is not None]
    singles = [(item, png, caption) for item, png, caption in rendered if png is None]
    if len(photos) >= 2:
        try:
            _deliver_album(journal, channel, photos)
        except AlertRejected as exc:
            log.warning("album of %d refused by %s (%s): sending its alerts one by one",
                        len(photos), channel.name, exc)
            singles = photos + singles
    else:
        singles = photos + singles
    sent = failed = 0
    for item, png, caption in singles:
        try:
            _deliver_one(journal, channel, item, png, caption)
        except AlertRejected as exc:
            journal.mark_failed(item.signal_id, channel.name, str(exc))
            log.warning("alert %s refused by %s: %s", item.signal_id, channel.name, exc)
            failed += 1
            continue
        sent += 1
    return sent + len(group) - len(singles), failed


def _deliver_one(journal: SignalJournal, channel: Channel, item: OutboxItem,
                 png: bytes | None, caption: str) -> None:
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


def _deliver_album(journal: SignalJournal, channel: Any,
                   photos: list[tuple[OutboxItem, bytes, str]]) -> None:
    """One album of `photos` (same close, same chats to reach), then their buttons."""
    ids = [item.signal_id for item, _, _ in photos]
    for item, _, _ in photos:
        journal.mark_sending(item.signal_id, channel.name, resent=item.unconfirmed)
    crash_point("after_mark_sending")

    def confirmed(chat: str, message_ids: list[int]) -> None:
        crash_point("after_accept")
        journal.mark_album_sent(ids, channel.name, chat, message_ids)

    channel.send_album([(png, RESENT_MARK + caption if item.unconfirmed else caption,
                         item.signal_id) for item, png, caption in photos],
                       skip_chats=set(photos[0][0].message_ids), on_sent=confirmed)
    crash_point("after_send")
    items = [item for item, _, _ in photos]
    _send_decisions(journal, channel, items)
    for item in items:
        journal.mark_sent(item.signal_id, channel.name, {})
    crash_point("after_mark_sent")


def _send_decisions(journal: SignalJournal, channel: Any, items: list[OutboxItem]) -> None:
    """The buttons of album alerts `items` to each chat that owes them (read fresh from the
    journal: the album just recorded them), one message per chat."""
    fresh = {i.signal_id: i for i in journal.pending(channel.name)}
    owed: dict[str, list[OutboxItem]] = {}
    for item in items:
        current = fresh.get(item.signal_id, item)
        for chat in current.owed_buttons:
            owed.setdefault(chat, []).append(current)
    for chat, alerts in owed.items():
        ids = [item.signal_id for item in alerts]
        first = min(item.message_ids[chat] for item in alerts)
        message_id = channel.send_decisions(chat, decisions_text(alerts), ids, reply_to=first)
        crash_point("after_buttons_accept")
        journal.mark_buttons_sent(ids, channel.name, chat, message_id)


def decisions_text(items: list[OutboxItem]) -> str:
    """The text above an album's buttons: one numbered line per alert (setup, symbol)."""
    lines = [f"Your decision on these {len(items)} alerts:"]
    for number, item in enumerate(items, start=1):
        s = item.signal
        side = "LONG" if s.direction > 0 else "SHORT"
        lines.append(f"{number}. <b>{html.escape(s.setup_id)} v{s.setup_version}</b> "
                     f"{html.escape(s.symbol)} {html.escape(s.timeframe)} {side}")
    return "\n".join(lines)


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
