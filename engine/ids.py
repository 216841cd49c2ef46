"""Names that users give and ITA turns into file and folder names.

Setup ids, run ids, job ids, source names and symbols all end up as one path component under
ITA's folders. None of them may escape its folder or name a device: ``..``, ``/``, ``\\``, NUL,
control characters, a leading dot (hidden and temporary files are ITA's own) and the names
Windows reserves (``CON``, ``NUL``, ``COM1``, ...) are refused with a message that names what
was wrong. Symbols keep their trader spelling (``BTC/USDT``, ``EURUSD.m``) and map to a safe
file name by percent-encoding.

>>> checked_id("london-fvg", what="setup id")
'london-fvg'
>>> symbol_file_name("BTC/USDT")
'BTC%2FUSDT'
"""

from __future__ import annotations

import re
import urllib.parse

from engine.errors import ItaError

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10))}


def _reserved(name: str) -> bool:
    return name.split(".")[0].upper() in _RESERVED


def checked_id(value: object, *, what: str, error: type[ItaError] = ItaError) -> str:
    """`value` if it is safe as one file or folder name, else `error` saying why.

    Allowed: letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit, at most
    128 characters, no ``..`` and no reserved device name.
    """
    text = value if isinstance(value, str) else ""
    if not isinstance(value, str) or not text:
        raise error(f"{what} must be a non-empty name, got {value!r}")
    if ".." in text or not _ID.fullmatch(text):
        raise error(f"{what} {text!r} is not allowed: use letters, digits, '-', '_' and '.' "
                    "(starting with a letter or digit, at most 128 characters, no '..', "
                    "no '/' or '\\')")
    if _reserved(text):
        raise error(f"{what} {text!r} is a reserved device name on Windows; choose another")
    return text


def symbol_file_name(symbol: object, *, error: type[ItaError] = ItaError) -> str:
    """The file name a symbol is stored under: percent-encoded, so ``/`` and ``\\`` become
    ``%2F`` and ``%5C``; empty names, ``.``/``..``, NUL and control characters are refused."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise error(f"symbol must be a non-empty text, got {symbol!r}")
    if symbol in {".", ".."} or symbol.startswith(".") or any(ord(ch) < 32 for ch in symbol):
        raise error(f"symbol {symbol!r} is not allowed: no leading '.', NUL or control "
                    "characters")
    if len(symbol) > 64:
        raise error(f"symbol {symbol[:20]!r}... is longer than 64 characters")
    if _reserved(symbol):
        raise error(f"symbol {symbol!r} is a reserved device name on Windows")
    return urllib.parse.quote(symbol, safe="")
