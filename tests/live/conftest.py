"""What the live tests share: the demo bars and a settable clock the monitor starts with (a
module may override `bars` and `clock`), the fake Binance playing that market as the clock
advances, and the fake Telegram Bot API."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data.fake_exchange import FakeBinance, SetClock
from tests.fakes.telegram_api import FakeTelegram

START = 1000  # the monitor starts as bar START opens; bars before it are in the store


@pytest.fixture()
def bars(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[:1400].copy()


@pytest.fixture()
def clock(bars) -> SetClock:
    """1.6 s after bar START opened (the monitor's first poll)."""
    return SetClock(bars.index[START] + pd.Timedelta(seconds=1.6))


@pytest.fixture()
def market(bars, clock):
    with FakeBinance(bars, clock=clock) as fake:
        yield fake


@pytest.fixture()
def telegram():
    with FakeTelegram() as fake:
        yield fake
