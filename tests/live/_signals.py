"""Real `LiveSignal`s for the journal, delivery, command and page tests."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from engine.live.evaluate import LiveSignal

START = pd.Timestamp("2024-03-04 09:00", tz="UTC")


def make_signal(minute: int = 0, **changes) -> LiveSignal:
    """A long BTC/USDT signal of setup fvg_retest v3 on the binanceus 15m bar `minute` minutes
    after 2024-03-04 09:00 UTC (entry 100, stop 99, target 102), with `changes` applied."""
    base = replace(LiveSignal.example(), known_at=START + pd.Timedelta(minutes=minute),
                   entry=100.0, stop=99.0, target=102.0, r_planned=2.0,
                   partial_fraction=float("nan"), setup_id="fvg_retest", setup_version=3,
                   timeframe="15m", source="binanceus")
    return replace(base, **changes)
