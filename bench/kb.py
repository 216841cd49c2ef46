"""The knowledge base: ingest a 100-page text PDF (made here with fpdf2: Russian and English
trading prose, ~1,500 characters a page) into an empty home through `add_files` — copy,
extract, chunk, embed with the multilingual model on one thread, write to Chroma; search p95 of
60 questions over an index of 20,000 chunks (their texts generated from trading sentences; to
build that index in a minute, its chunk vectors are seeded random unit vectors, the questions
are embedded by the real model, so the timed path is the real one); the first search after a
search in a new process, which loads the snapshot (texts, metadata, vectors) from Chroma, and
the first one after another document was indexed, which reloads only that document; OCR of a
1100x240 screenshot with Russian and English text (tesseract eng+rus); an incremental sync of
a shared folder of ~1,000 files with nothing changed (the real rclone bisync, `engine.kb.sync`,
against a local-folder remote, after the first full sync) and the Sync view's status with its
count of local changes (a walk of the folder against bisync's listing)."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from bench._common import Result, measure

TITLE = "Knowledge base (issue 12)"
TIMING = ("ingest: one call into a fresh home after the model and Chroma are loaded; search: "
          "60 questions after one warm-up, p95 reported; first search: one call; OCR: 1 "
          "warm-up call, then the best of 3; sync: the first full sync untimed, then the best "
          "of 3 syncs with nothing changed; sync status: the best of 5.")
CHUNKS = 20_000
PAGES = 100
SYNC_FILES = 1_000

_SENTENCES = [
    "Справедливый разрыв стоимости (FVG) появляется после сильного импульса.",
    "A fair value gap forms when the middle candle of three moves fast.",
    "Цена часто возвращается в имбаланс перед продолжением движения.",
    "The London session frequently sweeps the Asian range low before reversing.",
    "Ордер блок — последняя противоположная свеча перед смещением.",
    "Place the stop beyond the wick of the sweep candle.",
    "Слом структуры (BOS) подтверждает продолжение тренда.",
    "A change of character (CHoCH) warns that the trend may turn.",
    "Зона OTE лежит между уровнями 0.62 и 0.79 коррекции.",
    "Risk a fixed fraction of the account on every trade.",
    "Дневной лимит убытка останавливает торговлю до следующего дня.",
    "Premium and discount split the dealing range at equilibrium.",
]
QUESTIONS = ["где ставить стоп после свипа", "what is a fair value gap", "зона OTE",
             "CHoCH vs BOS", "how much to risk per trade", "азиатская сессия ликвидность"] * 10


def _page_text(page: int, rng: np.random.Generator) -> str:
    picks = rng.choice(len(_SENTENCES), size=24)
    return f"Глава {page // 10 + 1}. " + " ".join(_SENTENCES[i] for i in picks)


def _book(path: Path) -> Path:
    from fpdf import FPDF

    from tests.kb.files import FONT

    rng = np.random.default_rng(7)
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=10)
    for page in range(PAGES):
        pdf.add_page()
        pdf.multi_cell(0, 5, _page_text(page, rng))
    pdf.output(str(path))
    return path


def _ingest(folder: Path) -> Result:
    from engine.kb.embed import embed_texts
    from engine.kb.ingest import add_files
    from engine.kb.search import search
    from engine.settings import Settings

    book = _book(folder / "smc-book.pdf")
    warm = Settings(home=folder / "warm")  # load the model and Chroma outside the timer
    embed_texts(["warm up"])
    search(warm, "warm up")
    home = folder / "ingest"
    report = None

    def ingest(_):
        nonlocal report
        report = add_files(Settings(home=home), [book], analyst="bench")

    seconds = measure(ingest, make_input=lambda: None, warmup=0, repeat=1)
    chunks = report.files[0].chunks
    return Result("kb", f"ingest a {PAGES}-page text PDF ({chunks} passages)", seconds,
                  target=20.0, note=f"{chunks / seconds:.0f} passages/s incl. extract")


def _fake_vectors(texts: list[str]) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256("".join(texts).encode()).digest()[:8], "little")
    vectors = np.random.default_rng(seed).standard_normal((len(texts), 512)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _big_index(home: Path):
    from engine.kb import index as kb_index
    from engine.settings import Settings

    settings = Settings(home=home)
    real, kb_index.embed_texts = kb_index.embed_texts, _fake_vectors
    try:
        index = kb_index.KnowledgeIndex(settings)
        for document in range(CHUNKS // 500):
            chunks = _chunks(document, 500)
            index.index_chunks(chunks[0].source, chunks, sha256=f"{document}")
    finally:
        kb_index.embed_texts = real
    return settings


def _chunks(document: int, count: int) -> list:
    from engine.kb.chunk import Chunk, language_of

    rng = np.random.default_rng(document)
    source = f"theory/book-{document:02d}--{document:08x}.pdf"
    chunks = []
    for n in range(count):
        text = " ".join(_SENTENCES[i] for i in rng.choice(len(_SENTENCES), size=8))
        chunks.append(Chunk(f"{source}#{n:05d}", text, source, n // 3 + 1, "",
                            language_of(text), f"analyst{document % 3}", "x", False,
                            ("smc",) if document % 2 else ()))
    return chunks


def _search(folder: Path) -> list[Result]:
    from engine.kb.index import KnowledgeIndex
    from engine.kb.search import search

    started = time.perf_counter()
    settings = _big_index(folder / "big")
    built = time.perf_counter() - started
    first_started = time.perf_counter()
    search(settings, "warm up", k=5)
    first = time.perf_counter() - first_started
    times = []
    for question in QUESTIONS:
        start = time.perf_counter()
        search(settings, question, k=5)
        times.append(time.perf_counter() - start)
    filtered = []
    for question in QUESTIONS[:20]:
        start = time.perf_counter()
        search(settings, question, k=5, tag="smc", language="ru")
        filtered.append(time.perf_counter() - start)
    index = KnowledgeIndex(settings)
    (question_chunk,) = [c for c in _chunks(CHUNKS // 500, 1)]
    index.index_chunks(question_chunk.source, [question_chunk], sha256="one more")
    start = time.perf_counter()
    search(settings, "warm up", k=5)
    after_add = time.perf_counter() - start
    return [Result("kb", f"search p95 over {CHUNKS:,} chunks", float(np.percentile(times, 95)),
                   target=0.1, note=f"median {np.median(times) * 1000:.0f} ms"),
            Result("kb", "search p95 with tag + language filters",
                   float(np.percentile(filtered, 95)), target=0.1),
            Result("kb", "first search in a new process (loads every chunk)", first,
                   note=f"index of {CHUNKS:,} chunks written in {built:.0f} s (vectors seeded)"),
            Result("kb", "first search after another document was indexed", after_add,
                   target=1.0, note="reloads only that document")]


def _ocr(folder: Path) -> Result:
    from engine.kb.extract import extract
    from tests.kb.files import screenshot_png

    png = screenshot_png(folder / "screenshot.png",
                         ["Вход от ордерблока после слома структуры",
                          "Entry from the order block after CHoCH",
                          "Стоп за свип, цель 2R — stop beyond the sweep, target 2R"])
    seconds = measure(lambda path: extract(path), make_input=lambda: png, warmup=1, repeat=3)
    return Result("kb", "OCR of a screenshot (ru+en)", seconds, target=2.0)


def _shared_folder(home: Path, files: int) -> int:
    """A shared folder of `files` files as analysts fill it: theory files with their
    manifests (two files per document) and a tenth of notes and findings; returns the count."""
    import json

    root = home / "shared_kb"
    written = 0
    notes = files // 10
    for n in range((files - notes) // 2):
        path = root / "theory" / f"book-{n:04d}--{n:08x}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Book {n}\n\n" + _SENTENCES[n % len(_SENTENCES)] * 20)
        Path(f"{path}.manifest.json").write_text(json.dumps(
            {"file": path.name, "sha256": f"{n:064x}", "added_by": f"analyst{n % 3}"}))
        written += 2
    for n in range(files - written):
        kind = "notes" if n % 2 else "findings"
        path = root / "analysts" / f"analyst{n % 3}" / kind / f"note-{n:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_SENTENCES[n % len(_SENTENCES)])
        written += 1
    return written


def _sync(folder: Path) -> list[Result]:
    from engine.kb.sync import read_status, sync
    from engine.settings import Settings

    remote = folder / "remote"
    remote.mkdir()
    settings = Settings(home=folder / "sync-home", kb_remote=str(remote))
    files = _shared_folder(settings.home, SYNC_FILES)
    first = sync(settings)  # the first full sync (a resync): sends every file
    if not first.ok:
        raise RuntimeError(f"the first sync failed: {first.message}")
    reports = []

    def again(_):
        reports.append(sync(settings))

    seconds = measure(again, make_input=lambda: None, warmup=0, repeat=3)
    if not all(r.ok and not r.changed and not r.resync for r in reports):
        raise RuntimeError(f"a sync with nothing changed moved files: {reports[-1].message}")
    status = measure(lambda _: read_status(settings), make_input=lambda: None, warmup=0,
                     repeat=5)
    pending = read_status(settings)["pending_local_changes"]
    return [Result("kb", f"incremental sync, nothing changed ({files:,} files, local remote)",
                   seconds, target=5.0,
                   note=f"real rclone bisync; first full sync {first.seconds:.1f} s"),
            Result("kb", f"sync status with local changes counted ({files:,} files)", status,
                   target=0.1, note=f"{pending} pending; what the Sync view reads")]


def run() -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="ita-bench-kb-") as tmp:
        folder = Path(tmp)
        return [_ingest(folder), *_search(folder), _ocr(folder), *_sync(folder)]
