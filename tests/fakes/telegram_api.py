"""A local fake of the Telegram Bot API on 127.0.0.1, for the real python-telegram-bot client.

Point a `telegram.Bot` at it with `base_url=fake.base_url` (the token is appended by the
client). It answers getMe, sendPhoto (multipart), sendMediaGroup (multipart: an album, one
message id per photo), sendMessage, editMessageCaption, answerCallbackQuery and getUpdates;
it records every request it answered in `requests` (method, chat id, form fields, uploaded
files; an album's photos in `items`), `photos()` lists every photo delivered, single or in an
album, and it can misbehave on demand:

- `fail_next(kind, count=1, method=None, retry_after=1)` queues faults for the next requests:
  ``"429"`` (Too Many Requests with ``retry_after``), ``"500"``, ``"400"`` (refused),
  ``"401"`` (bad token), ``"hang"`` (never answers in
  time: the request is *not* delivered), ``"hold"`` (the message is delivered and recorded,
  then the answer waits until `release()`: a crash while Telegram holds the request);
- `outage` (a callable ``method -> bool``) answers 500 while it returns True, for an outage
  driven by a test's own clock;
- `chat_interval` (seconds, default None: off) plays Telegram's per-chat flood control: a
  message to a chat earlier than `chat_interval` after the previous one (an album of N counts
  as N: the next may come N intervals after it) is answered 429 and counted in `flooded`;
- `queue_command(chat_id, text)` / `queue_callback(chat_id, data, message_id)` queue updates
  that getUpdates returns (long polling honours its ``timeout`` up to `max_long_poll`).

>>> with FakeTelegram() as fake:  # doctest: +SKIP
...     bot = telegram.Bot("123:abc", base_url=fake.base_url)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from tests.fakes._http import LocalServer, json_handler

MESSAGE_METHODS = {"sendPhoto", "sendMessage", "editMessageCaption", "sendMediaGroup"}
RATE_SLACK = 0.05  # seconds of clock jitter the flood control forgives


@dataclass
class Recorded:
    """One request the fake answered successfully."""

    method: str
    fields: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    message_id: int | None = None
    at: float = 0.0
    items: list[Recorded] = field(default_factory=list)  # an album's photos

    @property
    def chat_id(self) -> str | None:
        return self.fields.get("chat_id")

    @property
    def caption(self) -> str | None:
        return self.fields.get("caption")

    @property
    def text(self) -> str | None:
        return self.fields.get("text")

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        raw = self.fields.get("reply_markup")
        return json.loads(raw) if raw else None


class FakeTelegram(LocalServer):
    """The fake Bot API server; a context manager that starts and stops it."""

    def __init__(self, *, max_long_poll: float = 2.0, hang_seconds: float = 5.0,
                 chat_interval: float | None = None) -> None:
        self.requests: list[Recorded] = []
        self.chat_interval = chat_interval
        self.flooded = 0  # messages refused by the flood control
        self._chat_free: dict[str, float] = {}
        self.attempts: list[str] = []  # every request received, answered or not
        self.outage = lambda method: False
        self.max_long_poll = max_long_poll
        self.hang_seconds = hang_seconds
        self._faults: list[tuple[str, str | None, int]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 100
        self._lock = threading.Condition()
        self._released = threading.Event()
        self.held = threading.Event()  # set once a "hold" request has been recorded
        super().__init__(json_handler(self._respond))

    # -- lifecycle -------------------------------------------------------------------------
    def __exit__(self, *exc: object) -> None:
        self.release()
        super().__exit__(*exc)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/bot"

    # -- test controls ---------------------------------------------------------------------
    def fail_next(self, kind: str, count: int = 1, *, method: str | None = None,
                  retry_after: int = 1) -> None:
        if kind not in {"400", "401", "429", "500", "hang", "hold"}:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([(kind, method, retry_after)] * count)

    def release(self) -> None:
        self._released.set()

    def queue_command(self, chat_id: int, text: str, *, reply_to: int | None = None) -> None:
        message = self._message(chat_id, text=text)
        if reply_to is not None:
            message["reply_to_message"] = self._message(chat_id, message_id=reply_to)
        self._queue({"message": message})

    def queue_callback(self, chat_id: int, data: str, *, message_id: int = 1) -> None:
        with self._lock:
            query_id = f"cb{self._next_update}"
        self._queue({"callback_query": {
            "id": query_id, "from": _user(chat_id), "chat_instance": str(chat_id), "data": data,
            "message": self._message(chat_id, message_id=message_id, caption="alert")}})

    def sent(self, method: str = "sendPhoto") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def photos(self) -> list[Recorded]:
        """Every photo delivered, in order: a sendPhoto, or one per photo of an album (method
        ``sendMediaGroup``, its own caption, message id and ``files["photo"]``)."""
        with self._lock:
            return [photo for r in self.requests if r.method in ("sendPhoto", "sendMediaGroup")
                    for photo in (r.items or [r])]

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("fake Telegram: timed out waiting")
                self._lock.wait(left)

    # -- server side -----------------------------------------------------------------------
    def _queue(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._updates.append({"update_id": self._next_update, **body})
            self._next_update += 1
            self._lock.notify_all()

    def _message(self, chat_id: int, *, message_id: int | None = None,
                 **extra: Any) -> dict[str, Any]:
        if message_id is None:
            with self._lock:
                self._next_message += 1
                message_id = self._next_message
        return {"message_id": message_id, "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"}, "from": _user(chat_id), **extra}

    def _take_fault(self, method: str) -> tuple[str, int] | None:
        with self._lock:
            for i, (kind, only, retry_after) in enumerate(self._faults):
                if only is None or only == method:
                    del self._faults[i]
                    return kind, retry_after
        return None

    def _respond(self, command: str, path: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        method = path.rstrip("/").rsplit("/", 1)[-1]
        fields, files = _parse_body(headers.get("content-type", ""), body)
        status, payload = self.answer(method, fields, files)
        return status, payload, {}

    def answer(self, method: str, fields: dict[str, str],
               files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.attempts.append(method)
            self._lock.notify_all()
        fault = self._take_fault(method)
        if self.outage(method):
            fault = ("500", 0)
        if fault is not None and fault[0] != "hold":
            return _fault(fault, self.hang_seconds)
        if fault is None and not self._within_rate(method, fields):
            return _fault(("429", max(1, round(self.chat_interval or 1))), 0)
        status, body = self._result(method, fields, files)
        if fault is not None:  # "hold": delivered and recorded, the answer waits
            self.held.set()
            self._released.wait(60)
        return status, body

    def _within_rate(self, method: str, fields: dict[str, str]) -> bool:
        """Flood control (`chat_interval`): may this request's messages go to its chat now?"""
        if self.chat_interval is None or method not in MESSAGE_METHODS:
            return True
        count = len(json.loads(fields.get("media") or "[]")) or 1
        chat, now = fields.get("chat_id", ""), time.monotonic()
        with self._lock:
            if now < self._chat_free.get(chat, 0.0) - RATE_SLACK:
                self.flooded += count
                return False
            self._chat_free[chat] = now + count * self.chat_interval
        return True

    def _result(self, method: str, fields: dict[str, str],
                files: dict[str, bytes]) -> tuple[int, dict[str, Any]]:
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "ITA",
                                                "username": "ita_test_bot"}}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(fields)}
        if method == "answerCallbackQuery":
            self._record(method, fields, files, None)
            return 200, {"ok": True, "result": True}
        if method in MESSAGE_METHODS:
            chat = int(fields.get("chat_id", "0"))
            if method == "editMessageCaption":
                message = self._message(chat, message_id=int(fields["message_id"]),
                                        caption=fields.get("caption", ""))
            elif method == "sendMediaGroup":
                return 200, {"ok": True, "result": self._album(chat, fields, files)}
            elif method == "sendPhoto":
                message = self._message(chat, caption=fields.get("caption", ""), photo=[{
                    "file_id": "f", "file_unique_id": "u", "width": 10, "height": 10}])
            else:
                message = self._message(chat, text=fields.get("text", ""))
            self._record(method, fields, files, message["message_id"])
            return 200, {"ok": True, "result": message}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method"}

    def _album(self, chat: int, fields: dict[str, str],
               files: dict[str, bytes]) -> list[dict[str, Any]]:
        media = json.loads(fields["media"])
        if not 2 <= len(media) <= 10:
            raise ValueError(f"an album of {len(media)}")
        messages, items = [], []
        for entry in media:
            attached = files.get(str(entry["media"]).removeprefix("attach://"), b"")
            message = self._message(chat, caption=entry.get("caption", ""), photo=[{
                "file_id": "f", "file_unique_id": "u", "width": 10, "height": 10}],
                media_group_id="album")
            item = {k: v if isinstance(v, str) else json.dumps(v) for k, v in entry.items()}
            items.append(Recorded("sendMediaGroup", {"chat_id": str(chat), **item},
                                  {"photo": attached}, message["message_id"], time.monotonic()))
            messages.append(message)
        with self._lock:
            self.requests.append(Recorded("sendMediaGroup", fields, files,
                                          messages[0]["message_id"], time.monotonic(), items))
            self._lock.notify_all()
        return messages

    def _record(self, method: str, fields: dict[str, str], files: dict[str, bytes],
                message_id: int | None) -> None:
        with self._lock:
            self.requests.append(Recorded(method, fields, files, message_id, time.monotonic()))
            self._lock.notify_all()

    def _get_updates(self, fields: dict[str, str]) -> list[dict[str, Any]]:
        offset = int(fields.get("offset") or 0)
        wait = min(float(fields.get("timeout") or 0), self.max_long_poll)
        end = time.monotonic() + wait
        with self._lock:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < end:
                self._lock.wait(end - time.monotonic())
            return list(self._updates)


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": int(chat_id), "is_bot": False, "first_name": "Trader"}


def _fault(fault: tuple[str, int], hang_seconds: float) -> tuple[int, dict[str, Any]]:
    kind, retry_after = fault
    if kind == "429":
        return 429, {"ok": False, "error_code": 429,
                     "description": f"Too Many Requests: retry after {retry_after}",
                     "parameters": {"retry_after": retry_after}}
    if kind in {"400", "401"}:
        description = "Bad Request: can't parse entities" if kind == "400" else "Unauthorized"
        return int(kind), {"ok": False, "error_code": int(kind), "description": description}
    if kind == "hang":
        time.sleep(hang_seconds)
    return 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = payload
            else:
                fields[name] = payload.decode("utf-8")
        return fields, files
    if content_type.startswith("application/json"):
        data = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}, {}
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}, {}
