"""Two analysts share a base through rclone and their own local indexes answer alike: what one
adds (a theory file through `shared.add_theory`, a finding in their folder) the other finds
after a sync; what the adder removes is gone from both indexes. Needs the knowledge index
(engine/kb/index.py, search.py, shared.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.kb.sync import sync_and_refresh
from engine.settings import Settings

index = pytest.importorskip("engine.kb.index")
shared = pytest.importorskip("engine.kb.shared")
search = pytest.importorskip("engine.kb.search").search

QUERIES = ["что такое разрыв справедливой стоимости", "optimal trade entry",
           "Asian range sweep result", "order block mitigation"]


@pytest.fixture()
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "rclone.conf"))
    subprocess.run([str(Path(sys.executable).parent / "rclone"), "config", "create", "loc",
                    "local"], check=True, capture_output=True)
    return f"loc:{tmp_path / 'drive' / 'ITA'}"


def answers(settings: Settings) -> list[list[tuple[str, str]]]:
    return [[(hit.source, hit.chunk_id) for hit in search(settings, query, k=3)]
            for query in QUERIES]


def test_both_indexes_answer_the_same_after_syncing(tmp_path, remote) -> None:
    anna = Settings(home=tmp_path / "anna", analyst="anna", kb_remote=remote)
    boris = Settings(home=tmp_path / "boris", analyst="boris", kb_remote=remote)
    # a small base: removing one book (file + manifest) is a third of it, yet no mass deletion
    book = tmp_path / "fvg-book.md"
    book.write_text("# Разрыв справедливой стоимости\nFair value gap (FVG): три свечи, "
                    "между тенями первой и третьей остаётся разрыв.\n\n# Order blocks\n"
                    "An order block is the last opposite candle before displacement; "
                    "mitigation is the return into it.\n", encoding="utf-8")
    notes = tmp_path / "ote.md"
    notes.write_text("# OTE\nOptimal trade entry: the 62-79% retracement of the impulse.\n",
                     encoding="utf-8")
    added = shared.add_theory(anna, book, analyst="anna")
    mine = shared.add_theory(boris, notes, analyst="boris")
    shared.write_analyst_file(boris, "boris", "findings/asia-sweep-v1.md",
                              "# Asian range sweep\nResult: 212 trades, +0.31 R.\n")
    for settings in (anna, boris, anna):
        report, _ = sync_and_refresh(settings)
        assert report.ok, report.message
    sync_and_refresh(boris)  # boris indexes what came down; anna did on her last sync
    sources = {doc["source"] for doc in _documents(anna)}
    assert {added.source, mine.source, "analysts/boris/findings/asia-sweep-v1.md"} <= sources
    assert answers(anna) == answers(boris)

    shared.remove_theory(boris, mine.source, analyst="boris")
    for settings in (boris, anna):
        assert sync_and_refresh(settings)[0].ok
    assert mine.source not in {doc["source"] for doc in _documents(anna)}
    assert answers(anna) == answers(boris)


def _documents(settings: Settings) -> list[dict]:
    return index.KnowledgeIndex(settings).documents()
