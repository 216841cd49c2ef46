"""The Knowledge page's parts: add documents, the documents table, search (and Ask), citing a
passage in a setup.

What the trader can rely on:

- **Adding files.** The uploads are added by the engine's one operation,
  `engine.kb.ingest.add_files` — as a `kb_ingest` job of the engine daemon when it runs (a
  300-page PDF never freezes the page), in the app with a progress bar otherwise. A bad file is
  refused with its one-line reason and leaves the base unchanged; the others go on. Each file's
  result is listed: added (its passages and warnings: pages OCR'd, pages without text), already
  there (the same content is in the base), or refused (why). The uploads wait in
  ``.ita/uploads/`` (never synced) until they are added, then go.
- **Search** is the engine's (`engine.kb.search.search`): Russian or English, with filters.
  Passages are HTML-escaped before the query's words are highlighted. Each passage shows the
  setups that cite it and their measured results (`engine.kb.verified.results_for_source`).
- **Ask** (with an LLM configured) shows the answer with its ``[n]`` citations linked to the
  passages below it; without an LLM the page says how to turn it on.
- **Cite in a setup** adds a passage to a setup's ``sources:`` as an unsaved edit of its active
  version (`app.setup_drafts`): nothing is saved until the trader saves on the Setups page.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import shutil
import threading
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from app.jobs_ui import follow
from app.setup_drafts import draft_text, keep_draft, yaml_key
from app.ui import show_error, user_errors
from engine.errors import ItaError, KnowledgeError

KNOWLEDGE_PAGE = "views/knowledge.py"
KINDS_WORDS = "PDF, PNG/JPG screenshots, Markdown, TXT, DOCX"
ANY = "any"
SEARCH_K = 5
QUOTE_CHARS = 300  # a `sources:` quote (engine.setups.schema.QUOTE_CHARS)
UPLOAD_KEY = "knowledge_upload"
JOB_KEY = "knowledge_job"
RESULTS_KEY = "knowledge_added"
UPLOADS_KEY = "knowledge_uploads_folder"
log = logging.getLogger(__name__)
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def warm_in_background(settings) -> threading.Thread:
    """Get the first search ready without slowing the page: once the page runs are over
    (`state.wait_until_idle`), load the embedding model and bring the search snapshot up to
    the index (`warm_search`). The server's warm-up does this before the page is ever opened;
    each run of the page asks again, so an index changed meanwhile (a `kb_ingest` job, a sync,
    another analyst's files) is read before the trader's next search, not during it. One such
    thread at a time; returns it."""
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None or not _warm_thread.is_alive():
            _warm_thread = threading.Thread(target=_warm_when_idle, args=(settings,),
                                            name="ita-kb-warm-up", daemon=True)
            _warm_thread.start()
        return _warm_thread


def _warm_when_idle(settings) -> None:
    state.wait_until_idle()
    try:
        warm_search(settings)
    except Exception:  # an optimisation: the first search says what is wrong
        log.exception("warming up the knowledge base failed")


def load_model() -> None:
    """Load the embedding model of `engine.kb.embed` (~3 s once per process)."""
    from engine.kb.embed import embed_query

    embed_query("warm up")


def load_snapshot(settings) -> None:
    """When an index exists: its snapshot in memory as `engine.kb.search` keeps it (read in
    full the first time, then only the documents changed since); nothing is created when
    there is no index yet."""
    from engine.kb.index import KnowledgeIndex
    from engine.kb.search import search

    if KnowledgeIndex(settings).version() != "empty":
        search(settings, "warm up", k=1)


def warm_search(settings) -> None:
    """The model, then the snapshot, in this thread (`load_model`, `load_snapshot`)."""
    load_model()
    load_snapshot(settings)


def has_documents(settings) -> bool:
    """Is anything in the shared folder to search?"""
    from engine.kb.shared import list_documents

    return bool(list_documents(settings))


def home_line(settings) -> None:
    """Home's line about the knowledge base (`engine.kb.status`: two small JSON reads, no
    Chroma), linking to the Knowledge page; a failed sync in red."""
    from streamlit.errors import StreamlitPageNotFoundError

    from engine.kb.status import knowledge_status, line

    status = knowledge_status(settings)
    text = _md(line(status))
    if status.failed:
        text = f":red[{text}]"
    try:
        st.page_link(KNOWLEDGE_PAGE, label=text, icon=":material/local_library:")
    except StreamlitPageNotFoundError:  # the page run alone (AppTest), not in the navigation
        st.markdown(text)


# ------------------------------------------------------------------------------ adding files

def stage_uploads(settings, uploads) -> tuple[Path, list[Path], list[dict]]:
    """Write the uploads (objects with `.name` and `.getvalue()`) under a fresh folder of
    ``.ita/uploads/``, each in its own sub-folder under its own name (so two uploads of one
    name never meet); a name that is a path or otherwise unsafe is refused here. Returns the
    folder, the files, and the refused ones' results."""
    from engine.kb.shared import checked_file_name

    folder = Path(settings.home) / ".ita" / "uploads" / uuid.uuid4().hex
    paths, refused = [], []
    for n, upload in enumerate(uploads):
        try:
            name = checked_file_name(str(upload.name))
        except KnowledgeError as error:
            refused.append({"name": str(upload.name), "status": "failed",
                            "message": str(error), "source": None, "chunks": 0})
            continue
        path = folder / str(n) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.getvalue())
        paths.append(path)
    return folder, paths, refused


def file_results(files: list[dict], warnings: list) -> list[dict]:
    """`add_files`' per-file results with each file's warnings (pages OCR'd, no text)."""
    by_source: dict[str, list[str]] = {}
    for source, warning in warnings:
        by_source.setdefault(source, []).append(warning)
    return [{**result, "warnings": by_source.get(result.get("source") or "", [])}
            for result in files]


def add_uploads(settings, uploads, *, tags=()) -> None:
    """Add the uploads through `engine.kb.ingest.add_files`: a `kb_ingest` job when the
    engine daemon runs (the page follows its progress), else here with a progress bar. The
    results land in ``st.session_state[RESULTS_KEY]``."""
    folder, paths, refused = stage_uploads(settings, uploads)
    st.session_state[RESULTS_KEY] = refused
    if not paths:
        shutil.rmtree(folder, ignore_errors=True)
        return
    engine = state.engine_state()
    if engine and engine["alive"]:
        st.session_state[JOB_KEY] = state.job_bus().submit(
            "kb_ingest", {"paths": [str(p) for p in paths], "tags": list(tags)})
        st.session_state[UPLOADS_KEY] = str(folder)
        return
    from engine.kb.ingest import add_files

    bar = st.progress(0.0, text="adding")
    try:
        report = add_files(settings, paths, tags=tags,
                           progress=lambda f, m: bar.progress(min(1.0, max(0.0, f)), text=m))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        bar.empty()
    files = [dataclasses.asdict(result) for result in report.files]
    st.session_state[RESULTS_KEY] = refused + file_results(files, list(report.refresh.warnings))


def follow_ingest() -> bool:
    """While a `kb_ingest` job runs: its progress bar (True). When it ends: its results."""
    if not st.session_state.get(JOB_KEY):
        return False
    status = follow(JOB_KEY)
    if status is None:
        return True
    st.session_state.pop(JOB_KEY, None)
    shutil.rmtree(st.session_state.pop(UPLOADS_KEY, ""), ignore_errors=True)
    if status["state"] != "done":
        st.error(f"Adding the files {status['state']}: {status.get('error', '')}")
        return False
    result = status.get("result") or {}
    st.session_state[RESULTS_KEY] = (st.session_state.get(RESULTS_KEY, [])
                                     + file_results(result.get("files", []),
                                                    result.get("warnings", [])))
    return False


STATUS_WORDS = {"added": ":green[added]", "already there": ":blue[already there]",
                "failed": ":red[refused]"}


def show_results(results: list[dict]) -> None:
    """One line per file; its warnings (pages OCR'd, pages without text) under it."""
    counts = Counter(r["status"] for r in results)
    st.caption(", ".join(f"{n} {word}" for word, n in counts.items()))
    for result in results:
        words = STATUS_WORDS.get(result["status"], result["status"])
        name = _md(result["name"])
        if result["status"] == "failed":
            st.markdown(f"{words} **{name}** — {_md(result['message'])}")
            continue
        st.markdown(f"{words} **{name}** → `{result['source']}` — {_md(result['message'])}")
        for warning in result.get("warnings") or ():
            st.caption(f"⚠ {warning}")


def add_part(settings) -> None:
    """Upload files, add them, show each file's result."""
    with st.form("knowledge_add_form", clear_on_submit=True):
        files = st.file_uploader(f"Drop files here ({KINDS_WORDS}); several at once",
                                 accept_multiple_files=True, key=UPLOAD_KEY)
        tags = st.text_input("Tags (optional, comma separated)", key="knowledge_tags",
                             placeholder="smc, fvg")
        submitted = st.form_submit_button("Add to the knowledge base", type="primary",
                                          key="knowledge_add")
    st.caption(f"Files go to the shared folder as your documents (analyst "
               f"**{settings.analyst}**) and are indexed on this machine; they leave it only "
               "when a sync remote is set.")
    if submitted:
        if not files:
            st.warning("Choose or drop at least one file first.")
        else:
            with user_errors():
                add_uploads(settings, files, tags=split_tags(tags))
    if follow_ingest():
        return
    results = st.session_state.get(RESULTS_KEY)
    if results:
        st.subheader("Added files")
        show_results(results)


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in (text or "").split(",") if t.strip()))


# ------------------------------------------------------------------------------ documents

@st.cache_data(show_spinner=False, max_entries=8)
def _chunk_stats(home: str, version: str) -> dict[str, dict]:
    """Per document: its pages and the languages of its passages (read once per index
    version)."""
    from engine.kb.index import KnowledgeIndex

    settings = state.settings()
    index = KnowledgeIndex(settings)
    if index.version() == "empty":
        return {}
    pages: dict[str, set] = {}
    languages: dict[str, Counter] = {}
    for meta in _metadatas(index):
        source = meta.get("source", "")
        languages.setdefault(source, Counter())[meta.get("language", "")] += 1
        if int(meta.get("page", -1)) >= 0:
            pages.setdefault(source, set()).add(int(meta["page"]))
    return {source: {"pages": len(pages.get(source, ())), "languages": language_mix(counts)}
            for source, counts in languages.items()}


def _metadatas(index, *, page_size: int = 5000):
    """Every chunk's metadata, page by page (no texts, no vectors)."""
    collection = index.collection()
    for offset in range(0, collection.count(), page_size):
        yield from collection.get(limit=page_size, offset=offset,
                                  include=["metadatas"])["metadatas"]


def language_mix(counts: Counter) -> str:
    """``ru 70% · en 30%`` from the passages' languages."""
    total = sum(counts.values()) or 1
    return " · ".join(f"{lang} {n / total:.0%}" for lang, n in counts.most_common() if lang)


def documents_frame(settings) -> pd.DataFrame:
    """Every document of the shared folder with what the index knows of it."""
    from engine.kb.index import KnowledgeIndex
    from engine.kb.shared import list_documents

    index = KnowledgeIndex(settings)
    known = index.state()
    stats = _chunk_stats(str(settings.home), index.version())
    rows = []
    for doc in list_documents(settings):
        info = known["documents"].get(doc.source)
        failed = known["failed"].get(doc.source)
        status = ("indexed" if info and info.get("sha256") == doc.sha256 else
                  f"refused: {failed.get('error', '')}" if failed else "not indexed yet")
        numbers = stats.get(doc.source, {})
        rows.append({"title": doc.title, "file": doc.source, "analyst": doc.analyst,
                     "pages": numbers.get("pages") or None,
                     "passages": int(info["chunks"]) if info else None,
                     "languages": numbers.get("languages", ""),
                     "added": doc.added_at.replace("T", " ")[:16],
                     "tags": ", ".join(doc.tags), "status": status})
    columns = ["title", "file", "analyst", "pages", "passages", "languages", "added", "tags",
               "status"]
    return pd.DataFrame(rows, columns=columns)


def documents_part(settings) -> None:
    """The documents table with a filter, and removing one's own document (confirmed)."""
    frame = documents_frame(settings)
    if not len(frame):
        st.info("No documents yet: add some under “Add files”.")
        return
    needle = st.text_input("Filter", key="knowledge_doc_filter",
                           placeholder="title, file, analyst or tag")
    shown = frame
    if needle.strip():
        text = frame[["title", "file", "analyst", "tags"]].astype(str).agg(" ".join, axis=1)
        shown = frame[text.str.contains(needle.strip(), case=False, regex=False)]
    st.caption(f"{len(shown)} of {len(frame)} documents")
    st.dataframe(shown, hide_index=True, width="stretch", placeholder="—", column_config={
        "pages": st.column_config.NumberColumn("pages", format="%d"),
        "passages": st.column_config.NumberColumn("passages", format="%d")})
    own = frame[(frame["analyst"] == settings.analyst)
                & frame["file"].str.startswith("theory/")]["file"].tolist()
    if own:
        with st.expander("Remove one of my documents"):
            remove_part(settings, own)


def remove_part(settings, own: list[str]) -> None:
    source = st.selectbox("Document", own, key="knowledge_remove_source")
    sure = st.checkbox(f"Yes, remove {source} from the shared folder (every analyst loses it "
                       "at the next sync)", key="knowledge_remove_sure")
    if st.button("Remove", key="knowledge_remove", disabled=not sure):
        with user_errors():
            from engine.kb.index import KnowledgeIndex
            from engine.kb.shared import remove_theory

            remove_theory(settings, source, analyst=settings.analyst)
            KnowledgeIndex(settings).drop(source)
            st.session_state.pop("knowledge_remove_sure", None)
            st.session_state["knowledge_notice"] = f"Removed {source}."
            st.rerun()


# ------------------------------------------------------------------------------ search

_WORD = re.compile(r"\w+", re.UNICODE)


def highlighted(text: str, query: str) -> str:
    """`text` HTML-escaped, then every word starting like a word of `query` marked
    (``<mark>``): a stem, so "ликвидность" marks "ликвидности" too.

    >>> highlighted("FVG <b> & fvgs", "fvg")
    '<mark>FVG</mark> &lt;b&gt; &amp; <mark>fvgs</mark>'
    """
    escaped = html.escape(text, quote=False)
    stems = {word[:max(3, len(word) - 2)] if len(word) > 4 else word
             for word in _WORD.findall(query) if len(word) >= 2}
    if not stems:
        return escaped
    alternatives = "|".join(re.escape(stem) for stem in sorted(stems, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w&#])(?:{alternatives})\w*", re.IGNORECASE | re.UNICODE)
    return pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", escaped)


def linked_answer(text: str, anchors: dict[int, str]) -> str:
    """The answer HTML-escaped with each ``[n]`` linked to passage n's anchor."""
    escaped = html.escape(text, quote=False)

    def link(match: re.Match) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        return "".join(f'<a href="#{anchors[n]}">[{n}]</a>' if n in anchors else f"[{n}]"
                       for n in numbers)

    return re.sub(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]", link, escaped)


def search_filters(settings) -> dict:
    """Filter choices from the documents: analyst, tag, language, source (None = any)."""
    from engine.kb.shared import list_documents

    docs = list_documents(settings)
    analysts = sorted({d.analyst for d in docs})
    tags = sorted({t for d in docs for t in d.tags})
    sources = [d.source for d in docs]
    a, b, c, d = st.columns([1, 1, 1, 2])
    chosen = {"analyst": a.selectbox("Analyst", [ANY, *analysts], key="knowledge_f_analyst"),
              "tag": b.selectbox("Tag", [ANY, *tags], key="knowledge_f_tag"),
              "language": c.selectbox("Language", [ANY, "ru", "en", "mixed"],
                                      key="knowledge_f_language"),
              "source": d.selectbox("Document", [ANY, *sources], key="knowledge_f_source")}
    return {name: None if value == ANY else value for name, value in chosen.items()}


@st.cache_data(show_spinner=False, max_entries=64)
def _cited_by(home: str, stamp: str, source: str, page: int | None) -> list[tuple[str, list]]:
    from engine.kb.verified import results_for_source

    return [(found.line(), [run.line() for run in found.runs[:3]])
            for found in results_for_source(state.settings(), source, page)]


def cited_by(settings, source: str, page: int | None) -> list[tuple[str, list]]:
    """The setups citing this passage's document (and page), each with its latest runs."""
    stamp = state._stamp(settings.setups_dir, "*/*.yaml") + state._stamp(
        settings.runs_dir, "*/summary.json")
    return _cited_by(str(settings.home), stamp, source, page)


def where(hit) -> str:
    parts = [hit.source]
    if hit.page is not None:
        parts.append(f"p. {hit.page}")
    if hit.heading:
        parts.append(hit.heading)
    return " · ".join(parts)


def show_hit(settings, number: int, hit, query: str, anchor: str) -> None:
    """One passage: where it is from, its text with the query marked, who cites it."""
    with st.container(border=True):
        head, cite = st.columns([5, 1])
        head.markdown(f"**[{number}]** `{where(hit)}`  \n"
                      f":gray[{hit.analyst} · {hit.language} · score {hit.score:.2f}]")
        cite.button("Cite in setup…", key=f"knowledge_cite_{hit.chunk_id}",
                    on_click=st.session_state.__setitem__, args=("knowledge_cite", hit),
                    help="Add this passage to a setup's sources (an unsaved edit)")
        st.html(f'<div id="{anchor}" style="white-space: pre-wrap; line-height: 1.5">'
                f"{highlighted(hit.text, query)}</div>")
        for line, runs in cited_by(settings, hit.source, hit.page):
            st.markdown(f"✔ {_md(line)}")
            for run in runs:
                st.caption(run)


def search_part(settings) -> None:
    """The query box, the filters, Ask, and the passages found."""
    query = st.text_input("Search your theory (Russian or English)", key="knowledge_query",
                          placeholder="вход от FVG после снятия ликвидности / order block "
                                      "mitigation")
    filters = search_filters(settings)
    llm_on = bool(settings.llm_model)
    asked = False
    if llm_on:
        asked = st.button("Ask", key="knowledge_ask", type="primary",
                          help="An answer written only from the passages below, citing them")
    else:
        st.caption("Answers need an LLM: set `llm_model` (and `llm_base_url` for a local "
                   "Ollama, or the OpenAI key `ITA_OPENAI_API_KEY` in `.env`) on the Settings "
                   "page; the passages below work without one.")
    if not query.strip():
        return
    from engine.kb.search import search

    with user_errors():
        hits = search(settings, query, k=SEARCH_K, **filters)
        if not hits:
            st.info("Nothing found: the base is empty or the filters leave nothing. Add "
                    "documents under “Add files”.")
            return
        anchors = {i: f"kb-passage-{i + 1}" for i in range(len(hits))}
        numbers = {hit.chunk_id: i + 1 for i, hit in enumerate(hits)}
        if asked:
            show_answer(settings, query, hits, anchors, numbers)
        cite_part(settings)
        for i, hit in enumerate(hits):
            show_hit(settings, i + 1, hit, query, anchors[i])


def show_answer(settings, query: str, hits, anchors: dict[int, str],
                numbers: dict[str, int]) -> None:
    """The LLM's answer; its [n] (numbering the relevant passages) re-numbered and linked to
    the passages as shown."""
    from engine.kb.answer import ask

    with st.spinner("asking the model"):
        answer = ask(settings, query, hits=hits)
    if answer.nothing:
        st.info(answer.answer)
        return
    if answer.answer is None:
        return
    shown = {n + 1: numbers[p.chunk_id] for n, p in enumerate(answer.passages)}
    text = re.sub(r"\[(\d+)\]", lambda m: f"[{shown.get(int(m.group(1)), m.group(1))}]",
                  answer.answer)
    st.html('<div style="padding: .6rem .9rem; border-left: 4px solid #4c8bf5">'
            + linked_answer(text, {n: anchors[n - 1] for n in range(1, len(anchors) + 1)})
            + "</div>")
    for warning in answer.warnings:
        st.caption(f"⚠ {warning}")


# ------------------------------------------------------------------------------ cite

def source_entry(hit) -> dict:
    """The `sources:` entry of a passage."""
    quote = " ".join(hit.text.split())
    if len(quote) > QUOTE_CHARS:
        quote = quote[:QUOTE_CHARS - 1].rstrip() + "…"
    return {"source": hit.source, "page": hit.page, "chunk": hit.chunk_id, "quote": quote}


def cite_in_setup(setup_id: str, hit) -> str:
    """Add the passage to the `sources:` of the setup's active version as an unsaved edit
    (kept with the session's other drafts); returns what was done, in words."""
    from engine.setups.edit import apply_changes
    from engine.setups.parse import parse_setup

    store = state.setup_store()
    version = store.active(setup_id)
    current = store.load(setup_id, version)
    text = draft_text(setup_id, version, current.text)
    setup = parse_setup(text, source=f"{setup_id}.yaml")
    sources = [s.model_dump() for s in getattr(setup, "sources", [])]
    entry = source_entry(hit)
    if any(s.get("chunk") == entry["chunk"] for s in sources):
        return f"{setup_id} v{version} cites this passage already."
    new_text = apply_changes(text, {"sources": [*sources, entry]}, source=f"{setup_id}.yaml")
    parse_setup(new_text, source=f"{setup_id}.yaml")
    keep_draft(setup_id, version, new_text, current.text)
    st.session_state.pop(yaml_key(setup_id, version), None)  # the editor shows the draft
    return (f"Added to the sources of {setup_id} v{version} as an unsaved edit: review and "
            "save it on the Setups page.")


def cite_part(settings) -> None:
    """After “Cite in setup…”: choose the setup, add the passage as an unsaved edit."""
    hit = st.session_state.get("knowledge_cite")
    if hit is None:
        return
    ids = state.setup_store().ids()
    with st.container(border=True):
        st.markdown(f"Cite `{where(hit)}` in a setup")
        if not ids:
            st.info("No setups yet.")
            return
        a, b, c = st.columns([3, 1, 1])
        setup_id = a.selectbox("Setup", ids, key="knowledge_cite_setup",
                               label_visibility="collapsed")
        if b.button("Add to its sources", key="knowledge_cite_add", type="primary"):
            try:
                st.session_state["knowledge_notice"] = cite_in_setup(setup_id, hit)
                st.session_state.pop("knowledge_cite", None)
                st.rerun()
            except ItaError as error:
                show_error(error)
        if c.button("Cancel", key="knowledge_cite_cancel"):
            st.session_state.pop("knowledge_cite", None)
            st.rerun()


def _md(text: str) -> str:
    """Plain text safe inside Markdown (no formatting, no HTML)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+!|~$])", r"\\\1", str(text))
