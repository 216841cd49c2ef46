"""Knowledge-base passages for the answer and draft tests: `engine.kb.search.Hit`s made by
hand, so these tests do not need the index."""

from __future__ import annotations

from engine.kb.search import Hit

BOOK = "theory/smc-book--1a2b3c4d.pdf"


def passage(n: int, text: str, *, score: float = 0.6, page: int | None = 42,
            source: str = BOOK, language: str = "en") -> Hit:
    return Hit(f"{source}#{n:05d}", text, source, page, "Chapter 2 > FVG", language,
                   "anna", (), score)


FVG = passage(12, "A fair value gap is the gap between the wick of the first candle and the "
                  "wick of the third candle of a strong move. Price tends to return into it.")
SWEEP = passage(13, "Снятие азиатского минимума в Лондоне: цена проходит ниже минимума азиатской "
                    "сессии и закрывается обратно выше него.", page=43, language="ru")
