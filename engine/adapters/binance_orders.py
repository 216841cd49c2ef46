"""Binance spot orders through ccxt: the one place real orders meet the world.

`BinanceSpot` wraps a ccxt ``binance``/``binanceus`` client and translates every ccxt answer and
exception at this boundary, so `engine.paper.execute` sees only:

| outcome                 | meaning                                                          |
| ----------------------- | ---------------------------------------------------------------- |
| `OrderState`            | the exchange's view of one order (status, filled, remaining, ...) |
| `OrderRejected(reason)` | the exchange (or ccxt, before sending) refused it; not placed    |
| `OrderUnknown`          | the exchange does not know the client id                          |
| `AnswerLost(reason)`    | a timeout, a dropped connection, 429/5xx: it may or may not have |
|                         | reached the exchange — look it up, never send it again blindly    |

Orders carry the caller's client order id as Binance's ``newClientOrderId``; a duplicate of an
open one (-2010 "Duplicate order sent") is an `AnswerLost` too: the order exists, look it up.

>>> venue = BinanceSpot(ccxt.binance({"apiKey": key, "secret": secret}))  # doctest: +SKIP
>>> venue.place("BTC/USDT", "buy", 0.01, client_id="ita-0123", type="market")  # doctest: +SKIP
OrderState(client_id='ita-0123', exchange_id='42', status='closed', filled=0.01, ...)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import ccxt


class AnswerLost(Exception):
    """The request may have reached the exchange; its answer did not come back."""


class OrderRejected(Exception):
    """The exchange refused the order (its reason is the message)."""


class OrderUnknown(Exception):
    """The exchange knows no order with that client id."""


@dataclasses.dataclass(frozen=True)
class OrderState:
    client_id: str
    exchange_id: str
    symbol: str
    side: str
    amount: float
    status: str  # open, closed, canceled, expired, rejected
    filled: float
    remaining: float
    average: float | None


def reason(error: Exception) -> str:
    """The exchange's own words (Binance's ``msg``) when the error carries them."""
    text = str(error)
    start = text.find("{")
    if start >= 0:
        try:
            return str(json.loads(text[start:]).get("msg", text))[:200]
        except (ValueError, AttributeError):
            pass
    return f"{type(error).__name__}: {text}"[:200]


def _state(order: dict[str, Any]) -> OrderState:
    filled = float(order.get("filled") or 0.0)
    amount = float(order.get("amount") or 0.0)
    remaining = order.get("remaining")
    return OrderState(
        client_id=str(order.get("clientOrderId") or ""), exchange_id=str(order.get("id")),
        symbol=str(order.get("symbol")), side=str(order.get("side")), amount=amount,
        status=str(order.get("status") or "open"), filled=filled,
        remaining=float(remaining) if remaining is not None else max(amount - filled, 0.0),
        average=float(order["average"]) if order.get("average") is not None else None)


class BinanceSpot:
    """Place, look up and list spot orders; read balances."""

    def __init__(self, exchange: ccxt.Exchange) -> None:
        self.exchange = exchange

    def place(self, symbol: str, side: str, amount: float, *, client_id: str,
              type: str = "market", price: float | None = None) -> OrderState:
        try:
            order = self.exchange.create_order(symbol, type, side, amount, price,
                                               {"newClientOrderId": client_id})
        except ccxt.NetworkError as error:  # timeouts, resets, 429, 5xx: maybe accepted
            raise AnswerLost(reason(error)) from None
        except ccxt.ExchangeError as error:
            why = reason(error)
            if "duplicate order" in why.lower():
                raise AnswerLost(why) from None
            raise OrderRejected(why) from None
        return _state(order)

    def look_up(self, symbol: str, client_id: str) -> OrderState:
        try:
            order = self.exchange.fetch_order(None, symbol, {"origClientOrderId": client_id})
        except ccxt.OrderNotFound:
            raise OrderUnknown(client_id) from None
        except ccxt.NetworkError as error:
            raise AnswerLost(reason(error)) from None
        return _state(order)

    def open_orders(self, symbol: str) -> list[OrderState]:
        try:
            return [_state(order) for order in self.exchange.fetch_open_orders(symbol)]
        except ccxt.NetworkError as error:
            raise AnswerLost(reason(error)) from None

    def holdings(self, asset: str) -> tuple[float, float]:
        """(free, total) of `asset`."""
        try:
            balance = self.exchange.fetch_balance().get(asset) or {}
        except ccxt.NetworkError as error:
            raise AnswerLost(reason(error)) from None
        return float(balance.get("free") or 0.0), float(balance.get("total") or 0.0)


def speaks_binance(exchange_id: str) -> bool:
    """Whether ccxt's `exchange_id` is Binance spot or a sibling (binanceus)."""
    exchange_class = getattr(ccxt, str(exchange_id), None)
    return isinstance(exchange_class, type) and issubclass(exchange_class, ccxt.binance)


def client(exchange_id: str, *, api_key: str, secret: str,
           timeout_ms: int = 10_000) -> ccxt.Exchange:
    """The ccxt client of `exchange_id` with the trader's keys (never logged)."""
    return getattr(ccxt, exchange_id)({
        "enableRateLimit": True, "timeout": timeout_ms, "apiKey": api_key, "secret": secret,
        # spot only: no futures markets, no private currency or margin lists at start
        "options": {"defaultType": "spot", "fetchCurrencies": False, "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]}}})
