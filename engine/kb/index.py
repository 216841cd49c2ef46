"""The local vector index of the shared knowledge base: Chroma on `.ita/kb/chroma`, never synced.

Each analyst's ITA keeps its own index and brings it up to date from the files in `shared_kb/`
(`refresh`): a new or changed file is re-chunked and re-embedded (only its own chunks are
replaced), a deleted file's chunks are dropped, an unchanged file is skipped. A file that cannot
be read is reported with a one-line reason and leaves the index as it was; the others go on.

One Chroma collection, ``knowledge``, one record per chunk:

| field         | type | meaning                                                           |
| ------------- | ---- | ----------------------------------------------------------------- |
| id            | str  | ``<source>#<n:05d>``, stable for a file                           |
| document      | str  | the chunk's text                                                  |
| embedding     | 512f | `engine.kb.embed` (unit vector; cosine space)                     |
| source        | str  | the document key: POSIX path under ``shared_kb/``                 |
| page          | int  | 1-based PDF page; -1 when the document has no pages               |
| heading       | str  | heading path, ``"Глава 2 > FVG"``; empty when none                |
| language      | str  | ``ru``, ``en`` or ``mixed``                                        |
| analyst       | str  | who added the file                                                |
| file_sha256   | str  | the file's content hash                                           |
| ocr           | bool | the text came from OCR                                            |
| tags          | str  | the file's tags as ``",a,b,"`` (``""`` for none)                  |
| model         | str  | `MODEL_ID` of the embedding                                       |

`.ita/kb/state.json` lists what is indexed (source -> sha256, chunks, title, analyst, when) and
the model id; a model id other than `MODEL_ID` rebuilds the whole index. Every writer holds the
file lock `.ita/kb.lock`; Chroma itself is not safe for two writing processes.

Readers in other processes: Chroma's SQLite rows are visible to them at once, but a client's
in-memory vector index is not refreshed (measured: a query in a long-lived process kept missing
another process's new chunks). So a reader compares `version()` (the state file's identity,
replaced atomically after every write) and reopens the client when it changed.

>>> index = KnowledgeIndex(get_settings())  # doctest: +SKIP
>>> report = index.refresh(progress=lambda fraction, message: print(message))
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine._io import write_json_atomic
from engine.errors import KnowledgeError
from engine.kb.embed import BATCH, MODEL_ID, UsemEmbedding, embed_texts
from engine.kb.index_state import index_state_path, read_index_state

COLLECTION = "knowledge"
LOCK_TIMEOUT_SECONDS = 1800.0
"""How long a writer waits for another one (an ingest of a 300-page scanned book) to finish."""
_ADD_BATCH = 2000

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    return None


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh did. `failed` and `warnings` hold (source, one-line message) pairs."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    warnings: tuple[tuple[str, str], ...] = ()
    chunks: int = 0  # chunks embedded and written
    seconds: float = 0.0
    rebuilt: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Tally:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0

    def report(self, started: float, *, rebuilt: bool) -> RefreshReport:
        return RefreshReport(tuple(self.added), tuple(self.updated), tuple(self.removed),
                             self.unchanged, tuple(self.failed), tuple(self.warnings),
                             self.chunks, time.perf_counter() - started, rebuilt)


def tags_field(tags: Sequence[str]) -> str:
    """Tags as stored in a chunk's metadata: ``("fvg", "ict")`` -> ``",fvg,ict,"``."""
    return f",{','.join(tags)}," if tags else ""


def chunk_metadata(chunk: Any) -> dict[str, Any]:
    """The Chroma metadata of one `engine.kb.chunk.Chunk` (see the table above)."""
    return {"source": chunk.source, "page": -1 if chunk.page is None else int(chunk.page),
            "heading": chunk.heading, "language": chunk.language, "analyst": chunk.analyst,
            "file_sha256": chunk.file_sha256, "ocr": bool(chunk.ocr),
            "tags": tags_field(chunk.tags), "model": MODEL_ID}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KnowledgeIndex:
    """The index under ``settings.home/.ita/kb`` (see the module docstring)."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.folder = Path(settings.home) / ".ita" / "kb"
        self.state_path = index_state_path(settings.home)
        self.lock_path = Path(settings.home) / ".ita" / "kb.lock"

    # ---- reading ----------------------------------------------------------------------------

    def version(self) -> str:
        """Changes whenever any process changed the index (the state file is replaced)."""
        try:
            stat = os.stat(self.state_path)
        except FileNotFoundError:
            return "empty"
        return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def state(self) -> dict[str, Any]:
        state = read_index_state(self.state_path)
        state.setdefault("model", MODEL_ID)
        return state

    def documents(self) -> list[dict[str, Any]]:
        """Every document the index knows, sorted by source: indexed ones and failed ones."""
        state = self.state()
        rows = [{"source": source, "status": "indexed", **info}
                for source, info in state["documents"].items()]
        rows += [{"source": source, "status": "failed", **info}
                 for source, info in state["failed"].items()]
        return sorted(rows, key=lambda row: row["source"])

    def collection(self):
        """The Chroma collection, reopened when another process changed the index."""
        return _shared_collection(self.folder / "chroma", self.version())

    def close(self) -> None:
        """Close this process's client of the index (the next use opens it again)."""
        _close_shared(self.folder / "chroma")

    def count(self) -> int:
        return self.collection().count()

    def records(self, sources: Sequence[str] | None = None, *, page_size: int = 5000
                ) -> Iterator[dict[str, Any]]:
        """Every chunk (of `sources` only, if given) as Chroma `get` pages: ``{"ids",
        "documents", "metadatas", "embeddings"}``."""
        collection = self.collection()
        include = ["documents", "metadatas", "embeddings"]
        if sources is not None:
            names = sorted(sources)
            for start in range(0, len(names), 100):
                yield collection.get(where={"source": {"$in": names[start:start + 100]}},
                                     include=include)
            return
        total = collection.count()
        for offset in range(0, total, page_size):
            yield collection.get(limit=page_size, offset=offset, include=include)

    def signature(self) -> dict[str, str]:
        """Per indexed document, a text that changes whenever its chunks were rewritten."""
        return {source: f"{info.get('sha256')}|{info.get('indexed_at')}|{info.get('chunks')}"
                for source, info in self.state()["documents"].items()}

    # ---- writing ----------------------------------------------------------------------------

    def _lock(self):
        from filelock import FileLock

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(self.lock_path, timeout=LOCK_TIMEOUT_SECONDS)

    def _save(self, state: dict[str, Any]) -> None:
        state["model"] = MODEL_ID
        state["generation"] = int(state.get("generation", 0)) + 1
        write_json_atomic(self.state_path, state)
        _written(self.folder / "chroma", self.version())  # our own write: no reopen needed

    def index_chunks(self, source: str, chunks: Sequence[Any], *, sha256: str,
                     info: dict[str, Any] | None = None, progress: Progress | None = None
                     ) -> int:
        """Replace `source`'s chunks by `chunks` (embedded here); returns how many were written.

        The embedding happens before anything is deleted, so a failure leaves the old chunks.
        """
        with self._lock():
            return self._replace(self.state(), source, list(chunks), sha256=sha256,
                                 info=info or {}, progress=progress or _no_progress)

    def drop(self, source: str) -> None:
        """Remove `source`'s chunks (a file deleted from the shared folder)."""
        with self._lock():
            state = self.state()
            self.collection().delete(where={"source": source})
            state["documents"].pop(source, None)
            state["failed"].pop(source, None)
            self._save(state)

    def _replace(self, state: dict[str, Any], source: str, chunks: list[Any], *, sha256: str,
                 info: dict[str, Any], progress: Progress) -> int:
        texts = [chunk.text for chunk in chunks]
        parts = []
        for start in range(0, len(texts), BATCH):
            parts.append(embed_texts(texts[start:start + BATCH]))
            progress(min(1.0, (start + BATCH) / max(1, len(texts))),
                     f"{source}: embedded {min(len(texts), start + BATCH)}/{len(texts)} chunks")
        vectors = np.concatenate(parts) if parts else np.zeros((0, 512), np.float32)
        collection = self.collection()
        # forget the document first: a crash between delete and add re-indexes it next time
        if state["documents"].pop(source, None) is not None:
            self._save(state)
        collection.delete(where={"source": source})
        for start in range(0, len(chunks), _ADD_BATCH):
            part = chunks[start:start + _ADD_BATCH]
            end = start + len(part)
            collection.add(ids=[chunk.id for chunk in part], documents=texts[start:end],
                           embeddings=vectors[start:end],
                           metadatas=[chunk_metadata(chunk) for chunk in part])
        state["failed"].pop(source, None)
        state["documents"][source] = {**info, "sha256": sha256, "chunks": len(chunks),
                                      "model": MODEL_ID, "indexed_at": _now()}
        self._save(state)
        return len(chunks)

    # ---- refresh from the shared folder -----------------------------------------------------

    def refresh(self, progress: Progress | None = None) -> RefreshReport:
        """Bring the index up to date with `shared.list_documents` (see the module docstring)."""
        started = time.perf_counter()
        progress = progress or _no_progress
        with self._lock():
            state = self.state()
            rebuilt = state["model"] != MODEL_ID
            if rebuilt:
                state = self._reset()
            tally = self._refresh_locked(state, progress)
        return tally.report(started, rebuilt=rebuilt)

    def rebuild(self, progress: Progress | None = None) -> RefreshReport:
        """Drop the whole index and index every file again (after a model change, or on demand)."""
        started = time.perf_counter()
        progress = progress or _no_progress
        with self._lock():
            tally = self._refresh_locked(self._reset(), progress)
        return tally.report(started, rebuilt=True)

    def _reset(self) -> dict[str, Any]:
        self.close()
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path = self.folder / "chroma"
        if path.exists():
            client = chromadb.PersistentClient(
                path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
            if COLLECTION in [c.name for c in client.list_collections()]:
                client.delete_collection(COLLECTION)
            client.close()
        state = {"model": MODEL_ID, "documents": {}, "failed": {},
                 "generation": self.state().get("generation", 0)}
        self._save(state)
        return state

    def _refresh_locked(self, state: dict[str, Any], progress: Progress) -> _Tally:
        from engine.kb.shared import list_documents

        tally = _Tally()
        documents = list_documents(self.settings)
        present = {doc.source for doc in documents}
        for source in sorted(set(state["documents"]) - present):
            self.collection().delete(where={"source": source})
            state["documents"].pop(source)
            tally.removed.append(source)
            self._save(state)
        for source in sorted(set(state["failed"]) - present):
            state["failed"].pop(source)
            self._save(state)
        todo = [doc for doc in documents if not self._is_current(state, doc)]
        tally.unchanged = len(documents) - len(todo)
        weights = np.cumsum([0] + [max(doc.size, 1) for doc in todo], dtype=float)
        total = weights[-1] or 1.0
        for i, doc in enumerate(todo):
            def part(fraction: float, message: str, i=i) -> None:
                progress((weights[i] + fraction * (weights[i + 1] - weights[i])) / total, message)

            self._refresh_one(state, doc, part, tally)
        progress(1.0, f"{len(documents)} documents, {tally.chunks} chunks embedded")
        return tally

    @staticmethod
    def _is_current(state: dict[str, Any], doc) -> bool:
        known = state["documents"].get(doc.source) or state["failed"].get(doc.source)
        return known is not None and known.get("sha256") == doc.sha256

    def _refresh_one(self, state: dict[str, Any], doc, progress: Progress, tally: _Tally) -> None:
        from engine.kb.chunk import chunk_document
        from engine.kb.extract import extract

        was_indexed = doc.source in state["documents"]
        progress(0.0, f"{doc.source}: reading")
        try:
            document = extract(doc.path)
            chunks = chunk_document(document, source=doc.source, analyst=doc.analyst,
                                    file_sha256=doc.sha256, tags=tuple(doc.tags))
            if not chunks:
                raise KnowledgeError(f"{doc.path.name}: no text to index")
        except KnowledgeError as error:
            state["failed"][doc.source] = {"sha256": doc.sha256, "error": str(error),
                                           "analyst": doc.analyst, "title": doc.title,
                                           "failed_at": _now()}
            self._save(state)
            tally.failed.append((doc.source, str(error)))
            return
        info = {"title": doc.title, "analyst": doc.analyst, "kind": doc.kind,
                "tags": list(doc.tags), "added_at": doc.added_at, "size": doc.size,
                "warnings": list(document.warnings)}
        tally.chunks += self._replace(state, doc.source, chunks, sha256=doc.sha256, info=info,
                                      progress=progress)
        tally.warnings.extend((doc.source, warning) for warning in document.warnings)
        (tally.updated if was_indexed else tally.added).append(doc.source)


# One client per index folder and process. Chroma shares one in-memory system between all the
# clients of a path in a process and only drops it when the last one closes, so a reopen that
# sees another process's writes must close the one shared client (a second, stale client of the
# same path answered "Error finding id" after the other process's write).
_clients: dict[Path, tuple[str, Any, Any]] = {}
_clients_lock = threading.RLock()


def _shared_collection(path: Path, version: str):
    with _clients_lock:
        opened = _clients.get(path)
        if opened is not None and opened[0] == version:
            return opened[2]
        _close_shared(path)
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        try:
            collection = client.get_or_create_collection(
                COLLECTION, embedding_function=UsemEmbedding(),
                configuration={"hnsw": {"space": "cosine"}})
        except ValueError as error:  # Chroma: "Embedding function conflict: new: ... persisted"
            client.close()
            raise KnowledgeError(f"{path}: the index was built with another embedding model "
                                 f"({error}); run `ita kb rebuild`") from None
        _clients[path] = (version, client, collection)
        return collection


def _close_shared(path: Path) -> None:
    with _clients_lock:
        opened = _clients.pop(path, None)
        if opened is not None:
            opened[1].close()


def _written(path: Path, version: str) -> None:
    with _clients_lock:
        opened = _clients.get(path)
        if opened is not None:
            _clients[path] = (version, *opened[1:])


def shared_client(path: Path):
    """This process's open Chroma client of the index at `path` (None when not open)."""
    opened = _clients.get(path)
    return None if opened is None else opened[1]
