"""Live journal rows for the report tests, written as the monitor and the trader leave them."""

from __future__ import annotations

import sqlite3

import pandas as pd

from engine.live.journal import SignalJournal, journal_path


def record_live(home, outcomes, *, setup="sma-cross", version=1, day="2026-03-17",
                decision="Taken") -> None:
    """Live signals as the monitor and the trader leave them: one per R in `outcomes` (None: no
    outcome yet), an hour apart."""
    SignalJournal(journal_path(home)).close()  # the schema
    with sqlite3.connect(journal_path(home)) as db:
        for i, r in enumerate(outcomes):
            known = (pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=i)).isoformat()
            db.execute(
                "INSERT INTO signals (signal_id, short_key, known_at, symbol, direction, "
                "entry_type, setup_id, setup_version, timeframe, source, created_at, decision, "
                "outcome_r) VALUES (?, ?, ?, 'BTC/USDT', 1, 'market', ?, ?, '5m', 'binanceus', "
                "?, ?, ?)", [f"{setup}@v{version} {known}", f"{setup}{version}{known}"[-16:]
                             + str(i), known, setup, version, known, decision, r])
