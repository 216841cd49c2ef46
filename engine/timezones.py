"""Time zones as users write them, read in one place (importers, the MT5 source, settings).

Accepted spellings (case does not matter):

| spelling                               | meaning                                            |
|----------------------------------------|----------------------------------------------------|
| ``UTC``, ``GMT``, ``Z``                | UTC                                                |
| an IANA name: ``Europe/Athens``        | that zone, with its daylight saving changes        |
| ``Etc/GMT-2``                          | IANA's POSIX sign: UTC**+**2 (the sign is flipped) |
| ``+02:00``, ``-05:00``, ``+0200``, ``+2`` | a fixed offset from UTC, no daylight saving     |
| ``UTC+2``, ``GMT+2``, ``UTC-05:30``    | the same fixed offsets, as brokers write them      |

``GMT+2`` means two hours *ahead* of UTC (what MT5 brokers mean by it), unlike IANA's
``Etc/GMT+2``, which is two hours *behind*. Offsets go up to 14 hours. Anything else is refused
with one line that names the field and suggests the nearest zone name.

>>> parse_timezone("Europe/Athens")
zoneinfo.ZoneInfo(key='Europe/Athens')
>>> parse_timezone("UTC+2")
datetime.timezone(datetime.timedelta(seconds=7200))
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import zoneinfo

from engine.errors import DataError, ItaError

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_UTC_NAMES = {"UTC", "GMT", "Z", "ZULU", "UNIVERSAL"}


@functools.lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_timezone(text: object, *, field: str = "time zone",
                   error: type[ItaError] = DataError) -> dt.tzinfo:
    """The zone `text` names, as a `tzinfo` pandas accepts; `error` naming `field` otherwise.

    >>> parse_timezone("-05:00")
    datetime.timezone(datetime.timedelta(days=-1, seconds=68400))
    >>> parse_timezone("Europe/Athen", field="--tz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    engine.errors.DataError: --tz 'Europe/Athen' is not a time zone — did you mean ...
    """
    name = text.strip() if isinstance(text, str) else ""
    if not name:
        raise error(f"{field} is empty: give a time zone such as UTC, Europe/Athens or +02:00")
    if name.upper() in _UTC_NAMES:
        return dt.UTC
    match = _OFFSET.match(name)
    if match:
        return _fixed_offset(match, name, field, error)
    canonical = iana_name(name)
    if canonical:
        return zoneinfo.ZoneInfo(canonical)
    raise error(f"{field} {name!r} is not a time zone{_did_you_mean(name)} (use an IANA name "
                "such as Europe/Athens, UTC, or an offset such as +02:00)")


def _fixed_offset(match: re.Match, text: str, field: str,
                  error: type[ItaError]) -> dt.timezone:
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60:
        raise error(f"{field} {text!r} is not a UTC offset (at most ±14:00, minutes below 60)")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if sign == "-" else delta) if delta else dt.UTC


def iana_name(text: str) -> str | None:
    """The IANA spelling of `text` in any case (``europe/london`` -> ``Europe/London``)."""
    return _zones_by_lower_name().get(text.strip().lower())


def nearest_zone(text: str, *, cutoff: float = 0.6) -> str | None:
    """The IANA name closest to `text` (for a did-you-mean), or None."""
    zones = _zones_by_lower_name()
    near = difflib.get_close_matches(text.strip().lower(), zones, n=1, cutoff=cutoff)
    return zones[near[0]] if near else None


def is_offset(text: str) -> bool:
    """True for a fixed UTC offset such as ``+02:00``, ``-0500`` or ``GMT+2``."""
    return bool(_OFFSET.match(text.strip()))


def _did_you_mean(name: str) -> str:
    near = nearest_zone(name)
    return f" — did you mean {near!r}?" if near else ""
