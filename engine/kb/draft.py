"""From words to a setup: `draft_setup(settings, idea)` asks the LLM for a setup YAML.

The trader describes an idea in Russian or English ("после снятия азиатского минимума в
Лондоне вход от FVG, стоп за свип, цель 2R"). With an LLM configured (`engine.llm`):

1. **The prompt** holds the setup schema (a compact outline read from the pydantic models:
   every field with its type, default and description), the detector catalogue (each block of
   `engine.setups.schema.DETECTOR_BLOCKS`: its one-line doc and parameters), two example
   setups from ``examples/setups/``, and the knowledge base's relevant passages for the idea,
   numbered ``[1]``, ``[2]``... The model is asked for one YAML document and, on its first
   line, ``# passages: <numbers>`` naming the passages it relied on.
2. **The real validator** (`engine.setups.parse.parse_setup`) checks the reply. On errors the
   validator's own messages go back to the model, which repairs the draft: at most
   `REPAIR_ROUNDS` (two) rounds, so at most three replies. A draft still invalid after that is
   returned with its errors (`Draft.valid` False), never saved.
3. **Sources.** ``sources:`` is written by ITA, not by the model: one entry per passage the
   reply names (its document key, page, chunk id and the first 300 characters); a ``sources:``
   the model wrote itself is replaced.
4. **A preview.** A valid draft is backtested on the stored candles of its first symbol (or
   `symbol`) by `engine.backtest.run.preview_backtest`: nothing is written.

Nothing is saved until the trader saves (`save_draft`, ``ita setup draft --save``, the
Setups page). Without an LLM `draft_setup` raises a `ConfigurationError` saying how to turn it
on (`engine.llm.HOW_TO_ENABLE`).

>>> draft = draft_setup(settings, "London sweep of the Asia low, then FVG")  # doctest: +SKIP
>>> draft.valid, draft.rounds, draft.preview.metrics["trades"]  # doctest: +SKIP
(True, 1, 14)
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from engine.candles import TIMEFRAMES
from engine.errors import DataError, SetupError
from engine.kb.answer import PASSAGE_CHARS, relevant, where
from engine.llm import using
from engine.settings import PROJECT_DIR
from engine.setups import schema
from engine.setups.edit import DELETE, apply_changes
from engine.setups.parse import parse_setup

REPAIR_ROUNDS = 2
MAX_TOKENS = 1500
EXAMPLES = ("london-asia-sweep-fvg.yaml", "ny-fvg-continuation.yaml")
EXAMPLES_DIR = PROJECT_DIR / "examples" / "setups"
SOURCE = "draft.yaml"

SYSTEM_PROMPT = (
    "You turn a trader's idea into one ITA setup: a YAML document in the format below. Use "
    "only the fields and detectors listed; keep it as simple as the idea allows. Reply with "
    "the YAML only, in one ```yaml block. Its first line is a comment naming the numbers of "
    "the knowledge-base passages you relied on, e.g. `# passages: 1, 3` (`# passages: none` "
    "when none). Do not write a `sources:` section: ITA writes it.")

_FENCE = re.compile(r"```(?:ya?ml)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_PASSAGES = re.compile(r"^#\s*passages\s*:\s*(.*)$", re.MULTILINE | re.IGNORECASE)
_OUTLINED = (schema.Setup, schema.Market, schema.Filters, schema.Hours, schema.Plan,
             schema.Entry, schema.Stop, schema.Target, schema.Partial, schema.Risk,
             schema.Costs, schema.ParamRange)


@dataclass(frozen=True)
class Draft:
    """A setup drafted from an idea; not saved."""

    idea: str
    yaml_text: str  # the last YAML the model wrote (with ITA's `sources:` when valid)
    valid: bool
    errors: list[str]  # the validator's messages for the last reply (empty when valid)
    rounds: int  # replies asked for: 1, or 2-3 when the draft needed repairs
    sources: list[dict]  # the passages it relied on, as in the YAML's `sources:`
    preview: Any = None  # engine.backtest.run.Preview of a valid draft, when candles exist
    notes: list[str] = field(default_factory=list)  # why there is no preview, and the like
    setup: schema.Setup | None = None


# --- the prompt -----------------------------------------------------------------------------

def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin in (list, tuple):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(args[1])}" if len(args) == 2 else "mapping"
    return getattr(annotation, "__name__", str(annotation))


_SPECIAL_TYPES = {"conditions": "mapping of <name>: <detector block, below>",
                  "signal": "signal tree (below)",
                  "timeframe": f"one of {'|'.join(TIMEFRAMES)}",
                  "context_timeframe": f"one of {'|'.join(TIMEFRAMES)}"}


def _field_line(name: str, info) -> str:
    default = "" if info.is_required() else (
        "" if info.default_factory is not None or info.default is None
        else f" = {info.default!r}" if isinstance(info.default, str)
        else f" = {info.default}")
    required = " (required)" if info.is_required() else ""
    kind = _SPECIAL_TYPES.get(name) or _type_name(info.annotation)
    return (f"  {info.alias or name}: {kind}{default}{required} — "
            f"{info.description or ''}").rstrip(" —")


def _outline(model: type[BaseModel], *, skip: tuple[str, ...] = ()) -> str:
    lines = [f"{model.__name__}:"]
    lines += [_field_line(name, info) for name, info in model.model_fields.items()
              if name not in skip]
    return "\n".join(lines)


def schema_outline() -> str:
    """The setup format, compact: each section's fields with type, default and description."""
    parts = [_outline(m, skip=("sources",) if m is schema.Setup else ()) for m in _OUTLINED]
    parts.append("signal: a condition name, or {all: [...]}, {any: [...]}, {not: ...}, or "
                 "{sequence: [a, b], within_bars: N} (a, then b within N bars); plan levels "
                 "are <condition>.<top|bottom|mid|level|extreme>")
    return "\n\n".join(parts)


def detector_catalogue() -> str:
    """Every detector block: its name, one-line doc and parameters."""
    out = []
    for name, block in schema.DETECTOR_BLOCKS.items():
        doc = (block.__doc__ or "").strip().splitlines()[0]
        params = [_field_line(n, info).strip() for n, info in block.model_fields.items()
                  if n != "detector"]
        out.append(f"- {name}: {doc}\n    " + "\n    ".join(params))
    return "\n".join(out)


def examples() -> str:
    return "\n\n".join(f"```yaml\n{(EXAMPLES_DIR / name).read_text(encoding='utf-8')}```"
                       for name in EXAMPLES)


def build_messages(idea: str, passages: Sequence[Any]) -> list[dict[str, str]]:
    """The first request: the format, the detectors, the examples, the passages, the idea."""
    theory = "\n\n".join(f"[{n}] ({where(hit)})\n{' '.join(hit.text.split())[:PASSAGE_CHARS]}"
                         for n, hit in enumerate(passages, 1)) or "(none found)"
    user = (f"The setup format:\n\n{schema_outline()}\n\nDetectors (conditions: "
            f"{{<name>: {{detector: <detector>, ...}}}}):\n{detector_catalogue()}\n\n"
            f"Two example setups:\n\n{examples()}\n\nThe trader's knowledge base on this "
            f"idea:\n\n{theory}\n\nThe trader's idea: {idea}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def repair_message(errors: list[str]) -> dict[str, str]:
    return {"role": "user", "content": "The validator found these problems:\n"
            + "\n".join(f"- {e}" for e in errors)
            + "\nReply with the whole corrected YAML only, in one ```yaml block, with the "
              "`# passages:` line first."}


# --- the reply ------------------------------------------------------------------------------

def yaml_of(reply: str) -> str:
    """The YAML in a reply: its first fenced block, else the whole reply."""
    match = _FENCE.search(reply)
    text = match.group(1) if match else reply
    return text.strip("\n") + "\n"


def passages_named(yaml_text: str, given: int) -> list[int]:
    """The passage numbers (1..`given`) named by the ``# passages:`` line."""
    match = _PASSAGES.search(yaml_text)
    numbers = [int(n) for n in re.findall(r"\d+", match.group(1))] if match else []
    return sorted({n for n in numbers if 1 <= n <= given})


def source_entries(passages: Sequence[Any], numbers: Sequence[int]) -> list[dict]:
    """``sources:`` entries for the passages numbered `numbers` (1-based)."""
    entries = []
    for n in numbers:
        hit = passages[n - 1]
        quote = " ".join(hit.text.split())
        if len(quote) > schema.QUOTE_CHARS:
            quote = quote[:schema.QUOTE_CHARS - 1].rstrip() + "…"
        entries.append({"source": hit.source, "page": hit.page, "chunk": hit.chunk_id,
                        "quote": quote})
    return entries


def _check(reply: str) -> tuple[str, schema.Setup | None, list[str]]:
    text = yaml_of(reply)
    try:
        return text, parse_setup(text, source=SOURCE), []
    except SetupError as error:
        return text, None, str(error).splitlines()


# --- the loop -------------------------------------------------------------------------------

def _ask_and_repair(model, messages: list[dict]) -> tuple[str, Any, list[str], int]:
    """(last YAML, its setup or None, its errors, replies asked for): the first reply, then
    at most `REPAIR_ROUNDS` repairs from the validator's messages."""
    reply = model.chat(messages, max_tokens=MAX_TOKENS)
    text, setup, errors = _check(reply)
    rounds = 1
    while errors and rounds <= REPAIR_ROUNDS:
        messages = [*messages, {"role": "assistant", "content": reply}, repair_message(errors)]
        reply = model.chat(messages, max_tokens=MAX_TOKENS)
        text, setup, errors = _check(reply)
        rounds += 1
    return text, setup, errors, rounds


def draft_setup(settings, idea: str, *, preview: bool = True, symbol: str | None = None,
                hits: Sequence[Any] | None = None, llm: Any = None, k: int = 5) -> Draft:
    """A setup drafted by the LLM from `idea`, validated, repaired at most twice, with its
    sources and (`preview`) a backtest preview; see the module docstring. `hits` replaces
    the knowledge-base search (`engine.kb.search.Hit`s, best first)."""
    idea = " ".join(idea.split())
    if not idea:
        raise SetupError("describe the idea in a few words, e.g. \"London sweep of the Asia "
                         "low, then a bullish FVG, stop beyond the sweep, target 2R\"")
    with using(settings, llm, required=True) as model:
        if hits is None:
            from engine.kb.search import search

            hits = search(settings, idea, k=k)
        passages = relevant(list(hits))
        text, setup, errors, rounds = _ask_and_repair(model, build_messages(idea, passages))
    if setup is None:
        return Draft(idea, text, False, errors, rounds, [],
                     notes=[f"the draft is still invalid after {REPAIR_ROUNDS} repairs: "
                            "edit it by hand or describe the idea differently"])
    sources = source_entries(passages, passages_named(text, len(passages)))
    text = apply_changes(text, {"sources": sources or DELETE}, source=SOURCE)
    setup = parse_setup(text, source=SOURCE)
    notes = [] if sources else ["the draft relies on no passage of the knowledge base"]
    found = None
    if preview:
        found, note = _preview(settings, setup, symbol)
        notes += [note] if note else []
    return Draft(idea, text, True, [], rounds, sources, found, notes, setup)


def _preview(settings, setup: schema.Setup, symbol: str | None):
    from engine.adapters.store import CandleStore
    from engine.backtest.run import preview_backtest

    try:
        return preview_backtest(setup, symbol=symbol,
                                candle_store=CandleStore.from_settings(settings)), None
    except DataError as error:
        return None, f"no preview: {error}"


def save_draft(settings, draft: Draft, *, activate: bool = True):
    """Store a valid draft as version 1 of a new setup; a `SetupError` when it is invalid or
    its id is taken (a draft never becomes a version of someone else's setup)."""
    from engine.setups.store import SetupStore

    if not draft.valid or draft.setup is None:
        raise SetupError("the draft is not valid: fix it before saving\n"
                         + "\n".join(draft.errors))
    store = SetupStore.from_settings(settings)
    if draft.setup.id in store.ids():
        raise SetupError(f"{SOURCE}: id: a setup {draft.setup.id!r} exists already: give the "
                         "draft another id")
    return store.save(draft.yaml_text, activate=activate, source=SOURCE)
