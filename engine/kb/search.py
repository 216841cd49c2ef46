"""Search the knowledge base: the dense multilingual model first, exact terms as a small bonus.

How a query is scored (chosen with the retrieval test, tests/kb/test_retrieval.py):

- **dense**: the cosine similarity between the query's and each chunk's embedding
  (`engine.kb.embed`; Russian and English share one space, so a Russian question finds an
  English passage). Computed exactly over every chunk of the snapshot (below), no approximate
  neighbour search.
- **exact terms**: BM25 over the query's *term-like* tokens only — abbreviations written with two
  or more capitals (FVG, CHoCH, BOS, OTE, NFP) and numbers (0.62, 70.5) — and the trading
  glossary's terms it mentions in any form (`engine.kb.terms`: "fair value gap", "имбаланс",
  "ФВГ" and "FVG" are one term, matched in every form on the passage side too, Russian by
  stem), normalised to 0..1 by the best chunk and added with weight `TERM_WEIGHT`. Cyrillic
  letters that look Latin are read as Latin in such tokens, so "ОТЕ" typed in Russian matches
  "OTE"; "ё" is read as "е". Ordinary words never vote: on cross-lingual questions they only
  match passages of the question's own language, which is how equal-weight rank fusion with
  full BM25 dropped first-hit accuracy from 27/36 to 15/36. The glossary lifted first hits on
  the retrieval set from 32/46 to 38/46 (top three: 39/46 to 45/46), no question group worse;
  "what is a fair value gap?" now finds "Имбаланс, или FVG, — это разрыв…" (dense 0.10 alone).

Filters (source, analyst, tag, language) are exact matches applied before ranking.

The snapshot — every chunk's text, metadata and vector — is loaded from Chroma on a process's
first search (4 s for 20,000 chunks on a busy 2-core machine) and kept in memory; when the index
version changes (`KnowledgeIndex.version()`, another process's ingest included) only the
documents whose chunks were rewritten are read again (0.3 s after one more document). Exact
terms are looked up when a query first uses them and kept with the snapshot. Search p95 over
20,000 chunks: 12 ms (bench/kb.py).

>>> hits = search(get_settings(), "вход от FVG", k=3)  # doctest: +SKIP
>>> hits[0].source, hits[0].page  # doctest: +SKIP
('theory/smc-book--1a2b3c4d.pdf', 42)
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import KnowledgeError
from engine.kb.embed import embed_query
from engine.kb.index import KnowledgeIndex
from engine.kb.terms import Term, find_terms, fold, mentions

TERM_WEIGHT = 0.15
"""Weight of the exact-term bonus (0..1 after normalisation) added to the cosine similarity."""
BM25_K1 = 1.2
BM25_B = 0.75
MAX_K = 100
LANGUAGES = ("ru", "en", "mixed")

_TOKEN = re.compile(r"\w+(?:[.,]\d+)*")
_LOOKALIKES = str.maketrans("АВЕКМНОРСТУХаеорсух", "ABEKMHOPCTYXaeopcyx")
_LATIN_WITH_LOOKALIKE = frozenset("abekmhopctyx")
_CYRILLIC_LOOKALIKES = str.maketrans("abekmhopctyx", "авекмнорстух")
"""Lower-case Latin letters whose capitals look like Cyrillic ones (a term typed in capitals
with a Russian keyboard, "ОТЕ", lower-cases to these)."""


@dataclass(frozen=True)
class Hit:
    """One passage found: higher `score` is better; `page` is None for documents without pages."""

    chunk_id: str
    text: str
    source: str
    page: int | None
    heading: str
    language: str
    analyst: str
    tags: tuple[str, ...]
    score: float


def _is_term(token: str) -> bool:
    capitals = sum(1 for ch in token if ch.isupper())
    return capitals >= 2 or any(ch.isdigit() for ch in token)


def _normal(token: str) -> str:
    if _is_term(token):
        token = token.translate(_LOOKALIKES)
    return fold(token)


def tokens(text: str) -> list[str]:
    """Every word of `text`, lower case; term-like ones with Cyrillic look-alikes made Latin."""
    return [_normal(token) for token in _TOKEN.findall(text)]


def query_terms(text: str) -> list[str]:
    """The term-like tokens of a query (abbreviations, numbers), normalised like `tokens`."""
    return sorted({_normal(token) for token in _TOKEN.findall(text) if _is_term(token)})


class _Terms:
    """BM25 over exact terms, found when first asked for: each term is a literal search over
    all the chunks' lower-cased text joined into one string (C speed: 15-45 ms over 20,000
    chunks), kept per snapshot. A term matches as a whole word, in Latin letters or in their
    Cyrillic look-alikes ("ote" also finds "ОТЕ")."""

    def __init__(self, texts: list[str]) -> None:
        self.size = len(texts)
        self.joined = fold("\n".join(texts))
        self.starts = np.cumsum([0] + [len(text) + 1 for text in texts[:-1]], dtype=np.int64)
        lengths = np.array([len(text.split()) for text in texts], dtype=np.float32)
        mean = float(lengths.mean()) if self.size else 1.0
        self.norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / max(1.0, mean))
        self._postings: dict[str | Term, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def postings(self, word: str | Term) -> tuple[np.ndarray, np.ndarray]:
        """(chunk positions, counts) of `word` (already normalised by `tokens`), or of a
        glossary term (any of its forms)."""
        with self._lock:
            found = self._postings.get(word)
            if found is None:
                found = self._postings[word] = self._find(word)
                if len(self._postings) > 10_000:
                    self._postings.pop(next(iter(self._postings)))
            return found

    def _find(self, word: str | Term) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(word, Term):
            hits = [start for start, _ in mentions(word, self.joined)]
        else:
            hits = _word_starts(word, self.joined)
        if not hits:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        chunks = np.searchsorted(self.starts, np.array(hits, np.int64), side="right") - 1
        positions, counts = np.unique(chunks, return_counts=True)
        return positions, counts.astype(np.float32)

    def scores(self, words: list[str | Term]) -> np.ndarray:
        total = np.zeros(self.size, dtype=np.float32)
        for word in words:
            positions, counts = self.postings(word)
            if not len(positions):
                continue
            idf = np.log(1 + (self.size - len(positions) + 0.5) / (len(positions) + 0.5))
            total[positions] += idf * counts * (BM25_K1 + 1) / (counts + self.norm[positions])
        return total


def _word_starts(word: str, joined: str) -> list[int]:
    """Where `word` starts as a whole word; in Latin letters or, if every letter has one, in
    their Cyrillic look-alikes (the whole word could be typed in Cyrillic capitals). A literal
    search, then the boundaries: a pattern opening with a look-behind is ten times slower."""
    variants = {word}
    if all(ch in _LATIN_WITH_LOOKALIKE for ch in word):
        variants.add(word.translate(_CYRILLIC_LOOKALIKES))
    starts = []
    for variant in variants:
        for match in re.finditer(re.escape(variant), joined):
            start, end = match.start(), match.end()
            if not (_word_char(joined[start - 1:start]) or _word_char(joined[end:end + 1])):
                starts.append(start)
    return starts


def _word_char(text: str) -> bool:
    return bool(text) and (text.isalnum() or text == "_")


def exact_terms(query: str, *, glossary: bool = True) -> list[str | Term]:
    """What the exact-term bonus looks for: the glossary terms the query mentions (each with
    all its forms; `engine.kb.terms`) and the query's other term-like tokens (`query_terms`).

    >>> [getattr(t, "key", t) for t in exact_terms("fair value gap или BOS на 0.62?")]
    ['FVG', 'BOS', '0.62']
    """
    found: list[str | Term] = list(find_terms(query)) if glossary else []
    return found + [word for word in query_terms(query)
                    if not any(term.pattern.fullmatch(word) for term in found)]


@dataclass
class _Block:
    """One document's chunks."""

    ids: list[str]
    texts: list[str]
    metas: list[dict]
    vectors: np.ndarray


def _blocks(index: KnowledgeIndex, sources=None) -> dict[str, _Block]:
    blocks: dict[str, _Block] = {}
    for page in index.records(sources):
        vectors = np.asarray(page["embeddings"], dtype=np.float32).reshape(-1, 512)
        for row, (chunk_id, text, meta) in enumerate(zip(page["ids"], page["documents"],
                                                         page["metadatas"], strict=True)):
            block = blocks.setdefault(meta["source"], _Block([], [], [], []))
            block.ids.append(chunk_id)
            block.texts.append(text)
            block.metas.append(meta)
            block.vectors.append(vectors[row])
    for block in blocks.values():
        block.vectors = np.asarray(block.vectors, dtype=np.float32).reshape(-1, 512)
    return blocks


class _Snapshot:
    """Every chunk of one index version, in memory, kept per document so that a change reloads
    only the documents it touched (`updated`)."""

    def __init__(self, blocks: dict[str, _Block], signature: dict[str, str]) -> None:
        self.blocks, self.signature = blocks, signature
        ordered = [blocks[source] for source in sorted(blocks)]
        self.ids = [chunk_id for block in ordered for chunk_id in block.ids]
        self.texts = [text for block in ordered for text in block.texts]
        metas = [meta for block in ordered for meta in block.metas]
        self.vectors = (np.concatenate([block.vectors for block in ordered]) if ordered
                        else np.zeros((0, 512), np.float32))
        self.columns = {name: np.array([meta.get(name, "") for meta in metas], dtype=object)
                        for name in ("source", "heading", "language", "analyst", "tags")}
        self.pages = np.array([int(meta.get("page", -1)) for meta in metas], dtype=np.int64)
        self.terms = _Terms(self.texts)
        self._masks: dict[tuple[str, str], np.ndarray] = {}

    @classmethod
    def load(cls, index: KnowledgeIndex) -> _Snapshot:
        signature = index.signature()  # before reading: a later write shows as a change
        return cls(_blocks(index), signature)

    def updated(self, index: KnowledgeIndex) -> _Snapshot:
        signature = index.signature()
        changed = {source for source, mark in signature.items()
                   if self.signature.get(source) != mark}
        blocks = {source: block for source, block in self.blocks.items()
                  if source in signature and source not in changed}
        if changed:
            blocks.update(_blocks(index, changed))
        return _Snapshot(blocks, signature)

    def mask(self, *, source, analyst, tag, language) -> np.ndarray | None:
        keep = None
        for name, value in (("source", source), ("analyst", analyst), ("language", language),
                            ("tags", None if tag is None else f",{tag},")):
            if value is None:
                continue
            match = self._masks.get((name, value))
            if match is None:
                column = self.columns[name]
                match = (np.array([value in text for text in column], dtype=bool)
                         if name == "tags" else column == value)
                if len(self._masks) > 256:
                    self._masks.clear()
                self._masks[(name, value)] = match
            keep = match if keep is None else keep & match
        return keep

    def hit(self, position: int, score: float) -> Hit:
        page = int(self.pages[position])
        tags = tuple(tag for tag in str(self.columns["tags"][position]).split(",") if tag)
        return Hit(self.ids[position], self.texts[position],
                   str(self.columns["source"][position]), None if page < 0 else page,
                   str(self.columns["heading"][position]),
                   str(self.columns["language"][position]),
                   str(self.columns["analyst"][position]), tags, float(score))


_snapshots: dict[Path, tuple[str, _Snapshot]] = {}
_indexes: dict[Path, KnowledgeIndex] = {}
_lock = threading.Lock()


def _snapshot(settings) -> _Snapshot:
    folder = Path(settings.home) / ".ita" / "kb"
    with _lock:
        index = _indexes.get(folder)
        if index is None:
            index = _indexes[folder] = KnowledgeIndex(settings)
        version = index.version()
        cached = _snapshots.get(folder)
        if cached is None:
            cached = _snapshots[folder] = (version, _Snapshot.load(index))
        elif cached[0] != version:
            cached = _snapshots[folder] = (version, cached[1].updated(index))
        return cached[1]


def rank(snapshot: _Snapshot, query: str, *, term_weight: float = TERM_WEIGHT,
         glossary: bool = True, keep: np.ndarray | None = None) -> np.ndarray:
    """Scores of every chunk for `query` (dense cosine + term bonus); -inf outside `keep`."""
    # einsum, not `@`: BLAS's threads on busy cores made the p95 of this product 72 ms against
    # 15 ms for numpy's own single-threaded loop (20,000 x 512, measured under load)
    scores = np.einsum("ij,j->i", snapshot.vectors, embed_query(query))
    words = exact_terms(query, glossary=glossary)
    if words and term_weight:
        lexical = snapshot.terms.scores(words)
        best = float(lexical.max()) if lexical.size else 0.0
        if best > 0:
            scores = scores + term_weight * lexical / best
    if keep is not None:
        scores = np.where(keep, scores, -np.inf)
    return scores


def search(settings, query: str, *, k: int = 5, source: str | None = None,
           analyst: str | None = None, tag: str | None = None,
           language: str | None = None) -> list[Hit]:
    """The `k` best passages for `query`, best first (see the module docstring)."""
    if not query.strip():
        raise KnowledgeError("search: the question is empty; type what you are looking for")
    if not 1 <= k <= MAX_K:
        raise KnowledgeError(f"search: k={k} is out of range; use 1 to {MAX_K}")
    if language is not None and language not in LANGUAGES:
        raise KnowledgeError(f"search: language {language!r} is not one of "
                             f"{', '.join(LANGUAGES)}")
    snapshot = _snapshot(settings)
    if not snapshot.ids:
        return []
    keep = snapshot.mask(source=source, analyst=analyst, tag=tag, language=language)
    scores = rank(snapshot, query, keep=keep)
    count = min(k, int(np.isfinite(scores).sum()))
    if count == 0:
        return []
    best = np.argpartition(-scores, count - 1)[:count]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [snapshot.hit(int(position), scores[position]) for position in best]
