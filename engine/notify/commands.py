"""What the trader sends back: decision buttons, replies and commands.

`TelegramUpdates(channel, journal, status).poll_once()` reads the bot's updates (getUpdates,
long polling) and, **only for the configured chat ids** (any other chat gets nothing, not even
an answer to a button):

- a button press Taken / Skipped / Missed records the decision with
  `journal.set_decision` and answers the button ("Taken: recorded");
- a text reply to an alert records it as that decision's reason;
- `/status` `/signals` `/pause` `/resume` `/setups` `/stats SETUP` are answered by
  `answer_command` from a `LiveStatus`: plain functions the monitor provides (feeds, lag,
  setups, measured statistics); `LiveStatus.from_journal` fills today's signals and
  pause/resume from the journal itself;
- `/kill [close] [reason]` and `/release` turn the paper kill switch on and off
  (`engine.paper.kill`), recorded as by ``telegram:<chat id>``; from any other chat they are
  refused and logged.
- `/positions` lists the open paper positions, numbered; `/close N` closes the N-th at its
  series' last closed bar's close (`engine.paper.live`); configured chats only, like /kill.

The update offset is kept in the journal, so a restart neither loses nor repeats a decision
(a repeated one would be harmless: decisions are idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import ItaError
from engine.live.journal import SignalJournal
from engine.notify.telegram import parse_decision

log = logging.getLogger(__name__)

OFFSET_KEY = "telegram_update_offset"
HELP = ("Commands: /status (feeds, lag, active setups), /signals (today's), /pause and /resume "
        "(alerts), /setups, /stats SETUP (its measured statistics), /kill [close] [reason] and "
        "/release (the paper kill switch), /positions (open paper positions) and /close N")
KILL_COMMANDS = ("/kill", "/release")
PAPER_COMMANDS = ("/positions", "/close")


def _not_available(*_: Any) -> str:
    return "Not available: the live monitor is not running."


@dataclass(frozen=True)
class LiveStatus:
    """The answers to the commands, as functions returning plain text."""

    status: Callable[[], str] = _not_available
    signals: Callable[[], str] = _not_available
    setups: Callable[[], str] = _not_available
    stats: Callable[[str], str] = _not_available
    pause: Callable[[], str] = _not_available
    resume: Callable[[], str] = _not_available
    kill: Callable[[str, str], str] = _not_available  # (chat id, the text after /kill)
    release: Callable[[str], str] = _not_available  # (chat id)
    positions: Callable[[], str] = _not_available
    close: Callable[[str], str] = _not_available  # (the text after /close)

    @classmethod
    def from_journal(cls, journal: SignalJournal, *, tz: str = "UTC",
                     **providers: Callable[..., str]) -> LiveStatus:
        """`signals`, `pause` and `resume` from `journal`; the rest from `providers`."""

        def pause() -> str:
            journal.set_paused(True)
            return "Alerts paused: signals are still recorded, none is sent. /resume to restart."

        def resume() -> str:
            journal.set_paused(False)
            return "Alerts resumed."

        return cls(signals=lambda: signals_today(journal, tz=tz), pause=pause, resume=resume,
                   **providers)


def signals_today(journal: SignalJournal, *, tz: str = "UTC") -> str:
    """Today's signals, one line each, in the trader's time zone."""
    rows = journal.today(tz=tz)
    if not rows:
        return "No signals today."
    lines = [f"Signals today ({len(rows)}):"]
    for s in rows:
        side = "long" if s.direction > 0 else "short"
        when = s.known_at.tz_convert(tz).strftime("%H:%M")
        decision = f" — {s.decision}" if s.decision else ""
        lines.append(f"{when} {s.setup_id} v{s.setup_version} {s.symbol} {s.timeframe} {side} "
                     f"@ {s.entry:g}{decision}")
    return "\n".join(lines)


def _command(text: str) -> tuple[str, str]:
    command, _, argument = text.strip().partition(" ")
    return command.split("@", 1)[0].lower(), argument  # "/status@ita_bot" in groups


def answer_command(text: str, status: LiveStatus, *, chat: str = "") -> str:
    """The reply to one command message (`chat`: the configured chat it came from)."""
    command, argument = _command(text)
    if command == "/kill":
        return status.kill(chat, argument.strip())
    if command == "/release":
        return status.release(chat)
    if command == "/close":
        return status.close(argument)
    simple = {"/status": status.status, "/signals": status.signals, "/setups": status.setups,
              "/pause": status.pause, "/resume": status.resume,
              "/positions": status.positions}
    if command in simple:
        return simple[command]()
    if command == "/stats":
        return status.stats(argument.strip()) if argument.strip() else "Usage: /stats SETUP"
    return HELP


class TelegramUpdates:
    """Polls the bot's updates and acts on those from the configured chats."""

    def __init__(self, channel: Any, journal: SignalJournal, status: LiveStatus) -> None:
        self.channel, self.journal, self.status = channel, journal, status
        self.allowed = {str(c) for c in channel.chat_ids}

    def poll_once(self, timeout: float = 30.0) -> int:
        """Wait up to `timeout` s for updates, handle them; returns how many were handled."""
        offset = int(self.journal.value(OFFSET_KEY, "0") or 0)
        updates = self.channel.get_updates(offset or None, timeout)
        handled = 0
        for update in updates:
            handled += self._handle(update)
            self.journal.set_value(OFFSET_KEY, str(update.update_id + 1))
        return handled

    def _handle(self, update: Any) -> int:
        query = update.callback_query
        if query is not None:
            if query.message is None or str(query.message.chat.id) not in self.allowed:
                return 0
            self.channel.answer_callback(query.id, self._decide(query.data))
            return 1
        message = update.message
        if message is None or not message.text:
            return 0
        if str(message.chat.id) not in self.allowed:
            if _command(message.text)[0] in KILL_COMMANDS + PAPER_COMMANDS:
                log.warning("refused %s from chat %s: not a configured chat",
                            _command(message.text)[0], message.chat.id)
            return 0
        if message.text.startswith("/"):
            reply = answer_command(message.text, self.status, chat=str(message.chat.id))
        else:
            reply = self._reason(message)
            if reply is None:
                return 0
        self.channel.send_text(message.chat.id, reply)
        return 1

    def _decide(self, data: str | None) -> str:
        parsed = parse_decision(data)
        signal_id = self.journal.signal_for_key(parsed[1]) if parsed else None
        if parsed is None or signal_id is None:
            return "This alert is not in the journal."
        try:
            self.journal.set_decision(signal_id, parsed[0])
        except ItaError as exc:
            log.warning("decision not recorded: %s", exc)
            return str(exc)
        return f"{parsed[0]}: recorded. Reply to the alert to add a reason."

    def _reason(self, message: Any) -> str | None:
        replied = message.reply_to_message
        if replied is None:
            return None
        signal_id = self.journal.signal_for_message(message.chat.id, replied.message_id)
        if signal_id is None:
            return None
        self.journal.set_reason(signal_id, message.text.strip())
        return "Reason recorded."
