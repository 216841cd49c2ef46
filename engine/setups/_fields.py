"""Checks of single setup fields that a type alone cannot express: clock times, time zones,
ids and symbols. Each raises `ValueError` with a message that says how to fix the value; the
parser adds the file, line and field.

>>> clock_time("09:30")
'09:30'
>>> time_zone("Europe/Londn")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown time zone 'Europe/Londn' — did you mean 'Europe/London'? (use an IANA ...
"""

from __future__ import annotations

import re

from engine.errors import ItaError
from engine.ids import checked_id, symbol_file_name
from engine.timezones import iana_name, is_offset, nearest_zone

_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_IANA_HINT = "use an IANA name such as Europe/London, America/New_York or UTC"


def clock_time(value: str) -> str:
    """`HH:MM` on a 24-hour clock, 00:00 to 23:59."""
    if not _CLOCK.fullmatch(value):
        raise ValueError("use HH:MM on a 24-hour clock, from 00:00 to 23:59, e.g. 09:30")
    return value


def time_zone(value: str) -> str:
    """An IANA time-zone name (checked against the time-zone database), e.g. Europe/London."""
    if iana_name(value) == value:
        return value
    if is_offset(value):
        raise ValueError(f"{value!r} is a fixed UTC offset, not a time zone: it ignores summer "
                         f"time; {_IANA_HINT}")
    spelled = iana_name(value) or nearest_zone(value, cutoff=0.75)
    hint = f" — did you mean {spelled!r}?" if spelled else ""
    raise ValueError(f"unknown time zone {value!r}{hint} ({_IANA_HINT})")


def setup_id(value: str) -> str:
    """A setup id is a folder name in the setup store: `engine.ids.checked_id` decides."""
    try:
        return checked_id(value, what="setup id")
    except ItaError as error:
        raise ValueError(str(error).removeprefix("setup id ")) from None


def symbol(value: str) -> str:
    """A symbol must map to a safe file name (`engine.ids.symbol_file_name`)."""
    try:
        symbol_file_name(value)
    except ItaError as error:
        raise ValueError(str(error)) from None
    return value


def document_key(value: str) -> str:
    """A knowledge-base document key: a relative POSIX path inside the shared folder, e.g.
    ``theory/smc-book--1a2b3c4d.pdf`` (no ``..``, no leading ``/``, no backslash)."""
    parts = value.split("/")
    if value.startswith("/") or "\\" in value or "\x00" in value or \
            any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{value!r} is not a document of the knowledge base: use the key "
                         "`ita kb search` shows, e.g. theory/smc-book--1a2b3c4d.pdf")
    return value
