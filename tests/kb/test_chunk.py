"""chunk_document: passages of at most 1,200 characters with ~150 of overlap, cut at paragraph,
sentence or word boundaries, never across a page or heading, with stable ids and metadata."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from engine.kb.chunk import MAX_CHARS, OVERLAP_CHARS, Chunk, chunk_document, language_of, split_text
from engine.kb.extract import Document, Section, extract
from tests.kb import files

WORDS = ["ликвидность", "сессия", "Лондон", "азиатский", "диапазон", "снятие", "свип", "FVG",
         "order", "block", "structure", "вход", "стоп", "цель", "имбаланс", "premium",
         "discount", "равновесие", "тренд", "откат"]


def _prose(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def _doc(*sections: Section) -> Document:
    return Document(path=Path("x.md"), kind="markdown", sections=list(sections), warnings=[])


def test_language_of_by_letter_share() -> None:
    assert language_of("Снятие ликвидности азиатской сессии") == "ru"
    assert language_of("The London session sweeps the Asian range") == "en"
    # Russian with English jargon is still Russian
    assert language_of("Когда цена снимает ликвидность над equal highs, ждём CHoCH и вход "
                       "от FVG") == "ru"
    assert language_of("Fair value gap (справедливый разрыв стоимости) forms fast") == "mixed"
    assert language_of("12 345 — 2,5") == "mixed"  # no letters at all


def test_long_text_becomes_bounded_chunks_cut_between_words() -> None:
    rng = random.Random(7)
    text = "\n\n".join(_prose(rng, rng.randint(1, 12)) for _ in range(40))
    passages = split_text(text)
    assert len(passages) > 5
    vocabulary = {w.lower().strip(".") for w in WORDS}
    for passage in passages:
        assert len(passage) <= MAX_CHARS
        assert {w.lower().strip(".") for w in passage.split()} <= vocabulary  # no cut words
    assert all(len(p) >= 700 for p in passages[:-1])  # packed, not one chunk per paragraph


def test_chunks_overlap_by_about_150_characters() -> None:
    rng = random.Random(11)
    text = _prose(rng, 80)  # one long paragraph
    passages = split_text(text)
    for before, after in zip(passages, passages[1:], strict=False):
        shared = next(n for n in range(min(len(before), len(after)), 0, -1)
                      if before.endswith(after[:n]))
        assert OVERLAP_CHARS - 40 <= shared <= OVERLAP_CHARS, shared
        assert after[0] != " " and (before[-shared - 1] == " ")  # starts at a word start


def test_every_sentence_survives_chunking() -> None:
    rng = random.Random(3)
    paragraphs = [_prose(rng, rng.randint(1, 20)) for _ in range(25)]
    joined = " ".join(split_text("\n\n".join(paragraphs)))
    for sentence in re.split(r"(?<=\.) ", " ".join(paragraphs)):
        assert sentence in joined


def test_a_word_longer_than_a_chunk_is_the_only_thing_cut() -> None:
    url = "https://example.com/" + "a" * 3000
    passages = split_text(f"See {url} for more.")
    assert all(len(p) <= MAX_CHARS for p in passages)
    assert "".join(p.replace("See ", "").replace(" for more.", "") for p in passages
                   ).count("a") >= 3000


def test_pieces_without_letters_are_dropped() -> None:
    doc = _doc(Section("12", 3, (), False), Section("——— * ———", 4, (), False),
               Section("Real text on page five.", 5, (), False))
    chunks = chunk_document(doc, source="theory/a.pdf", analyst="anna", file_sha256="f" * 64)
    assert [(c.page, c.text) for c in chunks] == [(5, "Real text on page five.")]
    assert chunks[0].id == "theory/a.pdf#00000"


def test_chunks_never_cross_pages_or_headings_and_carry_metadata() -> None:
    rng = random.Random(5)
    doc = _doc(Section(_prose(rng, 30), 1, ("Глава 2", "FVG"), False),
               Section(_prose(rng, 3), 2, ("Глава 2", "FVG"), True),
               Section("Короткий абзац.", None, (), False))
    chunks = chunk_document(doc, source="analysts/anna/notes/a.md", analyst="anna",
                            file_sha256="a" * 64, tags=("ict", "london"))
    assert all(isinstance(c, Chunk) for c in chunks)
    assert [c.id for c in chunks] == [f"analysts/anna/notes/a.md#{n:05d}"
                                      for n in range(len(chunks))]
    first_page = [c for c in chunks if c.page == 1]
    assert len(first_page) >= 2 and all(c.heading == "Глава 2 > FVG" for c in first_page)
    assert [c.ocr for c in chunks if c.page == 2] == [True]
    assert chunks[-1].heading == "" and chunks[-1].page is None
    for c in chunks:
        assert (c.analyst, c.file_sha256, c.tags) == ("anna", "a" * 64, ("ict", "london"))
        assert c.language == language_of(c.text)
    page_two = next(c for c in chunks if c.page == 2)
    assert page_two.text in doc.sections[1].text  # no overlap carried over a page break


def test_same_file_gives_the_same_chunks(tmp_path: Path) -> None:
    path = files.markdown(tmp_path / "notes.md")
    first = chunk_document(extract(path), source="theory/notes--00000000.md", analyst="anna",
                           file_sha256="b" * 64)
    again = chunk_document(extract(path), source="theory/notes--00000000.md", analyst="anna",
                           file_sha256="b" * 64)
    assert first == again and len(first) == 4
    assert first[2].heading == "Глава 2. Ликвидность > FVG > Вход"
    assert first[3].language == "en" and first[0].language == "ru"


@pytest.mark.parametrize("size", [1, 149, 150, 151, 1199, 1200, 1201, 5000])
def test_any_length_of_one_paragraph_is_handled(size: int) -> None:
    text = ("абв " * size)[:size].strip() or "а"
    passages = split_text(text)
    assert passages and all(0 < len(p) <= MAX_CHARS for p in passages)
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in passages)
