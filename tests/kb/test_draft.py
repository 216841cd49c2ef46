"""`draft_setup`: the LLM's setup YAML validated by the real validator, repaired from its
messages at most twice, with ITA's `sources:` and a preview backtest that saves nothing."""

from __future__ import annotations

import pytest

from engine.adapters.store import CandleStore
from engine.demo import import_demo_candles
from engine.errors import ConfigurationError, SetupError
from engine.kb.draft import draft_setup, save_draft
from engine.settings import Settings
from engine.setups.parse import parse_setup
from engine.setups.store import SetupStore
from tests.fakes.openai_api import (
    INVALID_DRAFT,
    NONSENSE,
    REPAIRED_DRAFT,
    VALID_DRAFT,
    FakeOpenAI,
)
from tests.kb._passages import FVG, SWEEP

IDEA = "после снятия азиатского минимума в Лондоне вход от FVG, стоп за свип, цель 2R"


@pytest.fixture()
def llm():
    with FakeOpenAI(reply=VALID_DRAFT) as server:
        yield server


def _settings(tmp_path, server) -> Settings:
    return Settings(home=tmp_path, llm_model="llama3.1", llm_base_url=server.base_url)


def test_a_valid_draft_in_one_round_with_its_sources(tmp_path, llm):
    draft = draft_setup(_settings(tmp_path, llm), IDEA, hits=[SWEEP, FVG], preview=False)

    assert draft.valid and draft.rounds == 1 and draft.errors == []
    assert draft.sources == [{"source": SWEEP.source, "page": 43, "chunk": SWEEP.chunk_id,
                              "quote": " ".join(SWEEP.text.split())}]
    setup = parse_setup(draft.yaml_text)
    assert [s.chunk for s in setup.sources] == [SWEEP.chunk_id]
    [request] = llm.requests
    prompt = request.messages[1]["content"]
    for needed in ("Setup:", "- sweep: Liquidity sweep", "id: london-asia-sweep-fvg",
                   "id: ny-fvg-continuation", "[1] (smc-book, p. 43", "[2] (smc-book, p. 42",
                   IDEA):
        assert needed in prompt
    assert SetupStore.from_settings(_settings(tmp_path, llm)).ids() == []  # nothing saved


def test_an_invalid_draft_is_repaired_from_the_validator_messages(tmp_path, llm):
    llm.queue(INVALID_DRAFT, REPAIRED_DRAFT)
    draft = draft_setup(_settings(tmp_path, llm), IDEA, hits=[SWEEP, FVG], preview=False)

    assert draft.valid and draft.rounds == 2
    assert [s["chunk"] for s in draft.sources] == [SWEEP.chunk_id, FVG.chunk_id]
    repair = llm.requests[1].messages
    assert repair[2] == {"role": "assistant", "content": INVALID_DRAFT}
    assert "draft.yaml:6: conditions.asia_low_sweep.reclaim_bar: unknown field " \
           "'reclaim_bar' — did you mean 'reclaim_bars'?" in repair[3]["content"]


def test_nonsense_is_reported_after_two_repairs(tmp_path, llm):
    llm.reply = NONSENSE
    settings = _settings(tmp_path, llm)
    draft = draft_setup(settings, IDEA, hits=[FVG], preview=False)

    assert not draft.valid and draft.rounds == 3 and len(llm.requests) == 3
    assert draft.errors and draft.setup is None and draft.sources == []
    assert "still invalid after 2 repairs" in draft.notes[0]
    with pytest.raises(SetupError, match="not valid"):
        save_draft(settings, draft)


def test_the_preview_backtests_the_draft_on_the_demo_candles_and_saves_nothing(tmp_path, llm):
    settings = _settings(tmp_path, llm)
    import_demo_candles(CandleStore.from_settings(settings))
    draft = draft_setup(settings, IDEA, hits=[SWEEP])

    assert draft.preview is not None and draft.preview.symbol == "BTC/USDT"
    assert draft.preview.timeframe == "5m" and draft.preview.signals > 0
    assert draft.preview.metrics["trades"] == len(draft.preview.result.trades) > 0
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())

    saved = save_draft(settings, draft)
    assert (saved.id, saved.version) == ("asia-sweep-fvg-draft", 1)
    assert saved.setup.sources[0].source == SWEEP.source
    with pytest.raises(SetupError, match="exists already"):
        save_draft(settings, draft)


def test_without_candles_the_draft_says_why_there_is_no_preview(tmp_path, llm):
    draft = draft_setup(_settings(tmp_path, llm), IDEA, hits=[])

    assert draft.valid and draft.preview is None and draft.sources == []
    assert any(note.startswith("no preview: no candles stored for 'BTC/USDT'")
               for note in draft.notes)


def test_without_an_llm_it_says_how_to_enable_it(tmp_path):
    with pytest.raises(ConfigurationError, match="set ITA_LLM_MODEL"):
        draft_setup(Settings(home=tmp_path, llm_model=None), IDEA, hits=[])
