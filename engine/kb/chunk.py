"""Sections to chunks: the passages the knowledge base embeds, searches and cites.

A chunk never crosses a section (a PDF page, a Markdown/DOCX heading block), so its page and
heading are exact. Inside a section, paragraphs are packed into chunks of `TARGET_CHARS` to
`MAX_CHARS` characters (800–1,200; a section's last chunk may be shorter); a
paragraph longer than that is cut between sentences, else between words — never inside a word
(only a "word" longer than `MAX_CHARS`, such as a long URL, is cut). Each chunk after the first
of a section starts with the last ~`OVERLAP_CHARS` characters of the one before (from a word
start), so a rule split across two chunks is found in either. A chunk shorter than
`TARGET_CHARS` is filled with the next paragraph's first words rather than closed. A piece
without any letter (a lone page number, a rule line) is dropped.

| field         | meaning                                                                |
| ------------- | ---------------------------------------------------------------------- |
| `id`          | ``f"{source}#{n:05d}"``, n counting the document's chunks from 0; the  |
|               | same file always gives the same ids                                    |
| `text`        | the passage                                                            |
| `source`      | the document key: POSIX path relative to ``shared_kb/``                |
| `page`        | 1-based PDF page, None otherwise                                       |
| `heading`     | ``" > ".join(heading_path)``, "" when the section has no heading       |
| `language`    | ``language_of(text)``: "ru", "en" or "mixed"                           |
| `analyst`     | who added the document (manifest) or whose folder it is in             |
| `file_sha256` | the whole file's sha256                                                |
| `ocr`         | the text came from OCR                                                 |
| `tags`        | the document's tags                                                    |

>>> language_of("Снятие ликвидности над equal highs")
'ru'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.kb.extract import Document

TARGET_CHARS = 800
"""A chunk shorter than this is filled with the next paragraph's first words, not closed."""
MAX_CHARS = 1200
OVERLAP_CHARS = 150
MIXED_SHARE = 0.35
"""A text is "mixed" when the smaller of its Cyrillic and Latin letter shares is at least this."""


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str
    source: str
    page: int | None
    heading: str
    language: str
    analyst: str
    file_sha256: str
    ocr: bool
    tags: tuple[str, ...] = ()


def language_of(text: str) -> str:
    """"ru", "en" or "mixed" by the share of Cyrillic and Latin letters: Russian text with a
    few English terms (FVG, sweep) is "ru"; "mixed" when each script holds at least 35 % of the
    letters, and when the text has no letters at all.

    >>> language_of("Fair value gap after a liquidity sweep"), language_of("FVG = ФВГ")
    ('en', 'mixed')
    """
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    total = cyrillic + latin
    if total == 0:
        return "mixed"
    if min(cyrillic, latin) / total >= MIXED_SHARE:
        return "mixed"
    return "ru" if cyrillic > latin else "en"


def chunk_document(doc: Document, *, source: str, analyst: str, file_sha256: str,
                   tags: tuple[str, ...] = ()) -> list[Chunk]:
    """The document's chunks in reading order, with stable ids."""
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = " > ".join(section.heading_path)
        for text in split_text(section.text):
            chunks.append(Chunk(id=f"{source}#{len(chunks):05d}", text=text, source=source,
                                page=section.page, heading=heading,
                                language=language_of(text), analyst=analyst,
                                file_sha256=file_sha256, ocr=section.ocr, tags=tuple(tags)))
    return chunks


_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+|\n")
_MEANINGFUL = re.compile(r"[^\W\d_]")


def split_text(text: str, *, limit: int = MAX_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """`text` as passages of at most `limit` characters, cut at paragraph, then
    sentence, then word boundaries, each after the first starting with ~`overlap` characters
    of the previous one.

    >>> [len(p) for p in split_text("слово " * 1000)]
    [1049, 1199, 1199, 1199, 1199, 899]
    """
    pieces = [(p, fresh) for p, fresh in _pieces(text, limit - overlap)
              if _MEANINGFUL.search(p)]
    passages: list[str] = []
    current = ""
    for piece, new_paragraph in pieces:
        sep = "\n\n" if new_paragraph else " "
        joined = f"{current}{sep}{piece}" if current else piece
        if len(joined) <= limit:
            current = joined
            continue
        if len(current) < TARGET_CHARS:  # too short to stand alone: fill it from the piece
            head, piece = _fill(piece, limit - len(current) - len(sep))
            current = f"{current}{sep}{head}" if head else current
        passages.append(current)
        tail = _tail(current, overlap)
        current = f"{tail} {piece}" if tail and len(tail) + 1 + len(piece) <= limit else piece
    if current:
        passages.append(current)
    return passages


def _pieces(text: str, size: int) -> list[tuple[str, bool]]:
    """Paragraphs no longer than `size` (long ones cut between sentences, then words), each
    with True where a new paragraph starts."""
    out: list[tuple[str, bool]] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= size:
            out.append((paragraph, True))
            continue
        sentences = [s for s in _SENTENCE_END.split(paragraph) if s.strip()]
        parts = _pack(sentences, size, " ")
        out.extend((part, i == 0) for i, part in enumerate(parts))
    return out


def _pack(parts: list[str], size: int, sep: str) -> list[str]:
    packed: list[str] = []
    current = ""
    for part in parts:
        part = part.strip()
        if len(part) > size:
            if current:
                packed.append(current)
                current = ""
            packed.extend(_pack(part.split(), size, " ") if " " in part else _hard_cut(part,
                                                                                     size))
            continue
        joined = f"{current}{sep}{part}" if current else part
        if len(joined) <= size:
            current = joined
        else:
            packed.append(current)
            current = part
    if current:
        packed.append(current)
    return packed


def _fill(piece: str, room: int) -> tuple[str, str]:
    """The words of `piece` that fit in `room` characters, and the rest."""
    words = piece.split(" ")
    taken = 0
    used = -1
    while taken < len(words) and used + 1 + len(words[taken]) <= room:
        used += 1 + len(words[taken])
        taken += 1
    if taken == len(words):  # never leave nothing to carry on with
        taken -= 1
    return " ".join(words[:taken]), " ".join(words[taken:])


def _hard_cut(word: str, size: int) -> list[str]:
    return [word[i:i + size] for i in range(0, len(word), size)]


def _tail(text: str, size: int) -> str:
    """The last ~`size` characters of `text`, starting at a word start."""
    if len(text) <= size:
        return ""
    cut = text[-size:]
    space = re.search(r"\s", cut)
    return cut[space.end():].strip() if space else ""
