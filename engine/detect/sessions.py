"""Trading sessions and ICT kill zones, each defined in its own time zone.

A `Session` is a daily window ``[start, end)`` of local clock time in a named IANA zone, so
daylight saving moves it correctly in UTC (London 08:00 is 08:00 UTC in winter and 07:00 UTC in
summer; the US and UK change on different dates). A window may cross midnight (Asia).

`session_mask` says, per bar, whether the bar's open time is inside the window.
`detect_sessions` returns one row per completed session instance: ``at`` = its first bar,
``known_at`` = the bar at whose close the session is over (its last bar when that bar closes at
the session end; otherwise, after a gap in the data, the first later bar). A session still
running at the end of the data is not returned — its high and low are not known yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pandas as pd

from engine.candles import HIGH, LOW, local_minutes
from engine.detect._frame import Detections, prepare
from engine.detect._kernels import period_ranges_nb, starts_inside
from engine.errors import SetupError

DAY = 1440


@dataclasses.dataclass(frozen=True)
class Session:
    """A daily window of local time: ``start`` inclusive, ``end`` exclusive, "HH:MM"."""

    name: str
    start: str
    end: str
    tz: str

    @property
    def start_minute(self) -> int:
        return _minute(self.start, self.name)

    @property
    def length(self) -> int:
        """Minutes from start to end (crossing midnight when end <= start)."""
        return (_minute(self.end, self.name) - self.start_minute) % DAY or DAY


SESSIONS: dict[str, Session] = {
    s.name: s for s in (
        Session("asia", "20:00", "00:00", "America/New_York"),
        Session("london", "08:00", "16:30", "Europe/London"),
        Session("new_york", "08:00", "17:00", "America/New_York"),
        Session("asia_kz", "20:00", "00:00", "America/New_York"),
        Session("london_kz", "02:00", "05:00", "America/New_York"),
        Session("ny_am_kz", "07:00", "10:00", "America/New_York"),
        Session("london_close_kz", "10:00", "12:00", "America/New_York"),
        Session("ny_pm_kz", "13:30", "16:00", "America/New_York"),
    )
}


def _minute(text: str, name: str) -> int:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError:
        raise SetupError(f"session {name!r}: time {text!r} is not HH:MM") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60):
        raise SetupError(f"session {name!r}: time {text!r} is out of range")
    return hours * 60 + minutes


def get_session(session: Session | str) -> Session:
    """A predefined session by name, or the given `Session`."""
    if isinstance(session, Session):
        return session
    if session not in SESSIONS:
        import difflib

        near = difflib.get_close_matches(session, SESSIONS, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(SESSIONS)}"
        raise SetupError(f"unknown session {session!r}{hint}")
    return SESSIONS[session]


def bar_minutes(index: pd.DatetimeIndex) -> int:
    """Bar length in minutes, taken as the smallest spacing among the first bars."""
    if len(index) < 2:
        return 1
    head = np.diff(index[: min(len(index), 50)].as_unit("s").asi8) // 60
    positive = head[head > 0]
    return int(positive.min()) if len(positive) else 1


def session_mask(index: pd.DatetimeIndex, session: Session | str) -> np.ndarray:
    """True where the bar's open time is inside the session window."""
    spec = get_session(session)
    rel = (local_minutes(index, spec.tz) - spec.start_minute) % DAY
    return rel < spec.length


def detect_sessions(candles: pd.DataFrame, *, sessions: Iterable[Session | str] = (
        "asia", "london", "new_york"), bar_length: int | None = None) -> pd.DataFrame:
    """Completed session ranges: ``top`` = session high, ``bottom`` = session low."""
    return session_detections(candles, sessions=sessions, bar_length=bar_length).frame()


def session_detections(candles: pd.DataFrame, *, sessions: Iterable[Session | str] = (
        "asia", "london", "new_york"), bar_length: int | None = None) -> Detections:
    """`detect_sessions` as arrays (`Detections`)."""
    prepare(candles)
    step = bar_length or bar_minutes(candles.index)
    high = candles[HIGH].to_numpy(np.float64)
    low = candles[LOW].to_numpy(np.float64)
    parts = []
    for item in sessions:
        spec = get_session(item)
        minutes = local_minutes(candles.index, spec.tz)  # kept per zone by local_minutes
        first, _, known, hi, hi_i, lo, lo_i = period_ranges_nb(
            minutes, high, low, spec.start_minute, DAY, spec.length, step)
        keep = starts_inside(minutes, first, spec.start_minute, DAY)
        parts.append((first[keep], known[keep], hi[keep], hi_i[keep], lo[keep], lo_i[keep],
                      np.full(int(keep.sum()), spec.name, dtype=object)))
    if not parts:
        none_i, none_f = np.empty(0, np.int64), np.empty(0)
        parts.append((none_i, none_i, none_f, none_i, none_f, none_i, np.empty(0, object)))
    # one frame for every session, sorted by known bar then first bar
    columns = zip(*parts, strict=True)
    first, known, hi, hi_i, lo, lo_i, names = (np.concatenate(column) for column in columns)
    return Detections(candles.index, at_i=first, known_i=known, kind="session",
                      direction=0, top=hi, bottom=lo, session=names, high_i=hi_i, low_i=lo_i)
