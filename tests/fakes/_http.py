"""The plumbing the fake HTTP services of the tests share (Notion, OpenAI, Telegram, Binance).

`LocalServer` serves a handler on 127.0.0.1 at a port the OS picks (never a fixed one, so that
tests run side by side in pytest-xdist workers), in a daemon thread, from ``with`` entry to
exit. `json_handler` makes the handler of a JSON API out of one function::

    respond(command, path, headers, body) -> (status, payload, extra_headers)

where `headers` maps lower-case names to values and `body` is the raw request body; the answer
is written as JSON with its length, and a client that gave up (a timeout, a killed process)
is not an error of the fake.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Answer = tuple[int, Any, dict[str, str]]
Respond = Callable[[str, str, dict[str, str], bytes], Answer]


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 at a free port; a context manager that starts and
    stops it. `backlog`: the listen queue (socketserver's default of 5 drops connects beyond
    it, which the kernel retries a full second later)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, backlog: int = 5) -> None:
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": backlog})
        self.http_server = server_class(("127.0.0.1", 0), handler)
        self.http_server.daemon_threads = True
        self._serving: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._serving = threading.Thread(target=self.http_server.serve_forever, daemon=True)
        self._serving.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http_server.shutdown()
        self.http_server.server_close()

    @property
    def port(self) -> int:
        return self.http_server.server_address[1]

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"


def json_handler(respond: Respond, *, methods: tuple[str, ...] = ("GET", "POST"),
                 protocol: str = "HTTP/1.1") -> type[BaseHTTPRequestHandler]:
    """A request handler answering `methods` with what `respond` returns, as JSON."""

    def serve(self: BaseHTTPRequestHandler) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, payload, extra = respond(self.command, self.path, headers, body)
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up or was killed
            pass

    def quiet(self: BaseHTTPRequestHandler, *args: object) -> None:
        pass

    members: dict[str, Any] = {"protocol_version": protocol, "log_message": quiet}
    members.update({f"do_{method}": serve for method in methods})
    return type("JsonHandler", (BaseHTTPRequestHandler,), members)
