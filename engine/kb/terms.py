"""The trading glossary the search reads: one standard SMC/ICT/price-action term per row, with
every form a trader writes it in — the abbreviation, the English phrase(s), the Russian
phrase(s) and slang — so that "what is a fair value gap?" finds "Имбаланс, или FVG".

How a form is written in `GLOSSARY` (data, not code):

| form            | matches (case-insensitive, whole words)                              |
|-----------------|----------------------------------------------------------------------|
| ``FVG``         | an abbreviation: the word "fvg"; if every letter has a Cyrillic       |
|                 | look-alike, also those letters ("ОТЕ" typed in Russian is OTE)        |
| ``fair value gap`` | the words in order, joined by spaces, hyphens or nothing; the last |
|                 | word may take an English plural ("fair value gaps", "order-blocks")  |
| ``снят* ликвидност*`` | ``*`` ends a stem: "снятие ликвидности", "сняла ликвидность"   |

Only standard terms of the trade are here (ICT/SMC and common price action); a row never maps
a term to a merely related idea. Terms whose forms overlap ("inverse FVG" contains "FVG") are
told apart by the longest match in a query.

>>> [term.key for term in find_terms("What is a fair value gap after a CHoCH?")]
['FVG', 'CHoCH']
>>> term_named("FVG").pattern.search("имбаланс на H1") is not None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

GLOSSARY: dict[str, tuple[str, ...]] = {
    # gaps and imbalances
    "FVG": ("FVG", "ФВГ", "fair value gap", "imbalance", "имбаланс*", "неэффективност*",
            "разрыв* справедлив* стоимост*"),
    "IFVG": ("IFVG", "inverse fvg", "inversion fvg", "inverse fair value gap",
             "инверсн* fvg", "инверсн* имбаланс*"),
    "BPR": ("BPR", "balanced price range", "сбалансированн* ценов* диапазон*"),
    "volume imbalance": ("volume imbalance", "объёмн* имбаланс*"),
    # blocks
    "order block": ("OB", "order block", "ордер блок*", "ордерблок*", "ордер-блок*"),
    "breaker block": ("breaker", "breaker block", "брейкер*", "брейкер блок*"),
    "mitigation block": ("mitigation block", "митигейшн блок*", "блок* митигаци*"),
    "rejection block": ("rejection block", "реджекшн блок*", "блок* отказ*"),
    "propulsion block": ("propulsion block", "пропалшн блок*"),
    "mitigation": ("mitigation", "mitigated", "митигаци*", "митигир*"),
    # structure
    "BOS": ("BOS", "break of structure", "слом* структур*", "пробо* структур*"),
    "CHoCH": ("CHoCH", "change of character", "смен* характер*"),
    "MSS": ("MSS", "market structure shift", "сдвиг* структур* рынк*",
            "смещени* структур* рынк*"),
    "displacement": ("displacement", "смещени*", "дисплейсмент*"),
    "inducement": ("inducement", "IDM", "индьюсмент*", "индюсмент*"),
    "swing high": ("swing high", "свинг хай*", "swing-high"),
    "swing low": ("swing low", "свинг лоу*"),
    # liquidity
    "liquidity sweep": ("sweep", "liquidity sweep", "liquidity grab", "liquidity raid",
                        "свип*", "сня* ликвидност*", "сним* ликвидност*",
                        "сбор* ликвидност*"),
    "stop hunt": ("stop hunt", "stop run", "охот* за стоп*", "стоп хант*"),
    "buy-side liquidity": ("BSL", "buy side liquidity", "buyside liquidity",
                           "ликвидност* покупател*", "байсайд*"),
    "sell-side liquidity": ("SSL", "sell side liquidity", "sellside liquidity",
                            "ликвидност* продав*", "селлсайд*", "селсайд*"),
    "equal highs": ("EQH", "equal highs", "равн* максимум*", "равн* хай*"),
    "equal lows": ("EQL", "equal lows", "равн* минимум*", "равн* лоу*"),
    "liquidity": ("liquidity", "ликвидност*"),
    "Judas swing": ("judas swing", "иуд* свинг*", "свинг* иуд*"),
    "turtle soup": ("turtle soup", "черепаший суп*", "черепаш* суп*"),
    # entries and ranges
    "OTE": ("OTE", "optimal trade entry", "оптимальн* точк* вход*", "оптимальн* вход*"),
    "premium and discount": ("premium", "discount", "премиум*", "дискаунт*"),
    "equilibrium": ("equilibrium", "эквилибриум*", "равновеси*"),
    "dealing range": ("dealing range", "дилинг* диапазон*", "дилинговый рейндж*"),
    "SMT divergence": ("SMT", "smt divergence", "smt дивергенци*"),
    "PO3": ("PO3", "AMD", "power of three", "accumulation manipulation distribution",
            "сила трёх", "накоплени* манипуляци* распределени*"),
    "CBDR": ("CBDR", "central bank dealers range"),
    "NWOG": ("NWOG", "new week opening gap"),
    "NDOG": ("NDOG", "new day opening gap"),
    "silver bullet": ("silver bullet", "сильвер буллет*", "серебрян* пул*"),
    # sessions and time
    "kill zone": ("killzone", "kill zone", "килл зон*", "киллзон*", "кил зон*"),
    "Asian session": ("asia", "asian session", "asian range", "азия", "азии", "азию", "азией",
                      "азиатск*"),
    "London session": ("london", "london session", "лондон*"),
    "New York session": ("new york", "NY session", "нью йорк*", "нью-йорк*"),
    "London open": ("london open", "открыти* лондон*"),
    "NY open": ("new york open", "NY open", "открыти* нью йорк*"),
    # risk and management
    "stop loss": ("SL", "stop loss", "стоп лосс*", "стоп-лосс*", "стоплосс*"),
    "take profit": ("TP", "take profit", "тейк профит*", "тейк-профит*", "тейк*"),
    "breakeven": ("breakeven", "break even", "безубыт*", "БУ"),
    "risk-reward": ("RR", "risk reward", "risk to reward", "risk/reward", "соотношени* риск*",
                    "риск прибыл*"),
    "partials": ("partials", "partial profit", "partial profits", "частичн* фиксаци*",
                 "частичн* закрыти*"),
    "drawdown": ("DD", "drawdown", "просадк*"),
    # price action
    "wick": ("wick", "shadow", "тень", "тени", "тенью", "фитил*"),
    "engulfing": ("engulfing", "поглощени*"),
    "pin bar": ("pin bar", "пин бар*", "пинбар*"),
    "support and resistance": ("support", "resistance", "поддержк*", "сопротивлени*"),
    "retracement": ("retracement", "pullback", "откат*", "коррекци*", "ретрейсмент*"),
    "trend": ("trend", "тренд*"),
    "consolidation": ("consolidation", "range bound", "консолидаци*", "флэт*", "флет*"),
}
"""Term -> its forms (see the module docstring for how a form matches)."""

_LATIN_LOOKALIKE = str.maketrans("abekmhopctyx", "авекмнорстух")
_JOIN = r"[\s\-/]*"


@dataclass(frozen=True)
class Term:
    """One glossary row: `key` (the term as the glossary names it), its `forms`, `pattern`
    (any form as a whole word, for short texts and `fullmatch`) and `scans` (one pattern per
    form variant, each starting with a literal so that a scan over megabytes of passages runs
    at C speed; `mentions` checks the word boundary before it)."""

    key: str
    forms: tuple[str, ...]
    pattern: re.Pattern
    scans: tuple[re.Pattern, ...]


def fold(text: str) -> str:
    """`text` lower-cased with "ё" read as "е" (same length, so positions hold)."""
    return text.lower().replace("ё", "е")


def _is_abbreviation(form: str) -> bool:
    return " " not in form and sum(ch.isupper() for ch in form) >= 2


def _word(word: str, *, last: bool) -> str:
    word = fold(word)
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"\w*"
    text = re.escape(word)
    if last and word.isascii() and word.isalpha():
        return text + "(?:s|es)?"
    return text


def form_variants(form: str) -> list[str]:
    """The regular expressions of one form, without the word boundaries (see the table in the
    module docstring)."""
    if _is_abbreviation(form):
        word = fold(form)
        variants = [re.escape(word)]
        letters = [ch for ch in word if ch.isalpha()]
        if letters and all(ch in "abekmhopctyx" for ch in letters):
            variants.append(re.escape(word.translate(_LATIN_LOOKALIKE)))
        return variants
    words = form.replace("-", " ").replace("/", " ").split()
    return [_JOIN.join(_word(w, last=i == len(words) - 1) for i, w in enumerate(words))]


def _term(key: str, forms: tuple[str, ...]) -> Term:
    variants = [v for form in sorted(forms, key=len, reverse=True) for v in form_variants(form)]
    return Term(key, forms, re.compile(rf"(?<!\w)(?:{'|'.join(variants)})(?!\w)"),
                tuple(re.compile(rf"{v}(?!\w)") for v in variants))


@cache
def glossary() -> tuple[Term, ...]:
    """Every term of `GLOSSARY`, compiled once."""
    return tuple(_term(key, forms) for key, forms in GLOSSARY.items())


def term_named(key: str) -> Term:
    """The glossary row called `key` (KeyError if there is none)."""
    for term in glossary():
        if term.key == key:
            return term
    raise KeyError(key)


def mentions(term: Term, folded: str) -> list[tuple[int, int]]:
    """(start, end) of every mention of `term` in `folded` (a text passed through `fold`),
    in order; where two forms overlap ("liquidity sweep", "sweep") the longer one counts."""
    found = sorted((match.start(), -match.end()) for scan in term.scans
                    for match in scan.finditer(folded)
                    if not _word_char(folded[match.start() - 1:match.start()]))
    spans: list[tuple[int, int]] = []
    for start, negative_end in found:
        if not spans or start >= spans[-1][1]:
            spans.append((start, -negative_end))
    return spans


def _word_char(text: str) -> bool:
    return bool(text) and (text.isalnum() or text == "_")


def find_terms(text: str) -> list[Term]:
    """The glossary terms `text` mentions, in the order it mentions them; where two forms
    overlap ("inverse FVG" and "FVG") only the longer one counts."""
    lowered = fold(text)
    found = [(start, end, term) for term in glossary() for start, end in mentions(term, lowered)]
    found.sort(key=lambda item: (item[0] - item[1], item[0]))  # longest first
    taken: list[tuple[int, int]] = []
    first: dict[str, tuple[int, Term]] = {}
    for start, end, term in found:
        if any(start < right and left < end for left, right in taken):
            continue
        taken.append((start, end))
        if term.key not in first or start < first[term.key][0]:
            first[term.key] = (start, term)
    return [term for _, term in sorted(first.values(), key=lambda item: item[0])]
