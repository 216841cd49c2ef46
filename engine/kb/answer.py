"""Answers from the trader's own theory: `ask(settings, question)`.

What a trader can rely on:

- **The passages, always.** `Answer.hits` are the knowledge base's best passages for the
  question with their sources (file, page, heading), with or without an LLM.
- **Theory first, never the model's own knowledge.** With an LLM configured (`engine.llm`),
  the model is given the relevant passages numbered ``[1]``, ``[2]``... and the question, and
  is told to answer in two to five sentences only from them, citing them by number, in the
  question's language. The reply is checked: a citation of a passage that was not given
  (``[7]`` when five were) is taken out and listed in `Answer.removed`; a reply that cites no
  passage at all is kept but flagged in `Answer.warnings`.
- **Without an LLM the passages are the answer.** `Answer.passages` are all the hits, best
  first, and the trader reads them; "The base has nothing on this." (Russian: "В базе об этом
  ничего нет.") only when the search found nothing at all (an empty base, or filters that
  leave nothing). When even the best hit scores below `RELEVANCE_FLOOR` a warning says the
  passages may not answer the question — a score never hides a passage.
- **With an LLM, "nothing in the base" is an answer.** The model is asked only when some hit
  scores at least `RELEVANCE_FLOOR`, and is given those hits; otherwise the answer is "The
  base has nothing on this." without calling it. The floor is low on purpose — the model
  itself is told to say those words when the passages do not answer — and only keeps
  off-topic questions (and empty or unrelated bases) from costing a model call.
- **The question's language.** A question written mostly in Cyrillic is answered in Russian,
  otherwise in English (English trading terms inside a Russian question do not change that).

>>> answer = ask(settings, "Что такое FVG?", hits=hits)  # doctest: +SKIP
>>> answer.answer  # doctest: +SKIP
'FVG — это разрыв между тенью первой и третьей свечи [1].'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from engine.llm import using

RELEVANCE_FLOOR = 0.12
"""A hit scoring below this (`Hit.score`, higher is better) is not worth a model call.

Calibrated on the retrieval set (tests/kb/questions.py, through `engine.kb.search`): the best
hit of every one of its 46 trading questions scores 0.21 or more (dense plus the glossary's
exact-term bonus; the dense score alone of a right cross-lingual passage can be 0.07-0.12),
the best hit of its off-topic questions (weather, recipes, football) 0.07-0.15. The floor sits
well under the first, so a trading question is never answered "nothing" by the floor alone,
and above most of the second; tests/kb/test_retrieval.py keeps both true."""
PASSAGE_CHARS = 1200  # per passage in the prompt
MAX_TOKENS = 500
NOTHING = {"en": "The base has nothing on this.", "ru": "В базе об этом ничего нет."}
LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}

SYSTEM_PROMPT = (
    "You answer a trader's question ONLY from the numbered passages of the trader's own "
    "knowledge base given below. Rules: use no knowledge of your own; cite every statement "
    "with the number of the passage it comes from, like [1] or [2][3]; cite only the numbers "
    "given; write two to five short sentences in {language}, no markdown. If the passages do "
    "not answer the question, reply exactly: {nothing}")

_CITATION = re.compile(r"\[(\s*\d+(?:\s*[,;]\s*\d+)*\s*)\]")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_LATIN = re.compile(r"[A-Za-z]")
_SHA_SUFFIX = re.compile(r"--[0-9a-f]{8}$")


@dataclass(frozen=True)
class Answer:
    """The passages found and, with an LLM, the answer written from them."""

    question: str
    language: str  # "ru" | "en": the language of the question and of the answer
    hits: list  # every hit the search returned, best first
    passages: list  # with an LLM the hits it was given, numbered from 1 as the answer cites
    # them; without one every hit (the passages are the answer)
    answer: str | None  # None without an LLM (the passages are the answer)
    nothing: bool  # no relevant passage: the answer is `NOTHING` in the question's language
    cited: tuple[int, ...] = ()  # passage numbers the answer cites
    removed: tuple[int, ...] = ()  # citations of passages that were not given, taken out
    warnings: tuple[str, ...] = field(default=())


def question_language(text: str) -> str:
    """``"ru"`` when at least a third of the letters are Cyrillic, else ``"en"``.

    >>> question_language("Что такое FVG и CHoCH?"), question_language("What is an FVG?")
    ('ru', 'en')
    """
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    return "ru" if cyrillic and cyrillic * 3 >= cyrillic + latin else "en"


def relevant(hits: Sequence[Any], *, min_score: float = RELEVANCE_FLOOR) -> list:
    """The hits at or above the relevance floor, in their order."""
    return [hit for hit in hits if float(hit.score) >= min_score]


def document_title(source: str) -> str:
    """A readable name for a document key: the file's stem without ITA's ``--<sha8>``.

    >>> document_title("theory/smc-book--1a2b3c4d.pdf")
    'smc-book'
    """
    return _SHA_SUFFIX.sub("", PurePosixPath(source).stem)


def where(hit: Any) -> str:
    """``smc-book, p. 42 — Глава 2 > FVG`` for a hit."""
    text = document_title(hit.source)
    if hit.page is not None:
        text += f", p. {hit.page}"
    if hit.heading:
        text += f" — {hit.heading}"
    return text


def build_messages(question: str, passages: Sequence[Any], language: str) -> list[dict]:
    """The chat messages: the rules, then the numbered passages and the question."""
    body = "\n\n".join(f"[{n}] ({where(hit)})\n{_cut(' '.join(hit.text.split()))}"
                       for n, hit in enumerate(passages, 1))
    system = SYSTEM_PROMPT.format(language=LANGUAGE_NAMES[language], nothing=NOTHING[language])
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Passages:\n\n{body}\n\nQuestion: {question}"}]


def check_citations(reply: str, given: int) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """(`reply` without citations of passages outside 1..`given`, the numbers it cites, the
    numbers taken out).

    >>> check_citations("Gaps fill [1][7]. Sweeps [2, 9].", 3)
    ('Gaps fill [1]. Sweeps [2].', (1, 2), (7, 9))
    """
    cited: list[int] = []
    removed: list[int] = []

    def keep(match: re.Match) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        good = [n for n in numbers if 1 <= n <= given]
        removed.extend(n for n in numbers if n not in good)
        cited.extend(good)
        return f"[{', '.join(map(str, good))}]" if good else ""

    text = _CITATION.sub(keep, reply)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    return text, tuple(sorted(set(cited))), tuple(sorted(set(removed)))


def ask(settings, question: str, *, k: int = 5, hits: Sequence[Any] | None = None,
        min_score: float = RELEVANCE_FLOOR, llm: Any = None) -> Answer:
    """The passages for `question` and, when an LLM is configured (or `llm` given), a short
    answer from them only; see the module docstring. `hits` replaces the search (`Hit`s of
    `engine.kb.search`, best first)."""
    question = " ".join(question.split())
    language = question_language(question)
    if hits is None:
        from engine.kb.search import search

        hits = search(settings, question, k=k)
    hits = list(hits)
    if not hits:
        return Answer(question, language, hits, [], NOTHING[language], True)
    passages = relevant(hits, min_score=min_score)
    with using(settings, llm) as model:
        if model is None:
            warnings = () if passages else (
                f"no passage scores {min_score:.2f} or more: they may not answer the question",)
            return Answer(question, language, hits, hits, None, False, warnings=warnings)
        if not passages:
            return Answer(question, language, hits, [], NOTHING[language], True)
        reply = model.chat(build_messages(question, passages, language), max_tokens=MAX_TOKENS)
    if _says_nothing(reply, language):
        return Answer(question, language, hits, passages, NOTHING[language], True)
    text, cited, removed = check_citations(reply, len(passages))
    warnings = []
    if removed:
        warnings.append(f"the model cited passages that were not given ({_numbers(removed)}): "
                        "those citations were taken out")
    if not cited:
        warnings.append("the answer cites no passage: check it against the passages below")
    return Answer(question, language, hits, passages, text, False, cited, removed,
                  tuple(warnings))


def _says_nothing(reply: str, language: str) -> bool:
    said = " ".join(reply.split()).strip(" .\"'«»").casefold()
    return any(said.startswith(n.rstrip(".").casefold()) for n in NOTHING.values()) \
        or said == NOTHING[language].rstrip(".").casefold()


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(f"[{n}]" for n in numbers)


def _cut(text: str, limit: int = PASSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
