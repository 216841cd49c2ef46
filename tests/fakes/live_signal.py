"""A stand-in for s-eval's `engine.live.evaluate.LiveSignal` (same fields, same `signal_id`),
so the journal and delivery tests depend only on the contract (docs: live-contracts)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd


@dataclass(frozen=True)
class FakeLiveSignal:
    known_at: pd.Timestamp
    symbol: str = "BTC/USDT"
    direction: int = 1
    entry_type: str = "market"
    entry: float = 100.0
    stop: float = 99.0
    target: float = 102.0
    r_planned: float = 2.0
    expiry_bars: int = 0
    time_exit_bars: int = 0
    breakeven_r: float = math.nan
    partial_r: float = math.nan
    partial_fraction: float = math.nan
    setup_id: str = "fvg_retest"
    setup_version: int = 3
    reasons: str = "[]"
    timeframe: str = "15m"
    source: str = "binanceus"

    @property
    def signal_id(self) -> str:
        side = "long" if self.direction > 0 else "short"
        return (f"{self.setup_id}@v{self.setup_version}|{self.source}:{self.symbol}|"
                f"{self.timeframe}|{self.known_at:%Y-%m-%dT%H:%MZ}|{side}")


def make_signal(minute: int = 0, **changes) -> FakeLiveSignal:
    """A long BTC/USDT signal on the 15m bar `minute` minutes after 2024-03-04 09:00 UTC."""
    start = pd.Timestamp("2024-03-04 09:00", tz="UTC")
    return replace(FakeLiveSignal(known_at=start + pd.Timedelta(minutes=minute)), **changes)
