"""Notion block and property builders (plain dicts, no network): text is split at Notion's
2,000-character limit here, once, so no caller can send a longer piece.

>>> [len(item["text"]["content"]) for item in rich_text("x" * 4500)]
[2000, 2000, 500]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

TEXT_LIMIT = 2000  # characters in one rich-text item (Notion's limit)
RICH_TEXT_ITEMS = 100  # rich-text items in one array (Notion's limit)
BLOCKS_PER_CALL = 100  # children in one append (Notion's limit)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a line break or a space in the
    last fifth of a piece when there is one (so words stay whole); "" gives []."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        if cut < limit * 4 // 5:
            cut = limit
        else:
            cut += 1  # keep the space or line break with the piece before it
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def rich_text(text: str) -> list[dict[str, Any]]:
    """A rich-text array for `text`; longer texts become several items."""
    return [{"type": "text", "text": {"content": piece}} for piece in split_text(text)]


def paragraphs(text: str) -> list[dict[str, Any]]:
    """Paragraph blocks for `text`: one per 100 rich-text items (200,000 characters)."""
    items = rich_text(text)
    return [{"object": "block", "type": "paragraph",
             "paragraph": {"rich_text": items[i:i + RICH_TEXT_ITEMS]}}
            for i in range(0, len(items), RICH_TEXT_ITEMS)] or [
        {"object": "block", "type": "paragraph", "paragraph": {"rich_text": []}}]


def heading(text: str, level: int = 2) -> dict[str, Any]:
    kind = f"heading_{min(max(level, 1), 3)}"
    return {"object": "block", "type": kind, kind: {"rich_text": rich_text(text)}}


TABLE_ROWS = BLOCKS_PER_CALL - 1  # data rows in one table block (the header is the 100th)


def tables(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Table blocks for any number of rows: one table per 99 rows, each with the header
    (Notion takes at most 100 children in one request, nested table rows included)."""
    return [table(header, rows[i:i + TABLE_ROWS])
            for i in range(0, len(rows), TABLE_ROWS)] or [table(header, [])]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A table block with a header row; cells are written as text (numbers via `cell`).
    At most `TABLE_ROWS` rows: use `tables` for more."""
    if len(rows) > TABLE_ROWS:
        raise ValueError(f"a Notion table block holds at most {TABLE_ROWS} rows; use tables()")
    lines = [list(header), *[[cell(value) for value in row] for row in rows]]
    return {"object": "block", "type": "table",
            "table": {"table_width": len(header), "has_column_header": True,
                      "has_row_header": False,
                      "children": [{"object": "block", "type": "table_row",
                                    "table_row": {"cells": [rich_text(str(c)) for c in line]}}
                                   for line in lines]}}


def image(file_upload_id: str, caption: str = "") -> dict[str, Any]:
    """An image block showing a file sent with the file upload API."""
    return {"object": "block", "type": "image",
            "image": {"type": "file_upload", "file_upload": {"id": file_upload_id},
                      "caption": rich_text(caption)}}


def cell(value: Any) -> str:
    """A table cell's text: floats with 4 significant decimals, NaN/None as an empty cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.2f}"
    return str(value)


# -- property values ---------------------------------------------------------------------------
def title_value(text: str) -> dict[str, Any]:
    return {"title": rich_text(text)}


def text_value(text: str | None) -> dict[str, Any]:
    return {"rich_text": rich_text(text or "")}


def number_value(value: float | int | None) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return {"number": None}
    return {"number": value}


def select_value(name: str | None) -> dict[str, Any]:
    return {"select": {"name": name.replace(",", " ")} if name else None}


def date_value(iso: str | None) -> dict[str, Any]:
    return {"date": {"start": iso} if iso else None}


def plain(prop: dict[str, Any] | None) -> Any:
    """The plain value of a property as Notion returns it (text joined, select's name)."""
    if not prop:
        return None
    kind = prop.get("type")
    if kind in {"title", "rich_text"}:
        return "".join(item.get("plain_text") or item.get("text", {}).get("content", "")
                        for item in prop.get(kind) or [])
    if kind == "select":
        return (prop.get("select") or {}).get("name")
    if kind == "date":
        return (prop.get("date") or {}).get("start")
    return prop.get(kind)
