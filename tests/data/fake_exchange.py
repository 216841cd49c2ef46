"""A local HTTP server on 127.0.0.1 that answers like Binance's spot klines endpoint, serving
the real demo candles, with scriptable failures (429, a slow answer)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd


class FakeBinance:
    def __init__(self, candles: pd.DataFrame) -> None:
        self.candles = candles
        self.open_ms = (candles.index.as_unit("ns").asi8 // 1_000_000).tolist()
        self.script: list[str] = []  # next answers: "429", "slow"
        self.requests: list[dict] = []
        self.slow_seconds = 2.0
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def klines(self, start_ms: int, limit: int) -> list:
        rows = []
        for ms, row in zip(self.open_ms, self.candles.itertuples(), strict=True):
            if ms >= start_ms:
                rows.append([ms, str(row.open), str(row.high), str(row.low), str(row.close),
                             str(row.volume), ms + 59_999, "0", 1, "0", "0", "0"])
                if len(rows) == limit:
                    break
        return rows

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                fake.requests.append({"path": url.path, **query})
                action = fake.script.pop(0) if fake.script else ""
                if action == "429":
                    return self._send(429, {"code": -1003, "msg": "Too many requests"})
                if action == "slow":
                    time.sleep(fake.slow_seconds)
                if url.path.endswith("/klines"):
                    return self._send(200, fake.klines(int(query.get("startTime", 0)),
                                                       int(query.get("limit", 500))))
                return self._send(404, {"code": -1, "msg": "not here"})

        return Handler
