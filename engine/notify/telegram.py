"""Telegram: alerts as a photo with an HTML caption and Taken / Skipped / Missed buttons;
several alerts of one close as one album, their buttons in a message after it.

`TelegramChannel(token, chat_ids)` wraps python-telegram-bot's async `Bot` for a long-running
synchronous process: it owns a private event loop, and every call runs on it under a lock (a
second thread, such as the `TelegramUpdates` poller, uses its own channel). Rules:

- `RetryAfter` (429) is waited out, its int or timedelta normalised, up to `max_wait` s per
  message; 5xx, network errors and timeouts are retried `retries` times with exponential
  backoff (`backoff`, doubling, at most 60 s); then `TemporaryError`: the alert stays queued.
  A timeout may hide a message Telegram did deliver: the retry can show it twice.
- A bad token, a bot blocked or removed from the chat: `ConfigurationError`; a message
  Telegram refuses (400): `AlertRejected` (a caption over 1,024 characters is sent as plain
  text, cut, so that it is never refused for its length).
- One chat gets at most one message per `min_interval` (1 s, Telegram's per-chat limit),
  whichever thread sends, and all chats together at most one per `overall_interval` (1/30 s,
  Telegram's 30 messages per second); an album of N photos counts as N messages, so the
  next message to that chat waits N s after it. The clock and sleep are injectable for tests.
- An album (`send_album`, 2 to 10 photos, Telegram's `sendMediaGroup`) cannot carry buttons:
  `send_decisions` sends them after it, one row per alert numbered as in the album, as a reply
  to its first photo.
- Buttons carry `T:`/`S:`/`M:` + the 16-digit short key of the signal id (64-byte limit).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

# Opt in to PTB's future `RetryAfter.retry_after: timedelta`; otherwise PTB 22 warns on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import (  # noqa: E402
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Update,
)
from telegram.error import (  # noqa: E402
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest  # noqa: E402

from engine.errors import ConfigurationError, TemporaryError  # noqa: E402
from engine.live.journal import DECISIONS, short_key  # noqa: E402
from engine.notify.delivery import AlertRejected, deliver_pending, plain_text  # noqa: E402

__all__ = ["TelegramChannel", "ChatPacer", "deliver_pending", "retry_seconds",
           "decision_keyboard", "decisions_keyboard", "parse_decision"]

CAPTION_LIMIT = 1024
ALBUM_LIMIT = 10  # photos per sendMediaGroup
TEXT_LIMIT = 4096
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
_ACTIONS = {decision[0]: decision for decision in DECISIONS}  # T, S, M


def retry_seconds(value: int | float | timedelta) -> float:
    """`RetryAfter.retry_after` in seconds, whether PTB gives an int or a timedelta."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def decision_keyboard(signal_id: str) -> InlineKeyboardMarkup:
    key = short_key(signal_id)
    return InlineKeyboardMarkup([[InlineKeyboardButton(decision, callback_data=f"{code}:{key}")
                                  for code, decision in _ACTIONS.items()]])


def decisions_keyboard(signal_ids: list[str]) -> InlineKeyboardMarkup:
    """One row of Taken / Skipped / Missed per alert, numbered as the album's photos."""
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(f"{number}. {decision}", callback_data=f"{code}:{short_key(sid)}")
         for code, decision in _ACTIONS.items()]
        for number, sid in enumerate(signal_ids, start=1)])


def parse_decision(data: str | None) -> tuple[str, str] | None:
    """(decision, short key) from a button's callback data, or None if it is not ours."""
    code, _, key = (data or "").partition(":")
    return (_ACTIONS[code], key) if code in _ACTIONS and len(key) == 16 else None


class ChatPacer:
    """At most one message per `min_interval` seconds per chat and one per `overall_interval`
    over all chats, across threads: a send starts `min_interval` after the previous one to that
    chat ended, so they also *arrive* apart. A request carrying `count` messages (an album)
    counts `count` times: the next send to that chat waits `count` intervals after it."""

    def __init__(self, min_interval: float = 1.0, *, overall_interval: float = 1 / 30,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.min_interval, self.overall_interval = min_interval, overall_interval
        self.clock, self.sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._next_any = 0.0
        self._lock = threading.Lock()

    def wait(self, chat: str, count: int = 1) -> None:
        """Block until `count` messages may go to `chat`; reserve their slots."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(chat, now), self._next_any)
            self._next[chat] = slot + count * self.min_interval
            self._next_any = slot + count * self.overall_interval
        if slot > now:
            self.sleep(slot - now)

    def done(self, chat: str, count: int = 1) -> None:
        """The send of `count` messages to `chat` ended (accepted or not)."""
        with self._lock:
            self._next[chat] = max(self._next.get(chat, 0.0),
                                   self.clock() + count * self.min_interval)

    def next_free(self, chat: str) -> float:
        """When, on `clock`, the next message to `chat` may start."""
        with self._lock:
            return max(self._next.get(chat, 0.0), self._next_any)


class TelegramChannel:
    """Alerts to the chats `chat_ids` through the bot `token` (see the module docstring)."""

    name = "telegram"

    def __init__(self, token: str, chat_ids: Iterable[str | int], *, base_url: str | None = None,
                 timeout: float = 10.0, retries: int = 4, backoff: float = 1.0,
                 max_wait: float = 300.0, pacer: ChatPacer | None = None) -> None:
        self.chat_ids = [str(c) for c in chat_ids]
        if not token or not self.chat_ids:
            raise ConfigurationError("Telegram needs ITA_TELEGRAM_TOKEN and a chat id "
                                     "(ITA_TELEGRAM_CHAT_ID); set them in .env")
        self.retries, self.backoff, self.max_wait = retries, backoff, max_wait
        self.pacer = pacer or ChatPacer()
        self._token, self._base_url, self._timeout = token, base_url, timeout
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._bot = self._new_bot()
        self._ready = False

    def _new_bot(self) -> Bot:
        def request(read: float) -> HTTPXRequest:
            return HTTPXRequest(connection_pool_size=4, read_timeout=read,
                                write_timeout=self._timeout, connect_timeout=self._timeout,
                                media_write_timeout=self._timeout, pool_timeout=self._timeout)

        self._requests = (request(self._timeout), request(self._timeout + 60))
        return Bot(self._token, base_url=self._base_url or DEFAULT_BASE_URL,
                   request=self._requests[0], get_updates_request=self._requests[1])

    def companion(self) -> TelegramChannel:
        """A second channel on the same bot and chats for another thread (same pacing)."""
        return TelegramChannel(self._token, self.chat_ids, base_url=self._base_url,
                               timeout=self._timeout, retries=self.retries, backoff=self.backoff,
                               max_wait=self.max_wait, pacer=self.pacer)

    def close(self) -> None:
        with self._lock:
            if self._loop.is_closed():
                return
            if self._ready:
                self._loop.run_until_complete(self._bot.shutdown())
            for request in self._requests:  # also when the bot never started
                self._loop.run_until_complete(request.shutdown())
            self._loop.close()

    def __enter__(self) -> TelegramChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------
    def send_alert(self, png: bytes | None, caption: str, signal_id: str, *,
                   skip_chats: Iterable[str] = (),
                   on_sent: Callable[[str, int], None] | None = None) -> dict[str, int]:
        """Send the alert to every chat not in `skip_chats`: a photo with the caption (or the
        caption as a message when `png` is None) and the decision buttons. Returns
        {chat id: message id}."""
        skip = {str(c) for c in skip_chats}
        keyboard = decision_keyboard(signal_id)
        sent: dict[str, int] = {}
        for chat in self.chat_ids:
            if chat in skip:
                continue
            if png is None:
                message = self.send_text(chat, caption, reply_markup=keyboard, html=True)
            else:
                text, mode = _fitted(caption, CAPTION_LIMIT)
                message = self._id(self._call(chat, lambda c=chat, t=text, m=mode: (
                    self._bot.send_photo(chat_id=c, photo=png, caption=t, parse_mode=m,
                                         reply_markup=keyboard))))
            sent[chat] = message
            if on_sent is not None:
                on_sent(chat, message)
        return sent

    def send_album(self, photos: list[tuple[bytes, str, str]], *,
                   skip_chats: Iterable[str] = (),
                   on_sent: Callable[[str, list[int]], None] | None = None
                   ) -> dict[str, list[int]]:
        """Send 2 to 10 alerts (PNG, caption, signal id) as one album to every chat not in
        `skip_chats`; call
        `on_sent(chat, message ids in album order)` as each confirms. No buttons: see
        `send_decisions`. Returns {chat: message ids}."""
        if not 2 <= len(photos) <= ALBUM_LIMIT:
            raise ValueError(f"an album holds 2 to {ALBUM_LIMIT} photos, not {len(photos)}")
        media = []
        for png, caption, _ in photos:
            text, mode = _fitted(caption, CAPTION_LIMIT)
            media.append(InputMediaPhoto(png, caption=text, parse_mode=mode))
        skip = {str(c) for c in skip_chats}
        sent: dict[str, list[int]] = {}
        for chat in self.chat_ids:
            if chat in skip:
                continue
            messages = self._call(chat, lambda c=chat: self._bot.send_media_group(
                chat_id=c, media=media), count=len(media))
            sent[chat] = [message.message_id for message in messages]
            if len(sent[chat]) != len(photos):
                raise TemporaryError(f"Telegram answered the album of {len(photos)} with "
                                     f"{len(sent[chat])} messages")
            if on_sent is not None:
                on_sent(chat, sent[chat])
        return sent

    def send_decisions(self, chat: str | int, text: str, signal_ids: list[str], *,
                       reply_to: int | None = None) -> int:
        """The decision buttons of several alerts (an album's) in one message: `text` (HTML)
        and one numbered row per signal; a reply to `reply_to` when given."""
        body, mode = _fitted(text, TEXT_LIMIT)
        keyboard = decisions_keyboard(signal_ids)
        return self._id(self._call(str(chat), lambda: self._bot.send_message(
            chat_id=chat, text=body, parse_mode=mode, reply_markup=keyboard,
            reply_to_message_id=reply_to, allow_sending_without_reply=True)))

    def send_text(self, chat: str | int, text: str, *, reply_markup: Any = None,
                  html: bool = False) -> int:
        """Send a text message (≤ 4,096 characters; longer is cut); returns its message id."""
        body, mode = _fitted(text, TEXT_LIMIT) if html else (_cut(text, TEXT_LIMIT), None)
        return self._id(self._call(str(chat), lambda: self._bot.send_message(
            chat_id=chat, text=body, parse_mode=mode, reply_markup=reply_markup)))

    def edit_caption(self, chat: str | int, message_id: int, caption: str, *,
                     signal_id: str | None = None) -> None:
        """Replace an alert's caption (e.g. to add a comment that came later). An edit without
        buttons removes them: give the alert's `signal_id` to keep its decision buttons."""
        text, mode = _fitted(caption, CAPTION_LIMIT)
        keyboard = decision_keyboard(signal_id) if signal_id is not None else None
        self._call(str(chat), lambda: self._bot.edit_message_caption(
            chat_id=chat, message_id=message_id, caption=text, parse_mode=mode,
            reply_markup=keyboard))

    # -- updates (used by TelegramUpdates) -------------------------------------------------
    def get_updates(self, offset: int | None, timeout: float) -> list[Update]:
        return list(self._run(lambda: self._bot.get_updates(
            offset=offset, timeout=int(timeout), allowed_updates=["message", "callback_query"])))

    def answer_callback(self, query_id: str, text: str) -> None:
        self._run(lambda: self._bot.answer_callback_query(query_id, text=text))

    # -- plumbing --------------------------------------------------------------------------
    def _run(self, make: Callable[[], Any]) -> Any:
        """Run the coroutine `make()` on the private loop (the bot started first)."""
        with self._lock:
            if not self._ready:
                self._loop.run_until_complete(self._bot.initialize())
                self._ready = True
            return self._loop.run_until_complete(make())

    @staticmethod
    def _id(message: Any) -> int:
        return message.message_id if hasattr(message, "message_id") else 0

    def _call(self, chat: str, make: Callable[[], Any], *, count: int = 1) -> Any:
        """Send `count` messages to `chat` in one request with pacing and the retry rules;
        Telegram's answer."""
        failures, waited = 0, 0.0
        while True:
            self.pacer.wait(chat, count)
            try:
                return self._run_translated(make, chat, count)
            except RetryAfter as exc:
                delay = retry_seconds(exc.retry_after)
                if waited + delay > self.max_wait:
                    raise TemporaryError(f"Telegram asks to wait {delay:.0f} s more "
                                         f"(rate limit); the alert stays queued") from exc
                waited += delay
                self.pacer.sleep(delay)
            except NetworkError as exc:  # 5xx, connection errors, timeouts
                failures += 1
                if failures > self.retries:
                    raise TemporaryError(f"Telegram unreachable after {failures} attempts: "
                                         f"{exc}; the alert stays queued") from exc
                self.pacer.sleep(min(self.backoff * 2 ** (failures - 1), 60.0))

    def _run_translated(self, make: Callable[[], Any], chat: str, count: int = 1) -> Any:
        try:
            return self._run(make)
        except (RetryAfter, NetworkError) as exc:
            if isinstance(exc, BadRequest):
                raise AlertRejected(f"Telegram refused the message: {exc.message}") from exc
            raise
        except ChatMigrated as exc:
            raise ConfigurationError(f"the Telegram chat moved: set ITA_TELEGRAM_CHAT_ID="
                                     f"{exc.new_chat_id}") from exc
        except (InvalidToken, Forbidden) as exc:
            raise ConfigurationError(f"Telegram refused the bot: {exc.message} (check "
                                     f"ITA_TELEGRAM_TOKEN and that the bot is in the chat)"
                                     ) from exc
        except TelegramError as exc:
            raise TemporaryError(f"Telegram error: {exc.message}") from exc
        finally:
            self.pacer.done(chat, count)


def _fitted(text: str, limit: int) -> tuple[str, str | None]:
    """(text, parse mode): HTML when it fits, else plain text cut to `limit`."""
    if len(text) <= limit:
        return text, "HTML"
    return _cut(plain_text(text), limit), None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
