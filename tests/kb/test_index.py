"""The local index: chunks replaced per document, dropped, versioned; another process's writes
seen by a long-lived reader; nothing leaves the machine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

from engine.kb.embed import MODEL_ID, UsemEmbedding
from engine.kb.index import KnowledgeIndex, shared_client
from engine.kb.search import search
from engine.settings import Settings
from tests.kb.questions import passage_chunks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def settings(ita_home: Path) -> Settings:
    return Settings(home=ita_home)


def _index_passages(index: KnowledgeIndex, keys) -> None:
    chunks = passage_chunks()
    for key in keys:
        index.index_chunks(f"questions/{key}.md", chunks[key], sha256=key)


def test_chunks_are_replaced_per_document_and_state_records_them(settings):
    index = KnowledgeIndex(settings)
    _index_passages(index, ["fvg", "risk"])
    assert index.count() == 2
    (chunk,) = passage_chunks()["fvg"]
    two = [chunk, type(chunk)(**{**chunk.__dict__, "id": "questions/fvg.md#00001",
                                "text": "Second part about gaps."})]
    index.index_chunks("questions/fvg.md", two, sha256="fvg-v2")
    assert index.count() == 3
    state = json.loads(index.state_path.read_text())
    assert state["model"] == MODEL_ID
    assert state["documents"]["questions/fvg.md"]["chunks"] == 2
    assert state["documents"]["questions/fvg.md"]["sha256"] == "fvg-v2"
    index.index_chunks("questions/fvg.md", [chunk], sha256="fvg")
    assert index.count() == 2

    index.drop("questions/fvg.md")
    assert index.count() == 1
    assert [row["source"] for row in index.documents()] == ["questions/risk.md"]


def test_chunk_metadata_is_stored_as_the_contract_says(settings):
    index = KnowledgeIndex(settings)
    (chunk,) = passage_chunks()["bos"]
    chunk = type(chunk)(**{**chunk.__dict__, "page": 7, "heading": "Глава 2 > BOS",
                           "tags": ("smc", "structure"), "ocr": True})
    index.index_chunks(chunk.source, [chunk], sha256="bos")
    stored = index.collection().get(ids=[chunk.id], include=["metadatas", "documents"])
    assert stored["documents"] == [chunk.text]
    assert stored["metadatas"][0] == {
        "source": "questions/bos.md", "page": 7, "heading": "Глава 2 > BOS", "language": "ru",
        "analyst": "anna", "file_sha256": "bos", "ocr": True, "tags": ",smc,structure,",
        "model": MODEL_ID}


def test_every_write_changes_the_version(settings):
    index = KnowledgeIndex(settings)
    assert index.version() == "empty"
    _index_passages(index, ["fvg"])
    first = index.version()
    _index_passages(index, ["risk"])
    second = index.version()
    index.drop("questions/risk.md")
    assert len({first, second, index.version()}) == 3


class _OtherModel(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002
        return [np.zeros(512, np.float32) for _ in input]

    @staticmethod
    def name() -> str:
        return "another-model"

    def get_config(self) -> dict:
        return {}

    @staticmethod
    def build_from_config(config: dict) -> _OtherModel:
        return _OtherModel()


def test_a_collection_of_another_model_is_refused(settings):
    """Registered with Chroma: reopening the collection with a different embedding fails."""
    index = KnowledgeIndex(settings)
    _index_passages(index, ["fvg"])
    client = shared_client(index.folder / "chroma")
    assert client.get_collection("knowledge").configuration_json["embedding_function"][
        "name"] == MODEL_ID
    with pytest.raises(ValueError, match="(?i)embedding function"):
        client.get_collection("knowledge", embedding_function=_OtherModel())
    assert UsemEmbedding().default_space() == "cosine"


_WRITER = textwrap.dedent("""
    import sys
    from engine.kb.index import KnowledgeIndex, shared_client
    from engine.settings import Settings
    from tests.kb.questions import passage_chunks
    index = KnowledgeIndex(Settings(home=sys.argv[1]))
    for key in sys.argv[2:]:
        index.index_chunks(f"questions/{key}.md", passage_chunks()[key], sha256=key)
""")


def _write_in_another_process(home: Path, *keys: str) -> None:
    subprocess.run([sys.executable, "-c", _WRITER, str(home), *keys], cwd=ROOT, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_a_long_lived_reader_sees_another_process_writes(settings):
    """The app keeps its client open; the daemon ingests. Chroma's in-memory vector index of
    the reader does not see the other process's chunks (measured), so the reader reopens on a
    new index version: without that, the query below misses the new passage."""
    index = KnowledgeIndex(settings)
    _index_passages(index, ["risk"])
    reader = index.collection()
    assert search(settings, "fair value gap three candles", k=1)[0].source == "questions/risk.md"

    _write_in_another_process(settings.home, "fvg")

    assert search(settings, "fair value gap three candles", k=1)[0].source == "questions/fvg.md"
    vector = UsemEmbedding()(["fair value gap three candles"])[0]
    found = index.collection().query(query_embeddings=[vector], n_results=2)["ids"][0]
    assert "questions/fvg.md#00000" in found
    assert index.collection() is not reader  # reopened


def test_nothing_connects_beyond_this_machine(settings, monkeypatch):
    """Index and search with every non-loopback connection and name lookup refused and
    recorded. A control proves the guard works: Chroma's default embedding tries to download
    its model and is caught."""
    attempts: list[object] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def local(host) -> bool:
        return host in ("127.0.0.1", "::1", "localhost") or str(host).startswith("/")

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if not local(host):
            attempts.append(address)
            raise OSError("network disabled in this test")
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not local(host):
            attempts.append(host)
            raise socket.gaierror("network disabled in this test")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)

    index = KnowledgeIndex(settings)
    _index_passages(index, ["fvg", "bos", "risk"])
    assert search(settings, "слом структуры", k=1)[0].source == "questions/bos.md"
    index.collection().query(query_texts=["order block"], n_results=1)
    assert shared_client(index.folder / "chroma").get_settings().anonymized_telemetry is False
    assert attempts == []

    from chromadb.utils.embedding_functions import DefaultEmbeddingFunction

    with pytest.raises(Exception):  # noqa: B017 (whatever the download failure becomes)
        DefaultEmbeddingFunction()(["a text"])
    assert attempts, "the guard did not see Chroma's model download"
