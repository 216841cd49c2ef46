"""Fixtures: the fake Bot API, an accelerated clock, a journal and a channel pointed at both."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.live.journal import SignalJournal
from engine.notify.telegram import ChatPacer, TelegramChannel
from tests.fakes.telegram_api import FakeTelegram

CHAT = 4242


class FakeClock:
    """Monotonic seconds that only move when someone sleeps: an hour passes instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture()
def fake():
    with FakeTelegram(hang_seconds=1.5) as server:
        yield server


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def channel(fake: FakeTelegram, clock: FakeClock):
    with TelegramChannel("123:abc", [CHAT], base_url=fake.base_url, timeout=0.5,
                         pacer=ChatPacer(1.0, clock=clock, sleep=clock.sleep)) as ch:
        yield ch


@pytest.fixture()
def journal(tmp_path: Path):
    with SignalJournal(tmp_path / ".ita" / "live.sqlite") as j:
        yield j
