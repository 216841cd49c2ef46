"""`ask`: passages always; with an LLM (the real openai client against the local fake
server) an answer from the given passages only, in the question's language; "nothing in the
base" without calling the model when no passage is relevant."""

from __future__ import annotations

import pytest

from engine.errors import ConfigurationError, TemporaryError
from engine.kb.answer import NOTHING, ask, check_citations, question_language
from engine.llm import chat_client
from engine.settings import Settings
from tests.fakes.openai_api import ANSWER_CITING_1_AND_7, FakeOpenAI
from tests.kb._passages import FVG, SWEEP, passage

KEY = "sk-test-2b7e"


@pytest.fixture()
def llm():
    with FakeOpenAI(reply=ANSWER_CITING_1_AND_7) as server:
        yield server


def _settings(tmp_path, server=None, **more) -> Settings:
    if server is None:
        return Settings(home=tmp_path, llm_model=None, **more)
    return Settings(home=tmp_path, llm_model="llama3.1", llm_base_url=server.base_url,
                    openai_api_key=KEY, **more)


def test_the_answer_cites_only_the_passages_it_was_given(tmp_path, llm):
    answer = ask(_settings(tmp_path, llm), "What is a fair value gap?", hits=[FVG, SWEEP])

    assert answer.answer == ("A fair value gap is the gap between the first and the third "
                             "candle [1]. Price often returns to it before continuing.")
    assert answer.cited == (1,) and answer.removed == (7,)
    assert any("[7]" in w for w in answer.warnings)
    assert answer.passages == [FVG, SWEEP] and not answer.nothing
    [request] = llm.requests
    prompt = request.messages[1]["content"]
    assert "[1] (smc-book, p. 42 — Chapter 2 > FVG)" in prompt and "[2]" in prompt
    assert "[3]" not in prompt
    assert "ONLY from the numbered passages" in request.messages[0]["content"]
    assert request.authorization == f"Bearer {KEY}"


def test_nothing_in_the_base_without_calling_the_model(tmp_path, llm):
    settings = _settings(tmp_path, llm)
    empty = ask(settings, "What is a fair value gap?", hits=[])
    weak = ask(settings, "Что такое ордер-блок?", hits=[passage(1, "Weather.", score=0.05)])

    assert empty.nothing and empty.answer == "The base has nothing on this."
    assert weak.nothing and weak.answer == "В базе об этом ничего нет."
    assert weak.hits and not weak.passages  # the hits are still shown
    assert llm.requests == []


def test_a_russian_question_is_answered_in_russian(tmp_path, llm):
    llm.reply = "Снятие — это проход ниже азиатского минимума [1]."
    answer = ask(_settings(tmp_path, llm), "Что такое снятие азиатского минимума (sweep)?",
                 hits=[SWEEP])

    assert answer.language == "ru" and answer.cited == (1,)
    assert "in Russian" in llm.requests[0].messages[0]["content"]
    assert NOTHING["ru"] in llm.requests[0].messages[0]["content"]


def test_the_model_saying_nothing_is_nothing(tmp_path, llm):
    llm.reply = "The base has nothing on this."
    answer = ask(_settings(tmp_path, llm), "What is the VIX?", hits=[FVG])

    assert answer.nothing and answer.answer == NOTHING["en"] and answer.cited == ()


def test_without_an_llm_the_passages_are_the_answer(tmp_path):
    answer = ask(_settings(tmp_path), "What is a fair value gap?", hits=[FVG])

    assert answer.answer is None and answer.passages == [FVG] and not answer.nothing


def test_llm_failures_are_one_line_errors_without_the_key(tmp_path, llm):
    settings = _settings(tmp_path, llm)
    llm.fail_next(401)
    with pytest.raises(ConfigurationError, match="ITA_OPENAI_API_KEY") as refused:
        ask(settings, "What is a fair value gap?", hits=[FVG])
    llm.fail_next(503)
    with pytest.raises(TemporaryError, match="HTTP 503") as busy:
        ask(settings, "What is a fair value gap?", hits=[FVG])
    for error in (refused.value, busy.value):
        assert KEY not in str(error) and "\n" not in str(error)


def test_a_slow_model_is_a_temporary_error(tmp_path):
    with FakeOpenAI(reply="late [1]", delay=1.0) as slow:
        settings = _settings(tmp_path, slow, llm_timeout_seconds=0.2)
        with pytest.raises(TemporaryError, match="no answer within 0.2 s"):
            ask(settings, "What is a fair value gap?", hits=[FVG])


def test_openai_without_a_key_says_so(tmp_path):
    assert chat_client(Settings(home=tmp_path, llm_model=None)) is None
    with pytest.raises(ConfigurationError, match="OpenAI needs a key"):
        chat_client(Settings(home=tmp_path, llm_model="gpt-4o-mini", llm_base_url=None,
                             openai_api_key=None))


def test_citations_and_language():
    assert check_citations("A [1, 7]. B [9]. C [2][3]", 2) == ("A [1]. B. C [2]", (1, 2),
                                                                (3, 7, 9))
    assert question_language("Как торговать FVG после CHoCH?") == "ru"
    assert question_language("How to trade an FVG after a CHoCH?") == "en"
