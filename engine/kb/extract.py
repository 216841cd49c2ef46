"""Files in, text out: a knowledge-base file as `Section`s of text in reading order.

| kind       | files                 | how                                                   |
| ---------- | --------------------- | ----------------------------------------------------- |
| `pdf`      | .pdf                  | pypdf's text layer per page; a page with (almost) no  |
|            |                       | text is rendered at 144 dpi (pypdfium2) and OCR'd      |
| `image`    | .png .jpg .jpeg .webp | OCR (tesseract, ``eng+rus``)                           |
| `markdown` | .md .markdown         | ``#`` headings give the heading path                   |
| `text`     | .txt                  | UTF-8 (BOM or not), UTF-16 with a BOM, Windows-1251    |
| `docx`     | .docx                 | python-docx; "Heading n" / "Title" styles give the path |

A PDF gives one section per page (``page`` 1-based; its heading path from the PDF's
bookmarks, when it has them); Markdown and DOCX one per heading block (``page`` None); a text
file one section. Images are OCR'd at their own size (upscaling small screenshot text 2x made
tesseract read "CHoCH" as Cyrillic). OCR'd text has the line breaks inside its paragraphs
joined; a word hyphenated across lines is rejoined; every text is NFKC-normalised. A page that
yields nothing is named in `Document.warnings`; a document that yields no text at all is a
`KnowledgeError`.

Bad input is a one-line `KnowledgeError` naming the file: an encrypted or corrupt PDF, an
empty file, an archive ("unpack it and add the files"), an unknown type, text in an unknown
encoding, an image tesseract reads nothing in.

>>> doc = extract(Path("notes.md"))  # doctest: +SKIP
>>> doc.sections[0].heading_path  # doctest: +SKIP
('FVG',)
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.errors import KnowledgeError
from engine.kb._formats import docx_blocks, markdown_blocks, open_docx, read_text, short_error

KINDS = {".pdf": "pdf", ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image",
         ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".docx": "docx"}
"""Supported file extensions (lower case) and the kind each one is read as."""

ARCHIVES = (".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".tbz2", ".txz")
_OTHER_HINTS = {".doc": "save it as DOCX", ".rtf": "save it as DOCX",
                ".odt": "save it as DOCX", ".djvu": "convert it to PDF",
                ".epub": "convert it to PDF", ".pptx": "export it as PDF",
                ".ppt": "export it as PDF", ".heic": "save it as PNG or JPG"}
OCR_SCALE = 2.0
"""PDF pages without text are rendered at 72 dpi x this (144 dpi) for OCR. Measured on a dense
11-pt Russian/English page scanned at 150 dpi: scale 1 read 97.9 % of the words, 1.5 99.4 %,
2 99.7 %, 3 99.4 %; the time grows with the pixels (scale 1 about 40 % of scale 2's)."""
MIN_PAGE_CHARACTERS = 16
"""A PDF page whose text layer has fewer letters and digits than this is OCR'd instead."""
SCAN_WITH_HEADER_CHARACTERS = 200
"""A page with fewer letters and digits than this and a picture on it is OCR'd too (a scan
with a typed running header); the longer of the two readings is kept."""
OCR_THREADS = "1"
"""tesseract's OpenMP threads (``OMP_THREAD_LIMIT``) unless the environment sets it: on two
busy cores one thread read a screenshot in 0.3-0.9 s, the default 1.2-2.2 s."""


@dataclass(frozen=True)
class Section:
    """A piece of a document before chunking, in reading order."""

    text: str
    page: int | None  # 1-based page (PDF), None otherwise
    heading_path: tuple[str, ...]  # ("Глава 2", "FVG"): Markdown/DOCX headings, PDF bookmarks
    ocr: bool  # the text came from OCR


@dataclass(frozen=True)
class Document:
    path: Path
    kind: str  # "pdf" | "image" | "markdown" | "text" | "docx"
    sections: list[Section]
    warnings: list[str] = field(default_factory=list)  # "page 3: no text (OCR found nothing)"


def kind_of(path: Path) -> str:
    """The kind `path` is read as, from its extension; archives and unknown types are refused.

    >>> kind_of(Path("Книга.PDF"))
    'pdf'
    """
    name = path.name
    suffix = Path(without_conflict_suffix(name)).suffix.lower()
    if suffix in KINDS:
        return KINDS[suffix]
    if name.lower().endswith(ARCHIVES):
        raise KnowledgeError(f"{name}: is an archive — unpack it and add the files")
    hint = _OTHER_HINTS.get(suffix, "ITA reads PDF, PNG/JPG/WEBP, Markdown, TXT and DOCX")
    shown = suffix or "no extension"
    raise KnowledgeError(f"{name}: unsupported file type ({shown}) — {hint}")


_CONFLICT_END = re.compile(r"(\.\.path[12]|\.conflict\d+|\.path[12])$", re.IGNORECASE)
_CONFLICT_INSIDE = re.compile(r"\.(conflict\d+|path[12])(?=\.[^.]+$)", re.IGNORECASE)


def without_conflict_suffix(name: str) -> str:
    """`name` without the suffix rclone bisync gives the copies of a conflict
    (``notes.md.conflict1``, ``notes.conflict1.md`` with ``--suffix-keep-extension``, older
    rclone's ``notes.md..path1``), so a conflict copy is read like the file it copies.

    >>> without_conflict_suffix("notes.md.conflict2"), without_conflict_suffix("a.conflict1.md")
    ('notes.md', 'a.md')
    """
    return _CONFLICT_INSIDE.sub("", _CONFLICT_END.sub("", name))


Progress = Callable[[float, str], None]
"""``progress(fraction, message)``: the callback shape the jobs use."""


def extract(path: Path, *, ocr_languages: str = "eng+rus",
            progress: Progress | None = None) -> Document:
    """The text of `path` as sections in reading order, or a `KnowledgeError` naming the file.
    `progress` hears about every PDF page (a scanned book OCRs at about a page a second)."""
    path = Path(path)
    kind = kind_of(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise KnowledgeError(f"{path.name}: no such file ({path})") from None
    if path.is_dir():
        raise KnowledgeError(f"{path.name}: is a folder — add the files in it")
    if size == 0:
        raise KnowledgeError(f"{path.name}: the file is empty (0 bytes)")
    if kind == "pdf":
        sections, problems = _pdf(path, ocr_languages, progress)
    else:
        reader = {"image": _image, "markdown": _markdown, "text": _text, "docx": _docx}[kind]
        sections, problems = reader(path, ocr_languages)
    sections = [replace(s, text=_normal(s.text)) for s in sections]
    sections = [s for s in sections if s.text]
    if not sections:
        detail = "; ".join(problems) if problems else "no text in it"
        raise KnowledgeError(f"{path.name}: no text found ({detail})")
    if progress is not None:
        progress(1.0, f"{path.name}: read")
    return Document(path=path, kind=kind, sections=sections, warnings=problems)


def _normal(text: str) -> str:
    """NFKC (ligatures such as "ﬁ" -> "fi", decomposed "й" composed), no trailing spaces."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


# ----------------------------------------------------------------------------------- PDF

def open_pdf(path: Path):
    """A pypdf reader for `path`, decrypted when it opens with an empty password; an encrypted
    or unreadable PDF is a `KnowledgeError`."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    name = path.name
    try:
        with _quiet_pdf():
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise KnowledgeError(f"{name}: the PDF is encrypted — remove the password and "
                                     "add it again")
            len(reader.pages)
    except KnowledgeError:
        raise
    except (FileNotDecryptedError, NotImplementedError):
        raise KnowledgeError(f"{name}: the PDF is encrypted — remove the password and add it "
                             "again") from None
    except (PyPdfError, DependencyError, ValueError, KeyError, TypeError, OSError,
            AttributeError, RecursionError) as exc:
        raise KnowledgeError(f"{name}: the PDF is damaged and cannot be read "
                             f"({short_error(exc)}) — save or download it again") from None
    return reader


def _pdf(path: Path, languages: str, progress: Progress | None
         ) -> tuple[list[Section], list[str]]:
    reader = open_pdf(path)
    sections: list[Section] = []
    problems: list[str] = []
    pages = len(reader.pages)
    headings = outline_headings(reader)
    rendered = None
    try:
        for number, page in enumerate(reader.pages, start=1):
            if progress is not None:
                progress((number - 1) / pages, f"{path.name}: page {number} of {pages}")
            text = _page_text(page)
            heading = headings.get(number, ())
            if not _needs_ocr(page, text):
                sections.append(Section(_clean(text), number, heading, False))
                continue
            if rendered is None:
                rendered = _open_pdfium(path)
            ocr_text = _ocr(rendered[number - 1].render(scale=OCR_SCALE).to_pil(), languages,
                            path.name)
            if _letters(ocr_text) > _letters(text):
                sections.append(Section(_clean(ocr_text, ocr=True), number, heading, True))
            elif _letters(text):
                sections.append(Section(_clean(text), number, heading, False))
            else:
                problems.append(f"page {number}: no text (OCR found nothing)")
    finally:
        if rendered is not None:
            rendered.close()
    return sections, problems


def outline_headings(reader) -> dict[int, tuple[str, ...]]:
    """Page number -> the heading path of the bookmark (PDF outline) in force on that page:
    the last bookmark starting on or before it, with its parents. {} without bookmarks."""
    starts: list[tuple[int, tuple[str, ...]]] = []

    def walk(items, parents: tuple[str, ...]) -> None:
        last = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            page = reader.get_destination_page_number(item)
            last = (*parents, title) if title else parents
            if page is not None and page >= 0 and title:
                starts.append((page + 1, last))

    try:
        with _quiet_pdf():
            walk(reader.outline, ())
    except Exception:  # noqa: BLE001 - broken bookmarks: pages simply have no heading
        return {}
    starts.sort(key=lambda start: start[0])
    headings: dict[int, tuple[str, ...]] = {}
    for number in range(1, len(reader.pages) + 1):
        for first_page, path in starts:
            if first_page > number:
                break
            headings[number] = path
    return headings


def _needs_ocr(page, text: str) -> bool:
    """A page with (almost) no text layer, or little text over a picture (a scan with a typed
    header, a slide that is an image), is read by OCR."""
    letters = _letters(text)
    if letters < MIN_PAGE_CHARACTERS:
        return True
    return letters < SCAN_WITH_HEADER_CHARACTERS and _has_image(page)


def _has_image(page) -> bool:
    try:
        with _quiet_pdf():
            objects = page["/Resources"].get_object().get("/XObject")
            objects = objects.get_object() if objects is not None else {}
            return any(obj.get_object().get("/Subtype") == "/Image" for obj in objects.values())
    except Exception:  # noqa: BLE001 - odd resources: trust the text layer
        return False


def _page_text(page) -> str:
    try:
        with _quiet_pdf():
            return page.extract_text() or ""
    except Exception:  # noqa: BLE001 - a page pypdf cannot parse is OCR'd like a scan
        return ""


def _open_pdfium(path: Path):
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as exc:
        raise KnowledgeError(f"{path.name}: the PDF's pages cannot be rendered for OCR "
                             f"({short_error(exc)}) — save or download it again") from None


class _quiet_pdf:
    """pypdf reports recoverable oddities through logging and warnings; a damaged file is
    reported by ITA's own message instead."""

    def __enter__(self):
        self._logger = logging.getLogger("pypdf")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        return self

    def __exit__(self, *exc_info):
        self._warnings.__exit__(*exc_info)
        self._logger.setLevel(self._level)
        return False


# --------------------------------------------------------------------------------- images

def _image(path: Path, languages: str) -> tuple[list[Section], list[str]]:
    image = open_image(path)
    text = _ocr(image, languages, path.name)
    if _letters(text) == 0:
        raise KnowledgeError(f"{path.name}: no text found in the image (OCR read nothing) — "
                             "is it a picture of text?")
    return [Section(_clean(text, ocr=True), None, (), True)], []


def open_image(path: Path):
    """The image at `path`, loaded and in a mode tesseract reads; a damaged image is a
    `KnowledgeError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as handle:
            handle.load()
            image = ImageOps.exif_transpose(handle)  # a phone photo of a page, upright
            image = image.convert("RGB") if image.mode not in ("RGB", "L") else image.copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise KnowledgeError(f"{path.name}: the image is damaged or not an image "
                             f"({short_error(exc)})") from None
    return image


def _ocr(image, languages: str, name: str) -> str:
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", OCR_THREADS)  # inherited by tesseract
    try:
        return pytesseract.image_to_string(image, lang=languages)
    except pytesseract.TesseractNotFoundError:
        raise KnowledgeError(f"{name}: needs OCR but tesseract is not installed — run "
                             "scripts/install_system.sh (tesseract-ocr, tesseract-ocr-rus)"
                             ) from None
    except pytesseract.TesseractError as exc:
        raise KnowledgeError(f"{name}: OCR failed ({short_error(exc)}) — is the tesseract "
                             f"language pack for {languages!r} installed?") from None


# ------------------------------------------------------------- Markdown, text and DOCX

def _markdown(path: Path, languages: str) -> tuple[list[Section], list[str]]:
    return [Section(body, None, headings, False)
            for body, headings in markdown_blocks(read_text(path))], []


def _text(path: Path, languages: str) -> tuple[list[Section], list[str]]:
    return [Section(read_text(path).strip(), None, (), False)], []


def _docx(path: Path, languages: str) -> tuple[list[Section], list[str]]:
    return [Section(body, None, headings, False)
            for body, headings in docx_blocks(open_docx(path))], []


# ---------------------------------------------------------------------------------- helpers

_HYPHEN_BREAK = re.compile(r"(\w)-\n([a-zа-яё])")
_SOFT_BREAK = re.compile(r"(?<!\n)\n(?!\n)")


def _clean(text: str, *, ocr: bool = False) -> str:
    """Normalised whitespace; for OCR, lines inside a paragraph joined into one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n\n")
    text = text.replace("\u00ad", "")
    text = _HYPHEN_BREAK.sub(r"\1\2", text)  # "обра-\nботка" -> "обработка"
    if ocr:
        text = _SOFT_BREAK.sub(" ", text)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def sniff_archive(data: bytes) -> bool:
    """True if `data` (a file's first bytes) starts like an archive (zip, rar, 7z, gzip, bzip2,
    xz); DOCX files are zips too, so the caller decides by the extension."""
    return data.startswith((b"PK\x03\x04", b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b",
                            b"BZh", b"\xfd7zXZ\x00"))


def probe(path: Path, *, name: str | None = None) -> None:
    """A cheap check that `path` can be read as its kind (a PDF opens and is not encrypted, an
    image decodes, a DOCX opens, a text file decodes), without OCR; a `KnowledgeError` if not.
    `name` is the user's name for the file (an upload's) when `path` is a temporary copy: it
    decides the kind and is the name the message shows. `shared.add_theory` calls this so a bad
    file never enters the shared folder."""
    shown = name if name is not None else path.name
    kind = kind_of(Path(shown))
    try:
        _probe(path, kind)
    except KnowledgeError as exc:
        message = str(exc)
        if message.startswith(path.name + ":"):
            message = shown + message[len(path.name):]
        raise KnowledgeError(message) from None


def _probe(path: Path, kind: str) -> None:
    if kind == "pdf":
        open_pdf(path)
    elif kind == "image":
        open_image(path)
    elif kind == "docx":
        open_docx(path)
    elif sniff_archive(path.read_bytes()[:8]):
        raise KnowledgeError(f"{path.name}: is an archive — unpack it and add the files")
    else:
        read_text(path)
