"""A local fake of an OpenAI-compatible chat endpoint on 127.0.0.1, for the real `openai` client.

Point a client at it with ``OpenAI(api_key=..., base_url=fake.base_url)``. It answers
``POST /v1/chat/completions`` with `reply` (a chat completion), records every request in
`requests` (JSON body and the Authorization header), and misbehaves on demand:

- `queue(*replies)` answers the next requests with these texts in order, then `reply` again
  (a model that first writes a broken setup draft and then repairs it);
- `delay` seconds before every answer (a slow local model);
- `fail_next(status, count=1, message=...)` answers the next requests with that HTTP status
  and an OpenAI-style error body (the default message quotes the API key the request carried,
  as some servers do, so tests can check ITA never logs it).

Canned replies for the knowledge-base tests: `VALID_DRAFT`, `INVALID_DRAFT` then
`REPAIRED_DRAFT`, `NONSENSE`, and `ANSWER_CITING_1_AND_7` (cites passage [1] and an invented
[7]).

>>> with FakeOpenAI(reply="Clean sweep.") as fake:  # doctest: +SKIP
...     OpenAI(api_key="k", base_url=fake.base_url).chat.completions.create(...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes._http import LocalServer, json_handler

VALID_DRAFT = """Here is the setup.

```yaml
# passages: 1
schema_version: 1
id: asia-sweep-fvg-draft
name: Asia low sweep in London, then a bullish FVG
description: After London takes the Asia low, buy the first bullish fair value gap.
market: {symbols: [BTC/USDT], timeframe: 5m}
conditions:
  asia_low_sweep: {detector: sweep, of: session, session: asia, side: low, reclaim_bars: 3}
  bull_fvg: {detector: fvg, direction: bullish}
signal: {sequence: [asia_low_sweep, bull_fvg], within_bars: 30}
filters: {sessions: [london]}
direction: long
plan:
  entry: {type: limit, level: bull_fvg.top, expiry_bars: 12}
  stop: {level: asia_low_sweep.extreme, buffer_atr: 0.5}
  target: {r_multiple: 2.0}
```
"""

#: Two mistakes the validator names: a misspelt field and a stop level of an unknown condition.
INVALID_DRAFT = """```yaml
schema_version: 1
id: asia-sweep-fvg-draft
name: Asia low sweep in London, then a bullish FVG
market: {symbols: [BTC/USDT], timeframe: 5m}
conditions:
  asia_low_sweep: {detector: sweep, of: session, session: asia, side: low, reclaim_bar: 3}
  bull_fvg: {detector: fvg, direction: bullish}
signal: {sequence: [asia_low_sweep, bull_fvg], within_bars: 30}
direction: long
plan:
  entry: {type: limit, level: bull_fvg.top}
  stop: {level: sweep.extreme}
  target: {r_multiple: 2.0}
```"""

REPAIRED_DRAFT = VALID_DRAFT.replace("# passages: 1", "# passages: 1, 2")

NONSENSE = "I am sorry, I cannot help with trading strategies. Maybe try a moving average?"

ANSWER_CITING_1_AND_7 = ("A fair value gap is the gap between the first and the third candle "
                         "[1]. Price often returns to it before continuing [7].")


@dataclass
class Request:
    """One request the fake received."""

    path: str
    body: dict[str, Any]
    authorization: str | None
    at: float

    @property
    def messages(self) -> list[dict[str, str]]:
        return self.body.get("messages", [])


class FakeOpenAI(LocalServer):
    """See the module docstring."""

    def __init__(self, *, reply: str = "A clean sweep into the gap; the history is thin.",
                 delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self._queued: list[str] = []
        self.requests: list[Request] = []
        self._faults: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        super().__init__(json_handler(self._respond, methods=("POST",)))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def queue(self, *replies: str) -> None:
        """Answer the next requests with `replies`, in order (then `reply` again)."""
        with self._lock:
            self._queued.extend(replies)

    def fail_next(self, status: int, count: int = 1, *, message: str | None = None) -> None:
        with self._lock:
            self._faults.extend([(status, message)] * count)

    def _respond(self, command: str, path: str, headers: dict[str, str],
                 raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, answer = self.answer(path, json.loads(raw or b"{}"), headers.get("authorization"))
        return status, answer, {}

    def answer(self, path: str, body: dict[str, Any],
               authorization: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(Request(path, body, authorization, time.monotonic()))
            fault = self._faults.pop(0) if self._faults else None
            content = self._queued.pop(0) if self._queued and fault is None else self.reply
        if self.delay:
            time.sleep(self.delay)
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}", "type": "invalid_request"}}
        if fault is not None:
            status, message = fault
            key = (authorization or "").removeprefix("Bearer ")
            text = message or f"Incorrect API key provided: {key}"
            return status, {"error": {"message": text, "type": "server_error", "code": None}}
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
