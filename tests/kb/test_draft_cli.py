"""`ita setup draft`, `ita setup show` (the cited theory), `ita kb ask` and `ita kb findings`
from the command line, with the real openai client against the local fake server. The search
is replaced by fixed passages here (the index has its own tests)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from engine.adapters.store import CandleStore
from engine.cli import app
from engine.demo import import_demo_candles
from engine.settings import get_settings
from engine.setups.store import SetupStore
from tests.fakes.openai_api import ANSWER_CITING_1_AND_7, NONSENSE, VALID_DRAFT, FakeOpenAI
from tests.kb._passages import FVG, SWEEP

IDEA = "London sweep of the Asia low, then a bullish FVG, stop beyond the sweep, 2R"


@pytest.fixture()
def llm(tmp_path, monkeypatch):
    searched = []

    def search(settings, query, *, k=5, **filters):
        searched.append(query)
        return [SWEEP, FVG]

    monkeypatch.setitem(sys.modules, "engine.kb.search", SimpleNamespace(search=search))
    with FakeOpenAI(reply=VALID_DRAFT) as server:
        monkeypatch.setenv("ITA_HOME", str(tmp_path))
        monkeypatch.setenv("ITA_ANALYST", "anna")
        monkeypatch.setenv("ITA_LLM_MODEL", "llama3.1")
        monkeypatch.setenv("ITA_LLM_BASE_URL", server.base_url)
        server.searched = searched
        yield server


def invoke(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def test_draft_previews_without_saving_then_saves_with_save(llm, tmp_path):
    import_demo_candles(CandleStore.from_settings(get_settings()))
    shown = invoke("setup", "draft", IDEA)

    assert shown.exit_code == 0, shown.output
    assert "id: asia-sweep-fvg-draft" in shown.output and "valid after 1 reply" in shown.output
    assert "preview on BTC/USDT 5m (2023-03-01 → 2023-03-21)" in shown.output
    assert "not saved" in shown.output and llm.searched == [IDEA]
    assert SetupStore.from_settings(get_settings()).ids() == []

    saved = invoke("setup", "draft", IDEA, "--save", "--no-preview")
    assert saved.exit_code == 0, saved.output
    assert "saved asia-sweep-fvg-draft v1" in saved.output
    show = invoke("setup", "show", "asia-sweep-fvg-draft")
    assert "Theory this rule formalises" in show.output and SWEEP.source in show.output


def test_an_invalid_draft_exits_1_and_saves_nothing(llm):
    llm.reply = NONSENSE
    result = invoke("setup", "draft", IDEA, "--save")

    assert result.exit_code == 1 and "draft not valid after 3 replies" in result.output
    assert SetupStore.from_settings(get_settings()).ids() == []


def test_kb_ask_prints_the_answer_and_the_numbered_passages(llm):
    llm.reply = ANSWER_CITING_1_AND_7
    result = invoke("kb", "ask", "What is a fair value gap?")

    assert result.exit_code == 0, result.output
    assert "candle [1]. Price often returns to it before continuing." in result.output
    assert "[7]" in result.output and "taken out" in result.output  # the warning names it
    assert "[1] smc-book, p. 43" in result.output and "[2] smc-book, p. 42" in result.output


def test_kb_findings_writes_into_my_folder(llm, tmp_path):
    SetupStore.from_settings(get_settings()).save(VALID_DRAFT.split("```yaml\n")[1]
                                                  .split("```")[0])
    result = invoke("kb", "findings", "asia-sweep-fvg-draft")

    path = tmp_path / "shared_kb/analysts/anna/findings/asia-sweep-fvg-draft-v1.md"
    assert result.exit_code == 0 and path.exists(), result.output
    assert "Not backtested yet" in path.read_text(encoding="utf-8")
    assert "index: 1 added, 0 updated, 0 removed" in result.output  # indexed, not only written
