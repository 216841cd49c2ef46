"""Fake servers the live tests share: the fake Binance playing the market as the test's clock
advances (a module's own `bars` and `clock` fixtures feed it) and the fake Telegram Bot API."""

from __future__ import annotations

import pytest

from tests.data.fake_exchange import FakeBinance
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture()
def market(bars, clock):
    with FakeBinance(bars, clock=clock) as fake:
        yield fake


@pytest.fixture()
def telegram():
    with FakeTelegram() as fake:
        yield fake
