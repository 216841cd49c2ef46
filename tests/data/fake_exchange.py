"""A local HTTP server on 127.0.0.1 that answers like Binance's spot klines endpoint, serving
the real demo candles, with scriptable failures (429, 503, a slow answer, a dropped
connection).

For the live feeds it can also play the market as a clock advances: with ``clock`` set, it
serves only the bars that have opened by ``clock()``, the last of them still *forming* (its
close, high and low are its open and its volume 0 until its period ends — what a real exchange
shows early in a bar), and ``series`` serves other symbols and timeframes. ``mutate`` rewrites
an answer's rows (tests inject NaN, duplicate, out-of-order and future bars with it)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd

INTERVAL_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000,
               "1w": 604_800_000}


class SetClock:
    """A clock the test sets by hand (``clock.now = ...``); `FakeBinance` and the live feeds
    call it for the time."""

    def __init__(self, now: pd.Timestamp) -> None:
        self.now = now

    def __call__(self) -> pd.Timestamp:
        return self.now


def spot_market(base: str) -> dict:
    """ccxt's description of the spot market ``<base>/USDT``."""
    return {"id": f"{base}USDT", "symbol": f"{base}/USDT", "base": base, "quote": "USDT",
            "baseId": base, "quoteId": "USDT", "active": True, "type": "spot", "spot": True,
            "margin": False, "swap": False, "future": False, "option": False,
            "contract": False, "linear": None, "inverse": None,
            "precision": {"amount": 6, "price": 2}, "limits": {}, "info": {}}


class _Server(ThreadingHTTPServer):
    # Each request is a new connection (HTTP/1.0); socketserver's listen backlog of 5 drops
    # the connects beyond it when 20 series are fetched at once, and the kernel retries them
    # a full second later: a delay the fake's, not the exchange's.
    request_queue_size = 128


class FakeBinance:
    def __init__(self, candles: pd.DataFrame, *,
                 series: dict[tuple[str, str], pd.DataFrame] | None = None,
                 clock: Callable[[], pd.Timestamp] | None = None) -> None:
        self.candles = candles
        self.series = dict(series or {})  # (market id "BTCUSDT", interval "1m") -> candles
        self.clock = clock
        self.mutate: Callable[[str, str, list], list] | None = None
        self.open_ms = (candles.index.as_unit("ns").asi8 // 1_000_000).tolist()
        self.script: list[str] = []  # next answers: "429", "503", "slow", "reset"
        self.requests: list[dict] = []
        self.slow_seconds = 2.0
        handler = self._handler()
        self.server = _Server(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def client(self, *bases: str, timeout_ms: int = 3000, rate_limit: bool = False):
        """The real ccxt Binance client with every API pointed at this server, knowing the spot
        markets ``<base>/USDT`` of `bases` (default BTC) without loading them."""
        import ccxt

        exchange = ccxt.binance({"enableRateLimit": rate_limit, "timeout": timeout_ms})
        for name, api in list(exchange.urls["api"].items()):
            path = "/" + api.split("/", 3)[3] if api.count("/") >= 3 else ""
            exchange.urls["api"][name] = self.url + path
        exchange.set_markets([spot_market(base) for base in bases or ("BTC",)])
        return exchange

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def klines(self, start_ms: int, limit: int, *, symbol: str = "",
               interval: str = "1m") -> list:
        candles = self.series.get((symbol, interval), self.candles)
        step = INTERVAL_MS.get(interval, 60_000)
        if candles is self.candles:
            open_ms = self.open_ms
        else:
            open_ms = (candles.index.as_unit("ns").asi8 // 1_000_000).tolist()
        now_ms = None if self.clock is None else self.clock().value // 1_000_000
        rows = []
        for ms, row in zip(open_ms, candles.itertuples(), strict=True):
            if now_ms is not None and ms > now_ms:
                break  # not opened yet
            if ms >= start_ms:
                o, h, lo, c, v = row.open, row.high, row.low, row.close, row.volume
                if now_ms is not None and now_ms < ms + step:  # still forming
                    h = lo = c = o
                    v = 0.0
                rows.append([ms, str(o), str(h), str(lo), str(c), str(v), ms + step - 1, "0",
                             1, "0", "0", "0"])
                if len(rows) == limit:
                    break
        if self.mutate is not None:
            rows = self.mutate(symbol, interval, rows)
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
                with fake._lock:
                    fake.requests.append({"path": url.path, **query})
                    action = fake.script.pop(0) if fake.script else ""
                if action == "429":
                    return self._send(429, {"code": -1003, "msg": "Too many requests"})
                if action == "503":
                    return self._send(503, {"msg": "Service unavailable"})
                if action == "reset":
                    self.close_connection = True
                    self.connection.close()
                    return None
                if action == "slow":
                    time.sleep(fake.slow_seconds)
                if url.path.endswith("/klines"):
                    return self._send(200, fake.klines(
                        int(query.get("startTime", 0)), int(query.get("limit", 500)),
                        symbol=query.get("symbol", ""), interval=query.get("interval", "1m")))
                return self._send(404, {"code": -1, "msg": "not here"})

        return Handler
