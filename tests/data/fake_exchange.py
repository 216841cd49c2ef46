"""A local HTTP server on 127.0.0.1 that answers like Binance's spot klines endpoint, serving
the real demo candles, with scriptable failures (429, 503, a slow answer, a dropped
connection).

It also plays Binance's spot **order** endpoints for the optional live execution
(engine/paper/execute.py): POST/GET/DELETE /api/v3/order, GET /api/v3/openOrders,
/api/v3/allOrders and /api/v3/account, each checking the signed request (the X-MBX-APIKEY
header, a timestamp and a signature). Orders live in `FakeBinance.orders`; knobs: ``balances``
(an order the balance cannot pay is rejected with -2010 "Account has insufficient balance"),
``fill_ratio`` (the share of a market order filled at once; `fill` fills more later),
``script`` "hang" (the next order is **accepted and stored, then its answer hangs** past the
client's timeout), a repeated open client order id answers -2010 "Duplicate order sent.".

For the live feeds it can also play the market as a clock advances: with ``clock`` set, it
serves only the bars that have opened by ``clock()``, the last of them still *forming* (its
close, high and low are its open and its volume 0 until its period ends — what a real exchange
shows early in a bar), and ``series`` serves other symbols and timeframes. ``mutate`` rewrites
an answer's rows (tests inject NaN, duplicate, out-of-order and future bars with it)."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pandas as pd

from tests.fakes._http import LocalServer

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


def point_at(exchange, url: str):
    """Point every API of a ccxt Binance client at `url` (a `FakeBinance`); returns it."""
    for name, api in list(exchange.urls["api"].items()):
        path = "/" + api.split("/", 3)[3] if api.count("/") >= 3 else ""
        exchange.urls["api"][name] = url + path
    return exchange


def trading_market(base: str) -> dict:
    """`spot_market` with Binance's tick sizes, for placing orders (ccxt's binance counts
    precision in steps: 0.000001 BTC, 0.01 USDT)."""
    market = spot_market(base)
    market["precision"] = {"amount": 1e-6, "price": 0.01}
    market["limits"] = {"amount": {"min": 1e-6, "max": None}, "price": {"min": 0.01, "max": None},
                        "cost": {"min": None, "max": None}, "leverage": {"min": None, "max": None}}
    market["info"] = {"symbol": market["id"], "status": "TRADING",
                      "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]}
    return market


class FakeBinance(LocalServer):
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
        # the order book of the account (engine/paper/execute.py's tests)
        self.api_key = "fake-key"
        self.orders: dict[int, dict] = {}
        self.balances: dict[str, float] = {"USDT": 100_000.0}
        self.prices: dict[str, float] = {}  # market id -> price market orders fill at
        self.fill_ratio = 1.0
        self.hang_seconds = 5.0
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        # Each request is a new connection (HTTP/1.0); socketserver's listen backlog of 5 drops
        # the connects beyond it when 20 series are fetched at once, and the kernel retries
        # them a full second later: a delay the fake's, not the exchange's.
        super().__init__(self._handler(), backlog=128)

    @property
    def url(self) -> str:
        return self.origin

    def client(self, *bases: str, timeout_ms: int = 3000, rate_limit: bool = False):
        """The real ccxt Binance client with every API pointed at this server, knowing the spot
        markets ``<base>/USDT`` of `bases` (default BTC) without loading them."""
        import ccxt

        exchange = point_at(ccxt.binance({"enableRateLimit": rate_limit,
                                          "timeout": timeout_ms}), self.url)
        exchange.set_markets([spot_market(base) for base in bases or ("BTC",)])
        return exchange

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

    def exchange_info(self, bases: tuple[str, ...] = ("BTC",)) -> dict:
        """GET /api/v3/exchangeInfo: the spot markets <base>/USDT with Binance's filters."""
        return {"timezone": "UTC", "serverTime": int(time.time() * 1000), "rateLimits": [],
                "symbols": [{
                    "symbol": f"{base}USDT", "status": "TRADING", "baseAsset": base,
                    "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
                    "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
                    "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                    "permissions": ["SPOT"], "permissionSets": [["SPOT"]],
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": "0.01",
                         "maxPrice": "1000000.00", "tickSize": "0.01"},
                        {"filterType": "LOT_SIZE", "minQty": "0.000001", "maxQty": "9000",
                         "stepSize": "0.000001"}]} for base in bases]}

    def price(self, market_id: str) -> float:
        return self.prices.get(market_id, float(self.candles["close"].iloc[-1]))

    def new_order(self, form: dict) -> tuple[int, dict]:
        """Place the order of `form` (Binance's POST /api/v3/order parameters)."""
        client_id = form.get("newClientOrderId") or f"fake-{next(self._ids)}"
        with self._lock:
            if any(o["clientOrderId"] == client_id and o["status"] in ("NEW", "PARTIALLY_FILLED")
                   for o in self.orders.values()):
                return 400, {"code": -2010, "msg": "Duplicate order sent."}
            symbol, side = form["symbol"], form["side"]
            quantity = float(form["quantity"])
            price = float(form.get("price") or self.price(symbol))
            base, quote = symbol[:-4], symbol[-4:]
            need, asset = (quantity * price, quote) if side == "BUY" else (quantity, base)
            if self.balances.get(asset, 0.0) + 1e-12 < need:
                return 400, {"code": -2010,
                             "msg": "Account has insufficient balance for requested action."}
            order_id = next(self._ids)
            now = int(time.time() * 1000)
            order = {"symbol": symbol, "orderId": order_id, "orderListId": -1,
                     "clientOrderId": client_id, "price": f"{price if form.get('price') else 0}",
                     "origQty": f"{quantity}", "executedQty": "0", "cummulativeQuoteQty": "0",
                     "status": "NEW", "timeInForce": form.get("timeInForce", "GTC"),
                     "type": form["type"], "side": side, "time": now, "updateTime": now,
                     "transactTime": now, "isWorking": True, "fills": []}
            self.orders[order_id] = order
            if form["type"] == "MARKET":
                self._fill(order, quantity * self.fill_ratio, price)
            return 200, dict(order)

    def fill(self, order_id: int, quantity: float, price: float | None = None) -> None:
        """Fill `quantity` more of an open order (a partial fill arriving later)."""
        with self._lock:
            order = self.orders[order_id]
            self._fill(order, quantity, price or float(order["price"]) or
                       self.price(order["symbol"]))

    def _fill(self, order: dict, quantity: float, price: float) -> None:
        done, total = float(order["executedQty"]), float(order["origQty"])
        quantity = min(quantity, total - done)
        if quantity <= 0:
            return
        base, quote = order["symbol"][:-4], order["symbol"][-4:]
        sign = 1 if order["side"] == "BUY" else -1
        self.balances[base] = self.balances.get(base, 0.0) + sign * quantity
        self.balances[quote] = self.balances.get(quote, 0.0) - sign * quantity * price
        order["executedQty"] = f"{done + quantity:.8f}"
        order["cummulativeQuoteQty"] = (
            f"{float(order['cummulativeQuoteQty']) + quantity * price:.8f}")
        order["status"] = "FILLED" if done + quantity >= total - 1e-12 else "PARTIALLY_FILLED"
        order["updateTime"] = order["updateTime"] + 1  # every fill is a new update
        order["isWorking"] = order["status"] != "FILLED"

    def find(self, query: dict) -> dict | None:
        with self._lock:
            for order in self.orders.values():
                if (str(order["orderId"]) == query.get("orderId")
                        or order["clientOrderId"] == query.get("origClientOrderId")):
                    return dict(order)
        return None

    def cancel(self, query: dict) -> tuple[int, dict]:
        found = self.find(query)
        if found is None or found["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return 400, {"code": -2011, "msg": "Unknown order sent."}
        with self._lock:
            self.orders[found["orderId"]]["status"] = "CANCELED"
            return 200, dict(self.orders[found["orderId"]])

    def account(self) -> dict:
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": True,
                "accountType": "SPOT", "updateTime": int(time.time() * 1000),
                "balances": [{"asset": asset, "free": f"{free:.8f}", "locked": "0.00000000"}
                             for asset, free in sorted(self.balances.items())],
                "permissions": ["SPOT"]}

    def private(self, method: str, path: str, query: dict) -> tuple[int, object]:
        """One signed request of the order endpoints: (status, body)."""
        if path == "/api/v3/order" and method == "POST":
            return self.new_order(query)
        if path == "/api/v3/order" and method == "GET":
            found = self.find(query)
            return (200, found) if found else (400, {"code": -2013,
                                                      "msg": "Order does not exist."})
        if path == "/api/v3/order" and method == "DELETE":
            return self.cancel(query)
        with self._lock:
            orders = [dict(o) for o in self.orders.values()
                      if not query.get("symbol") or o["symbol"] == query["symbol"]]
        if path == "/api/v3/openOrders":
            return 200, [o for o in orders if o["status"] in ("NEW", "PARTIALLY_FILLED")]
        if path == "/api/v3/allOrders":
            return 200, orders
        if path == "/api/v3/account":
            return 200, self.account()
        return 404, {"code": -1, "msg": "not here"}

    def signed(self, method: str, path: str, query: dict, api_key: str | None
               ) -> tuple[str, int, object]:
        """Check and answer one signed request: (scripted action, status, body)."""
        with self._lock:
            self.requests.append({"path": path, "method": method, **query})
            action = self.script.pop(0) if self.script else ""
        if api_key != self.api_key:
            return action, 401, {"code": -2015,
                                 "msg": "Invalid API-key, IP, or permissions for action."}
        if not query.get("signature") or not query.get("timestamp"):
            return action, 400, {"code": -1102,
                                 "msg": "Mandatory parameter 'signature' was not sent."}
        if action in ("429", "503", "reset"):
            return action, 0, None
        code, body = self.private(method, path, query)
        return action, code, body

    def _handler(self):
        return type("Handler", (_Handler,), {"fake": self})


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBinance

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _signed(self, method: str) -> None:
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            query.update(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        action, code, body = self.fake.signed(method, url.path, query,
                                              self.headers.get("X-MBX-APIKEY"))
        if action in ("429", "503", "reset"):
            return self._fail(action)
        if action == "hang":  # done at the exchange, the answer never arrives in time
            time.sleep(self.fake.hang_seconds)
            self.close_connection = True
            return None
        return self._send(code, body)

    def _fail(self, action: str) -> None:
        if action == "429":
            return self._send(429, {"code": -1003, "msg": "Too many requests"})
        if action == "503":
            return self._send(503, {"msg": "Service unavailable"})
        self.close_connection = True
        self.connection.close()
        return None

    def do_POST(self) -> None:
        self._signed("POST")

    def do_DELETE(self) -> None:
        self._signed("DELETE")

    def do_GET(self) -> None:
        if self.headers.get("X-MBX-APIKEY") is not None:
            return self._signed("GET")
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with self.fake._lock:
            self.fake.requests.append({"path": url.path, **query})
            action = self.fake.script.pop(0) if self.fake.script else ""
        if action == "429":
            return self._send(429, {"code": -1003, "msg": "Too many requests"})
        if action == "503":
            return self._send(503, {"msg": "Service unavailable"})
        if action == "reset":
            self.close_connection = True
            self.connection.close()
            return None
        if action == "slow":
            time.sleep(self.fake.slow_seconds)
        if url.path.endswith("/exchangeInfo"):
            return self._send(200, self.fake.exchange_info())
        if url.path.endswith("/klines"):
            return self._send(200, self.fake.klines(
                int(query.get("startTime", 0)), int(query.get("limit", 500)),
                symbol=query.get("symbol", ""), interval=query.get("interval", "1m")))
        return self._send(404, {"code": -1, "msg": "not here"})

