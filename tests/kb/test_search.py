"""Search: what a hit carries, the filters, the term rules, bad requests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import KnowledgeError
from engine.kb.index import KnowledgeIndex
from engine.kb.search import Hit, _snapshot, query_terms, search, tokens
from engine.settings import Settings
from tests.kb.questions import passage_chunks


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("search"))
    index = KnowledgeIndex(settings)
    chunks = passage_chunks()
    for key, (chunk,) in chunks.items():
        if key in ("fvg", "fvg_entry"):
            chunk = replace(chunk, analyst="boris", tags=("smc", "fvg"), page=12)
        index.index_chunks(chunk.source, [chunk], sha256=key)
    return settings


def test_a_hit_carries_passage_source_page_and_score(settings):
    hits = search(settings, "fair value gap three candles", k=3)
    assert len(hits) == 3
    first = hits[0]
    assert isinstance(first, Hit)
    assert first.chunk_id == "questions/fvg.md#00000"
    assert first.source == "questions/fvg.md"
    assert first.page == 12 and first.analyst == "boris" and first.tags == ("smc", "fvg")
    assert first.language == "en" and "three-candle pattern" in first.text
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    no_page = search(settings, "дневной лимит убытка", k=1)[0]
    assert no_page.source == "questions/daily_limit.md"
    assert no_page.page is None and no_page.tags == ()


@pytest.mark.parametrize(("filters", "expected"), [
    ({"analyst": "boris"}, {"questions/fvg.md", "questions/fvg_entry.md"}),
    ({"tag": "fvg"}, {"questions/fvg.md", "questions/fvg_entry.md"}),
    ({"tag": "fv"}, set()),  # a tag matches whole, never a part
    ({"source": "questions/risk.md"}, {"questions/risk.md"}),
    ({"analyst": "boris", "language": "ru"}, {"questions/fvg_entry.md"}),
])
def test_filters_keep_only_matching_passages(settings, filters, expected):
    hits = search(settings, "имбаланс и разрыв", k=10, **filters)
    assert {hit.source for hit in hits} == expected


def test_language_filter(settings):
    hits = search(settings, "order block", k=30, language="ru")
    assert hits and {hit.language for hit in hits} == {"ru"}


def test_k_limits_the_hits(settings):
    assert len(search(settings, "liquidity", k=1)) == 1
    assert len(search(settings, "liquidity", k=100)) == len(passage_chunks())


def test_terms_are_abbreviations_and_numbers_with_cyrillic_lookalikes_read_as_latin():
    assert query_terms("Зона ОТЕ между 0.62 и 0.79, а не fvg") == ["0.62", "0.79", "ote"]
    assert query_terms("CHoCH или BOS?") == ["bos", "choch"]
    assert query_terms("что такое ордер блок") == []
    assert tokens("ОТЕ зона") == ["ote", "зона"]  # only the term is transliterated


def test_an_abbreviation_in_cyrillic_letters_is_the_same_term_as_in_latin(settings):
    """"Зона ОТЕ" (Cyrillic О, Т, Е) in one passage and "OTE" in another are one term."""
    snapshot = _snapshot(settings)
    positions, _ = snapshot.terms.postings("ote")
    assert {snapshot.columns["source"][p] for p in positions} == {"questions/ote.md",
                                                                  "questions/ote_ru.md"}
    assert {hit.source for hit in search(settings, "ОТЕ", k=2)} == {"questions/ote.md",
                                                                   "questions/ote_ru.md"}


@pytest.mark.parametrize(("query", "k", "message"), [
    ("   ", 5, "empty"), ("fvg", 0, "k=0"), ("fvg", 101, "k=101")])
def test_bad_requests_are_one_line_errors(settings, query, k, message):
    with pytest.raises(KnowledgeError, match=message):
        search(settings, query, k=k)


def test_an_empty_index_finds_nothing(ita_home: Path):
    assert search(Settings(home=ita_home), "fvg") == []


def test_a_change_reloads_only_the_documents_it_touched(ita_home, monkeypatch):
    settings = Settings(home=ita_home)
    index = KnowledgeIndex(settings)
    chunks = passage_chunks()
    for key in ("fvg", "risk", "bos"):
        index.index_chunks(f"questions/{key}.md", chunks[key], sha256=key)
    assert search(settings, "fair value gap", k=1)[0].source == "questions/fvg.md"

    asked: list[object] = []
    records = KnowledgeIndex.records

    def spy(self, sources=None, **kwargs):
        asked.append(None if sources is None else sorted(sources))
        return records(self, sources, **kwargs)

    monkeypatch.setattr(KnowledgeIndex, "records", spy)
    index.index_chunks("questions/ote.md", chunks["ote"], sha256="ote")
    index.drop("questions/fvg.md")
    hits = search(settings, "fibonacci retracement 62% 79%", k=10)
    assert asked == [["questions/ote.md"]]
    assert hits[0].source == "questions/ote.md"
    assert {hit.source for hit in hits} == {"questions/ote.md", "questions/risk.md",
                                            "questions/bos.md"}
