"""The live monitor over a replayed market, as the monitor tests, the champion-alert tests and
the paper-in-the-monitor tests drive it: the fake Binance plays `bars` as the clock advances,
alerts go to the fake Telegram, and one loop iteration runs 1.6 s after each bar's close."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.adapters.store import CandleStore
from engine.live.evaluate import LiveEvaluator
from engine.live.monitor import LiveMonitor
from engine.notify.telegram import ChatPacer, TelegramChannel
from engine.settings import Settings
from engine.setups.store import SetupStore
from tests.live.conftest import START

CHAT = "42"


def seed_home(home: Path, bars: pd.DataFrame, *setups: str) -> Path:
    """`home` with the setups saved and the bars before START stored, as after a first run."""
    store = SetupStore(home / "setups")
    for text in setups:
        store.save(text)
    CandleStore(home / "data" / "candles").upsert(
        bars.iloc[:START], source="binance", symbol="BTC/USDT", timeframe="1m")
    return home


def replay_monitor(home: Path, market, telegram, clock, **settings) -> LiveMonitor:
    """The real monitor of `home` on the fake market and the fake Telegram (chat CHAT)."""
    config = Settings(home=home, live_exchange="binance", telegram_chat_id=CHAT, **settings)
    channel = TelegramChannel("123:abc", [CHAT], base_url=telegram.base_url, timeout=3,
                              pacer=ChatPacer(0.0))
    return LiveMonitor(config, clock=clock, exchange=market.client(), telegram=channel,
                       evaluator=LiveEvaluator(home), updates=False)


def replay(monitor: LiveMonitor, bars: pd.DataFrame, clock, first: int, last: int) -> None:
    """One loop iteration 1.6 s after each close from bar `first` to bar `last`."""
    for i in range(first, last + 1):
        clock.now = bars.index[i] + pd.Timedelta(seconds=1.6)
        monitor.run_once()


def replay_closed(home: Path, market, telegram, clock, bars: pd.DataFrame, first: int,
                  last: int, **settings) -> None:
    """`replay` from bar `first` to bar `last` by a new monitor, closed after it."""
    monitor = replay_monitor(home, market, telegram, clock, **settings)
    try:
        replay(monitor, bars, clock, first, last)
    finally:
        monitor.close()
