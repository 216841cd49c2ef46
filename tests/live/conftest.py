"""What the live tests share: the demo bars and a settable clock the monitor starts with (a
module may override `bars` and `clock`), the fake Binance playing that market as the clock
advances, the fake Telegram Bot API, and `quick_charts` for tests that look at what is sent and
when rather than at the picture."""

from __future__ import annotations

import io

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


@pytest.fixture()
def quick_charts(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The live monitor draws every alert's chart as one small fixed PNG instead of the real
    chart (0.1-0.4 s of matplotlib each, most of a long replay's time). For tests that check
    which alerts go, when and with what text; the real chart is checked by tests/live/
    test_alert.py and by the monitor tests that do not use this. Returns the PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), "white").save(buffer, format="PNG")
    png = buffer.getvalue()
    monkeypatch.setattr("engine.live.monitor.render_png", lambda candles, signal, **_: png)
    return png
