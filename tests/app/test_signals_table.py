"""The signals table shows a plan part that is switched off as "—", never as 0 bars or 0.0%."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.ui import signals_table
from engine.signals import conform_signals


def signals(**plan) -> pd.DataFrame:
    row = {"known_at": pd.Timestamp("2023-03-01 14:05", tz="UTC"), "symbol": "BTC/USDT",
           "direction": 1, "entry_type": "market", "entry": 100.0, "stop": 99.0,
           "target": 102.0, "r_planned": 2.0, "expiry_bars": 0, "time_exit_bars": 0,
           "breakeven_r": np.nan, "partial_r": np.nan, "partial_fraction": 0.0,
           "setup_id": "s", "setup_version": 1, "reasons": "[]"}
    return conform_signals(pd.DataFrame([{**row, **plan}]))


def test_switched_off_plan_parts_are_missing_so_the_table_shows_a_dash() -> None:
    shown = signals_table(signals(target=np.nan, r_planned=np.nan))
    row = shown["data"].iloc[0]
    for column in ("expiry_bars", "time_exit_bars", "partial_fraction", "partial_r",
                   "breakeven_r", "target", "r_planned"):
        assert pd.isna(row[column]), column
    assert shown["placeholder"] == "—"
    assert row["entry"] == 100.0 and row["setup_version"] == 1


def test_plan_parts_that_are_on_keep_their_values() -> None:
    shown = signals_table(signals(entry_type="limit", expiry_bars=5, time_exit_bars=12,
                                  breakeven_r=1.0, partial_r=1.5, partial_fraction=0.5))
    row = shown["data"].iloc[0]
    assert (row["expiry_bars"], row["time_exit_bars"]) == (5, 12)
    assert row["partial_fraction"] == 50.0 and row["partial_r"] == 1.5
    assert row["breakeven_r"] == 1.0


def test_a_partial_size_without_a_partial_level_is_off() -> None:
    row = signals_table(signals(partial_fraction=0.5))["data"].iloc[0]
    assert pd.isna(row["partial_fraction"])
