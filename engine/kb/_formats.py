"""Readers of the plain formats for `engine.kb.extract`: Markdown and TXT text (UTF-8, UTF-16
with a BOM, or Windows-1251 that reads as Russian) and DOCX, as (text, heading path) blocks."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from engine.errors import KnowledgeError

Block = tuple[str, tuple[str, ...]]
"""A heading block: its text and the headings above it, outermost first."""


_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def markdown_blocks(text: str) -> list[Block]:
    """ATX headings (``#`` .. ``######``, not inside code fences) split the text."""
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            blocks.append((body, tuple(h for _, h in headings)))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _ATX.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, title = len(heading.group(1)), heading.group(2).strip()
        headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, title)]
    flush()
    return blocks


def read_text(path: Path) -> str:
    """The text of a Markdown or TXT file: UTF-8 (with or without a BOM), UTF-16 with a BOM, or
    Windows-1251 (common for Russian files) when the bytes are not UTF-8 and read as mostly
    Cyrillic; anything else is a `KnowledgeError`."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise KnowledgeError(f"{path.name}: is not a text file (it contains binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1251")
    except UnicodeDecodeError:
        text = ""
    if text and _looks_like_text(text):
        return text
    raise KnowledgeError(f"{path.name}: the text is neither UTF-8 nor Windows-1251 — save it "
                         "as UTF-8 and add it again")


def _looks_like_text(text: str) -> bool:
    """Is this cp1251 decoding Russian? Any 8-bit text decodes as cp1251 (Greek, KOI8-R and
    Latin-1 come out as Cyrillic gibberish), so the Cyrillic letters must look like Russian:
    the ten commonest letters (о е а и н т с р в л) are about two thirds of Russian text and
    vowels about 40 %; gibberish scored at most 0.31 on both."""
    if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
        return False
    cyrillic = [ch.lower() for ch in text if "\u0400" <= ch <= "\u04ff"]
    if not cyrillic:
        return False
    common = sum(ch in "оеаинтсрвл" for ch in cyrillic) / len(cyrillic)
    vowels = sum(ch in "аеёиоуыэюя" for ch in cyrillic) / len(cyrillic)
    return common >= 0.5 and 0.3 <= vowels <= 0.6


# ----------------------------------------------------------------------------------- DOCX

_HEADING_STYLE = re.compile(r"^(?:heading|заголовок)\s*(\d)$", re.IGNORECASE)


def open_docx(path: Path):
    """A python-docx document for `path`; a damaged file is a `KnowledgeError`."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        return docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise KnowledgeError(f"{path.name}: the DOCX file is damaged or not a Word document "
                             f"({short_error(exc)}) — save it again as .docx") from None


def docx_blocks(document) -> list[Block]:
    """Paragraphs and tables in order; "Heading n", "Заголовок n" and "Title" styles split."""
    blocks: list[Block] = []
    headings: list[tuple[int, str]] = []
    parts: list[str] = []

    def flush() -> None:
        body = "\n\n".join(p for p in parts if p.strip()).strip()
        if body:
            blocks.append((body, tuple(h for _, h in headings)))
        parts.clear()

    for item in document.iter_inner_content():
        if not hasattr(item, "style") or not hasattr(item, "text"):  # a table
            parts.append(_table_text(item))
            continue
        level = _heading_level(item)
        if level is None or not item.text.strip():
            parts.append(item.text)
            continue
        flush()
        title = item.text.strip()
        headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, title)]
    flush()
    return blocks


def _heading_level(paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells = [cell.text.strip() for cell in row.cells]
        rows.append(" | ".join(c for c in cells if c))
    return "\n".join(r for r in rows if r)


def short_error(exc: BaseException) -> str:
    """An exception as one short line for a user message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
