"""Real knowledge-base files made in the test: a PDF with a text layer (Russian and English, the
DejaVu font that ships inside matplotlib), a scanned PDF page (a picture of text, no text
layer), a PNG screenshot with Russian and English text, Markdown with headings, DOCX with
heading styles, and the bad inputs (encrypted and corrupt PDF, empty file, archive, blank image).

Each helper writes one file and returns its path:

>>> text_pdf(tmp_path / "book.pdf", pages=[RU_EN_PASSAGE])  # doctest: +SKIP
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import matplotlib

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"

RU_EN_PASSAGE = ("Справедливый разрыв стоимости (FVG) появляется после импульса. "
                 "A fair value gap forms when the middle candle moves fast.")
SCAN_LINES = ["Снятие ликвидности азиатской сессии", "London session liquidity sweep"]
SCREENSHOT_LINES = ["Вход от ордерблока после слома структуры",
                    "Entry from the order block after CHoCH"]

MARKDOWN = """# Глава 2. Ликвидность

Ликвидность собирается над равными максимумами (equal highs).

## FVG

Fair value gap: три свечи, тени первой и третьей не пересекаются.

```
# not a heading: inside a code fence
```

### Вход

Вход на возврате в зону, стоп за свип.

# Chapter 3. Sessions

The London session often sweeps the Asian range.
"""


def text_pdf(path: Path, *, pages: list[str]) -> Path:
    """A PDF with a real text layer, one string per page (DejaVu Sans: Cyrillic works)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def book_pdf(path: Path, *, pages: list[tuple[tuple[str, int] | None, str]]) -> Path:
    """A text PDF with bookmarks: per page, an optional (title, level) bookmark starting on it
    and the page's text."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=12)
    for bookmark, text in pages:
        pdf.add_page()
        if bookmark is not None:
            pdf.start_section(*bookmark)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def text_image(lines: list[str], *, width: int = 1100, size: int = 30):
    """A white Pillow image with `lines` of black DejaVu text, like a screenshot."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), size)
    height = 60 + len(lines) * int(size * 1.8)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * int(size * 1.8)), line, fill="black", font=font)
    return image


def screenshot_png(path: Path, lines: list[str] = SCREENSHOT_LINES) -> Path:
    text_image(lines).save(path, format="PNG")
    return path


def blank_png(path: Path) -> Path:
    """A picture with no text at all (a flat chart background)."""
    from PIL import Image

    Image.new("RGB", (800, 500), (30, 34, 45)).save(path, format="PNG")
    return path


def scanned_pdf(path: Path, *, lines: list[str] = SCAN_LINES, text_page: str | None = None,
                header: str | None = None) -> Path:
    """A PDF whose page is a picture of text (no text layer), like a scanned book page; with
    `text_page`, a text page comes first and the scanned page is page 2; with `header`, the
    scanned page also has that line as real text above the picture (a typed running header)."""
    from fpdf import FPDF

    image = text_image(lines, width=1400, size=40)
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=12)
    if text_page is not None:
        pdf.add_page()
        pdf.multi_cell(0, 8, text_page)
    pdf.add_page()
    if header is not None:
        pdf.cell(0, 8, header)
    pdf.image(image, x=10, y=30, w=190)
    pdf.output(str(path))
    return path


def encrypted_pdf(path: Path, *, text: str = RU_EN_PASSAGE) -> Path:
    """A PDF that needs a password to open."""
    from pypdf import PdfReader, PdfWriter

    plain = text_pdf(path.with_name(path.stem + "-plain.pdf"), pages=[text])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    with open(path, "wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path


def corrupt_pdf(path: Path) -> Path:
    """Bytes that start like a PDF and then are garbage (a broken download)."""
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    return path


def markdown(path: Path, text: str = MARKDOWN) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def docx_file(path: Path) -> Path:
    """A Word document with Heading 1/2 styles, body paragraphs and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Глава 1. Структура рынка", level=1)
    document.add_paragraph("Слом структуры (BOS) подтверждает тренд.")
    document.add_heading("CHoCH", level=2)
    document.add_paragraph("Change of character marks the first sign of a reversal.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Термин"
    table.cell(0, 1).text = "Term"
    table.cell(1, 0).text = "Ордерблок"
    table.cell(1, 1).text = "Order block"
    document.add_heading("Глава 2. Ликвидность", level=1)
    document.add_paragraph("Ликвидность лежит за равными минимумами.")
    document.save(str(path))
    return path


def zip_archive(path: Path, inner: Path | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.md", "# inside an archive\n")
        if inner is not None:
            archive.write(inner, inner.name)
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path
