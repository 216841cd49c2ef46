"""extract(): real files made in the test in, sections of text out; bad files are one-line
KnowledgeErrors naming the file, and the file is left as it was."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from engine.errors import ItaError, KnowledgeError
from engine.kb.extract import Document, extract, kind_of, probe
from tests.kb import files


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bad(path: Path, *needles: str) -> str:
    before = _digest(path) if path.exists() else None
    with pytest.raises(KnowledgeError) as caught:
        extract(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(path.name + ":"), message
    for needle in needles:
        assert needle in message, message
    if before is not None:
        assert _digest(path) == before
    return message


# ------------------------------------------------------------------------ good files

def test_text_pdf_gives_one_section_per_page_with_russian_and_english(tmp_path: Path) -> None:
    path = files.text_pdf(tmp_path / "book.pdf",
                          pages=[files.RU_EN_PASSAGE, "Page two: the liquidity sweep."])
    doc = extract(path)
    assert isinstance(doc, Document) and doc.kind == "pdf" and doc.warnings == []
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Справедливый разрыв стоимости" in doc.sections[0].text
    assert "fair value" in doc.sections[0].text
    assert "liquidity sweep" in doc.sections[1].text
    assert not any(s.ocr for s in doc.sections)
    assert all(s.heading_path == () for s in doc.sections)  # no bookmarks, no headings


def test_pdf_bookmarks_give_each_page_its_heading_path(tmp_path: Path) -> None:
    path = files.book_pdf(tmp_path / "book.pdf", pages=[
        (("Глава 1. Ликвидность", 0), "Ликвидность лежит за максимумами."),
        (("Свипы", 1), "Свип снимает стопы над максимумом."),
        (None, "Продолжение про свипы и London session."),
        (("Глава 2. FVG", 0), "Fair value gap forms after an impulse.")])
    doc = extract(path)
    assert [(s.page, s.heading_path) for s in doc.sections] == [
        (1, ("Глава 1. Ликвидность",)),
        (2, ("Глава 1. Ликвидность", "Свипы")),
        (3, ("Глава 1. Ликвидность", "Свипы")),
        (4, ("Глава 2. FVG",))]


def test_scanned_page_is_ocrd_and_keeps_its_page_number(tmp_path: Path) -> None:
    path = files.scanned_pdf(tmp_path / "scan.pdf", text_page=files.RU_EN_PASSAGE)
    doc = extract(path)
    first, scanned = doc.sections
    assert (first.page, first.ocr) == (1, False)
    assert (scanned.page, scanned.ocr) == (2, True)
    assert "ликвидности" in scanned.text and "азиатской" in scanned.text
    assert "London" in scanned.text and "sweep" in scanned.text


def test_scan_under_a_typed_header_is_ocrd_too(tmp_path: Path) -> None:
    path = files.scanned_pdf(tmp_path / "scan.pdf", header="Глава 3. Сессии — стр. 41")
    (section,) = extract(path).sections
    assert section.ocr and section.page == 1
    assert "ликвидности" in section.text and "London" in section.text


def test_progress_hears_every_pdf_page(tmp_path: Path) -> None:
    path = files.text_pdf(tmp_path / "book.pdf", pages=[f"Page {n} text about FVG entries."
                                                        for n in range(1, 6)])
    heard: list[tuple[float, str]] = []
    extract(path, progress=lambda fraction, message: heard.append((fraction, message)))
    assert [m for _, m in heard] == [f"book.pdf: page {n} of 5" for n in range(1, 6)] + [
        "book.pdf: read"]
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1


def test_text_is_normalised_ligatures_and_hyphenation(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    # "ﬁ" ligature, a decomposed "й" (и + combining breve), a word hyphenated across lines
    path.write_text("The ﬁrst sweep.\n\nАзиатски\u0438\u0306 диапазон.\n",
                    encoding="utf-8")
    text = extract(path).sections[0].text
    assert "The first sweep." in text and "Азиатский" in text
    pdf = files.text_pdf(tmp_path / "hyphen.pdf", pages=["Снятие ликвидности и обра-\nботка "
                                                           "зоны после импульса."])
    assert "обработка" in extract(pdf).sections[0].text


def test_blank_pdf_page_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(files.FONT))
    pdf.set_font("DejaVu", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, files.RU_EN_PASSAGE)
    pdf.add_page()  # nothing on it
    pdf.output(str(tmp_path / "blank-page.pdf"))
    doc = extract(tmp_path / "blank-page.pdf")
    assert [s.page for s in doc.sections] == [1]
    assert doc.warnings == ["page 2: no text (OCR found nothing)"]


def test_screenshot_png_reads_russian_and_english(tmp_path: Path) -> None:
    doc = extract(files.screenshot_png(tmp_path / "chart-notes.png"))
    assert doc.kind == "image"
    (section,) = doc.sections
    assert section.ocr and section.page is None
    assert "ордерблока" in section.text and "структуры" in section.text
    assert "order block" in section.text
    assert "\n" not in section.text  # lines of one paragraph are joined


def test_jpeg_and_webp_are_read_too(tmp_path: Path) -> None:
    image = files.text_image(["Liquidity sweep"])
    image.save(tmp_path / "a.JPG", format="JPEG", quality=95)
    image.save(tmp_path / "b.webp", format="WEBP", quality=95)
    for name in ("a.JPG", "b.webp"):
        assert "Liquidity sweep" in extract(tmp_path / name).sections[0].text


def test_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path: Path) -> None:
    from PIL import Image

    upright = files.text_image(["Liquidity sweep"])
    stored = upright.rotate(90, expand=True)  # the camera stored it on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to show"
    stored.save(tmp_path / "photo.jpg", format="JPEG", quality=95, exif=exif)
    assert "Liquidity sweep" in extract(tmp_path / "photo.jpg").sections[0].text


def test_markdown_headings_become_the_heading_path(tmp_path: Path) -> None:
    doc = extract(files.markdown(tmp_path / "notes.md"))
    assert doc.kind == "markdown"
    paths = [s.heading_path for s in doc.sections]
    assert paths == [("Глава 2. Ликвидность",),
                     ("Глава 2. Ликвидность", "FVG"),
                     ("Глава 2. Ликвидность", "FVG", "Вход"),
                     ("Chapter 3. Sessions",)]
    assert "# not a heading: inside a code fence" in doc.sections[1].text
    assert all(s.page is None and not s.ocr for s in doc.sections)


def test_markdown_text_before_the_first_heading_has_no_heading(tmp_path: Path) -> None:
    path = tmp_path / "intro.md"
    path.write_text("Intro without a heading.\n\n## Setup\n\nBody.\n", encoding="utf-8")
    doc = extract(path)
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ((), "Intro without a heading."), (("Setup",), "Body.")]


def test_docx_heading_styles_and_tables(tmp_path: Path) -> None:
    doc = extract(files.docx_file(tmp_path / "course.docx"))
    assert doc.kind == "docx"
    paths = [s.heading_path for s in doc.sections]
    assert paths == [("Глава 1. Структура рынка",),
                     ("Глава 1. Структура рынка", "CHoCH"),
                     ("Глава 2. Ликвидность",)]
    assert "Ордерблок | Order block" in doc.sections[1].text
    assert "Change of character" in doc.sections[1].text


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "utf-16"])
def test_text_files_in_the_encodings_russian_traders_use(tmp_path: Path, encoding: str) -> None:
    text = "Сессия Лондона снимает азиатский диапазон.\n\nThen FVG entry."
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(encoding))
    doc = extract(path)
    assert doc.kind == "text"
    assert doc.sections[0].text == text


# ------------------------------------------------------------------------ bad files

def test_encrypted_pdf_is_refused_with_the_fix(tmp_path: Path) -> None:
    message = _bad(files.encrypted_pdf(tmp_path / "theory.pdf"), "encrypted",
                   "remove the password")
    assert message == ("theory.pdf: the PDF is encrypted — remove the password and add it "
                       "again")


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = files.text_pdf(tmp_path / "plain.pdf", pages=[files.RU_EN_PASSAGE])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="", owner_password="owner")
    with open(tmp_path / "no-print.pdf", "wb") as handle:
        writer.write(handle)
    assert "Справедливый" in extract(tmp_path / "no-print.pdf").sections[0].text


def test_corrupt_pdf_is_refused(tmp_path: Path) -> None:
    _bad(files.corrupt_pdf(tmp_path / "broken.pdf"), "damaged")


def test_truncated_pdf_is_refused_or_read_never_a_crash(tmp_path: Path) -> None:
    whole = files.text_pdf(tmp_path / "whole.pdf", pages=[files.RU_EN_PASSAGE])
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    try:
        doc = extract(cut)
    except KnowledgeError as exc:
        assert str(exc).startswith("cut.pdf:")
    else:
        assert doc.kind == "pdf"


def test_zero_byte_file_is_refused(tmp_path: Path) -> None:
    for name in ("empty.pdf", "empty.md", "empty.png"):
        _bad(files.empty_file(tmp_path / name), "empty")


def test_image_with_no_text_is_a_clear_error(tmp_path: Path) -> None:
    _bad(files.blank_png(tmp_path / "background.png"), "no text found")


def test_damaged_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "shot.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    _bad(path, "damaged or not an image")


@pytest.mark.parametrize("name", ["notes.zip", "book.rar", "pack.7z", "all.tar", "all.tar.gz",
                                  "one.gz", "all.tgz"])
def test_archives_say_unpack_them(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 not really")
    assert _bad(path, "unpack it and add the files") == (
        f"{name}: is an archive — unpack it and add the files")


def test_real_tar_gz_is_refused_untouched(tmp_path: Path) -> None:
    inner = files.markdown(tmp_path / "inside.md")
    with tarfile.open(tmp_path / "course.tar.gz", "w:gz") as archive:
        archive.add(inner, arcname="inside.md")
    _bad(tmp_path / "course.tar.gz", "archive")


@pytest.mark.parametrize(("name", "hint"), [("setup.exe", "ITA reads PDF"),
                                            ("old.doc", "save it as DOCX"),
                                            ("README", "no extension")])
def test_unknown_types_are_refused_with_what_is_supported(tmp_path: Path, name: str,
                                                          hint: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"something")
    _bad(path, "unsupported file type", hint)


@pytest.mark.parametrize(("text", "encoding"), [
    ("Λογική της αγοράς και ρευστότητα", "iso-8859-7"),
    ("Снятие ликвидности азиатской сессии перед Лондоном", "koi8-r"),
    ("Größe der Marktstruktur, Liquidität, Überprüfung", "latin-1")])
def test_text_in_an_unknown_encoding_is_refused(tmp_path: Path, text: str,
                                                encoding: str) -> None:
    """Any 8-bit text decodes as Windows-1251; only text that reads as Russian is accepted,
    never gibberish indexed as if it were theory."""
    path = tmp_path / "notes.txt"
    path.write_bytes(text.encode(encoding))
    _bad(path, "neither UTF-8 nor Windows-1251", "save it as UTF-8")


def test_binary_data_named_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"abc\x00\x01\x02" * 50)
    _bad(path, "not a text file")


def test_damaged_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "course.docx"
    path.write_bytes(b"PK\x03\x04 this is not a word file")
    _bad(path, "DOCX")


def test_missing_file_is_a_knowledge_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no such file"):
        extract(tmp_path / "gone.pdf")


def test_knowledge_error_is_an_ita_error() -> None:
    assert issubclass(KnowledgeError, ItaError)


def test_kind_of_ignores_case() -> None:
    assert kind_of(Path("Книга.PDF")) == "pdf"
    assert kind_of(Path("x.Markdown")) == "markdown"


def test_probe_checks_content_cheaply_and_names_the_users_file(tmp_path: Path) -> None:
    upload = files.encrypted_pdf(tmp_path / "upload-1234.bin")
    with pytest.raises(KnowledgeError) as caught:
        probe(upload, name="Книга SMC.pdf")
    assert str(caught.value).startswith("Книга SMC.pdf: the PDF is encrypted")
    probe(files.text_pdf(tmp_path / "ok.pdf", pages=["fine"]))
    archive = tmp_path / "notes.md"
    archive.write_bytes(b"PK\x03\x04rest of a zip")
    with pytest.raises(KnowledgeError, match="archive"):
        probe(archive)
