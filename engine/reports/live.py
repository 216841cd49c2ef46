"""The live journal's numbers per setup version over a period (`engine.live.journal`).

| number | meaning |
| --- | --- |
| signals | live signals recorded with ``known_at`` in ``[start, end)`` |
| taken | of them, decided ``Taken`` (the app or Telegram) |
| skipped, missed | decided ``Skipped`` / ``Missed`` |
| outcomes | taken signals whose outcome is recorded (``outcome_r`` known) |
| wins, losses | outcomes above 0 R / at or below 0 R |
| win_rate | wins / outcomes |
| total_r, expectancy_r | sum and mean of the outcomes' R (each live trade risks the same share) |

The journal is read, never created: a home without ``.ita/live.sqlite`` has no live numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.live.journal import SignalJournal, journal_path

LIVE_NUMBERS = ("signals", "taken", "skipped", "missed", "outcomes", "wins", "losses",
                "win_rate", "total_r", "expectancy_r")


def journal_frame(home: str | Path) -> pd.DataFrame:
    """Every recorded live signal (`SignalJournal.frame`); empty when there is no journal."""
    path = journal_path(home)
    if not path.exists():
        return pd.DataFrame(columns=["signal_id", "known_at", "setup_id", "setup_version",
                                     "symbol", "decision", "outcome", "outcome_r"])
    with SignalJournal(path) as journal:
        return journal.frame()


def in_period(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    """The signals known in ``[start, end)`` (UTC timestamps)."""
    if frame.empty:
        return frame
    known = pd.to_datetime(frame["known_at"], utc=True)
    return frame[(known >= start) & (known < end)]


def taken_r(signals: pd.DataFrame) -> pd.Series:
    """The R of the taken signals whose outcome is known, indexed by their signal time (UTC),
    in time order."""
    if signals.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], tz="UTC"))
    taken = signals[signals["decision"] == "Taken"]
    r = pd.Series(pd.to_numeric(taken["outcome_r"], errors="coerce").to_numpy(float),
                  index=pd.DatetimeIndex(pd.to_datetime(taken["known_at"], utc=True)))
    return r.dropna().sort_index()


def live_numbers(signals: pd.DataFrame) -> dict:
    """`LIVE_NUMBERS` of these signals (means are None without outcomes)."""
    r = taken_r(signals).to_numpy()
    decisions = signals["decision"] if not signals.empty else pd.Series(dtype=object)
    wins = int((r > 0).sum())
    return {"signals": len(signals), "taken": int((decisions == "Taken").sum()),
            "skipped": int((decisions == "Skipped").sum()),
            "missed": int((decisions == "Missed").sum()), "outcomes": len(r), "wins": wins,
            "losses": len(r) - wins, "win_rate": wins / len(r) if len(r) else None,
            "total_r": float(r.sum()), "expectancy_r": float(r.mean()) if len(r) else None}


def by_version(signals: pd.DataFrame) -> dict[tuple[str, int], pd.DataFrame]:
    """The signals of each setup version, keyed (setup id, version)."""
    if signals.empty:
        return {}
    return {(str(setup_id), int(version)): rows for (setup_id, version), rows
            in signals.groupby(["setup_id", "setup_version"], sort=True)}
