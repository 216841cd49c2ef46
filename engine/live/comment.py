"""An optional short comment on a live alert, from any OpenAI-compatible LLM.

Off by default (``ITA_LLM_COMMENT``); the endpoint is ``ITA_LLM_BASE_URL`` (a local Ollama or
LM Studio, or OpenAI when empty), the model ``ITA_LLM_MODEL``, the key ``ITA_OPENAI_API_KEY``
(not needed by a local server). What a trader can rely on:

- **Facts only.** The prompt (`build_prompt`) holds the alert's own facts and nothing else: the
  setup's name and description, the signal (symbol, timeframe, direction, plan, planned R, its
  bar), the detections behind it, the ranking's score, strengths, weaknesses and warnings, and
  passages from the knowledge base when they are given (``context``). No candles, no other
  signals, no paths, no keys. The model is asked for at most two short sentences in the
  trader's words and no number that is not in the facts; a reply that quotes a number the
  facts do not hold (rounding allowed) is dropped, never shown.
- **Never in the way.** The alert is sent first. `Commenter.comment_later` asks the model on a
  worker thread and, when the answer comes, edits it into the sent caption as a last line
  ``💬 …`` within Telegram's 1,024 characters (the decision buttons kept). A failure, an
  answer later than ``llm_timeout_seconds`` or an empty answer is one log line (logger
  ``ita.live.comment``, never the API key) and the alert stays as it was sent.
- **Recorded.** The comment is stored with the signal in the journal (column ``comment``).

`CommentingChannel` wraps a channel so that `engine.notify.delivery.deliver_pending` sends as
before and every alert it sends is commented afterwards.

>>> commenter = Commenter.from_settings(get_settings())  # doctest: +SKIP
>>> channel = CommentingChannel(telegram, commenter, journal, facts)  # doctest: +SKIP
>>> deliver_pending(journal, channel, render)  # sends first, comments later  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.backtest.presentation import price_decimals
from engine.candles import timeframe_delta
from engine.errors import ItaError
from engine.live.alert import CAPTION_LIMIT, finite_number, reasons_of, telegram_length
from engine.live.rank import Rank, SignalLike

log = logging.getLogger("ita.live.comment")

COMMENT_MARK = "💬 "
COMMENT_CHARS = 280  # a comment longer than this (after two sentences) is cut
MAX_SENTENCES = 2
MAX_TOKENS = 120
PASSAGE_CHARS = 600  # per knowledge-base passage in the prompt
MAX_PASSAGES = 5
DESCRIPTION_CHARS = 600

SYSTEM_PROMPT = (
    "You comment on one trading alert for a discretionary trader. Write at most two short "
    "sentences in {language}, in the trader's plain words. Use only the facts you are given: "
    "never invent a number, price, statistic, news or event; quote a number only as it "
    "appears in the facts. Say what stands out (the evidence for or against it, or what to "
    "check before acting). No greeting, no disclaimer, no markdown.")


@dataclass(frozen=True)
class CommentFacts:
    """What a comment may be written from: the signal, its ranking, its setup (anything with
    ``name`` and ``description``, e.g. the `Setup` model) and knowledge-base passages."""

    signal: SignalLike
    rank: Rank
    setup: Any = None
    context: tuple[str, ...] = ()


# --- the prompt --------------------------------------------------------------------------------


def alert_facts(signal: SignalLike, rank: Rank, *, setup: Any = None) -> list[str]:
    """The alert's facts as short lines (the prompt's body)."""
    d = max(2, price_decimals([float(signal.entry)]))
    side = "long" if signal.direction > 0 else "short"
    name = str(getattr(setup, "name", "") or signal.setup_id)
    lines = [f"Setup: {name} ({signal.setup_id} v{int(signal.setup_version)})"]
    description = " ".join(str(getattr(setup, "description", "") or "").split())
    if description:
        lines.append(f"Setup idea: {_cut(description, DESCRIPTION_CHARS)}")
    start = pd.Timestamp(signal.known_at).tz_convert("UTC")
    end = start + timeframe_delta(signal.timeframe)
    lines.append(f"Signal: {side} {signal.symbol} on the {signal.timeframe} chart, bar "
                 f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC")
    plan = [f"{signal.entry_type} entry {float(signal.entry):,.{d}f}",
            f"stop {float(signal.stop):,.{d}f}"]
    if _finite(signal.target):
        plan.append(f"target {float(signal.target):,.{d}f}")
    plan.append(f"planned {float(signal.r_planned):.2f} R")
    lines.append("Plan: " + ", ".join(plan))
    why = _why(signal, d)
    if why:
        lines.append(f"Why it fired: {why}")
    history = (f"from {rank.trades} backtest trades" if rank.trades
               else "no backtest history yet")
    lines.append(f"Score: {rank.score:+.2f} R per trade ({history})")
    lines += [f"Strength: {s}" for s in rank.strengths]
    lines += [f"Weakness: {w}" for w in rank.weaknesses]
    lines += [f"Warning: {w}" for w in rank.warnings]
    return lines


def build_prompt(signal: SignalLike, rank: Rank, *, setup: Any = None,
                 context: Iterable[str] = (), language: str = "English") -> list[dict[str, str]]:
    """The chat messages for one alert: the rules, then the facts (and the knowledge base's
    passages, when given). Nothing else goes in."""
    body = "Alert facts:\n" + "\n".join(f"- {line}" for line in
                                        alert_facts(signal, rank, setup=setup))
    passages = [_cut(" ".join(str(p).split()), PASSAGE_CHARS) for p in context if str(p).strip()]
    if passages:
        body += "\n\nFrom the trader's knowledge base:\n" + "\n".join(
            f"- {p}" for p in passages[:MAX_PASSAGES])
    return [{"role": "system", "content": SYSTEM_PROMPT.format(language=language)},
            {"role": "user", "content": body}]


def _why(signal: SignalLike, decimals: int) -> str:
    parts = []
    for reason in reasons_of(signal):
        top, bottom = finite_number(reason.get("top")), finite_number(reason.get("bottom"))
        prices = "" if top is None else (
            f" at {top:,.{decimals}f}" if bottom is None or bottom == top
            else f" {bottom:,.{decimals}f}-{top:,.{decimals}f}")
        parts.append(f"{reason.get('condition', '')} ({reason.get('kind', '')}{prices})")
    return "; ".join(parts)


# --- the answer --------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def clean_comment(reply: str | None, facts: str) -> str | None:
    """The model's `reply` as it may be shown: a reasoning model's ``<think>`` block, markdown
    marks and extra whitespace removed, at most two sentences, at most `COMMENT_CHARS`
    characters; None when it is empty or quotes a number that `facts` does not hold."""
    text = _THINKING.sub(" ", reply or "")
    text = " ".join(text.replace("**", "").replace("`", "").split()).strip(" \"'")
    if not text:
        return None
    text = " ".join(_SENTENCE_END.split(text)[:MAX_SENTENCES])
    invented = invented_numbers(text, facts)
    if invented:
        log.info("LLM comment dropped: it quotes %s, which the alert's facts do not hold",
                 ", ".join(invented[:3]))
        return None
    return _cut(text, COMMENT_CHARS)


def invented_numbers(text: str, facts: str) -> list[str]:
    """The numbers of `text` that are not in `facts`, even rounded (``0.4`` is in ``0.42``)."""
    known = [_value(n) for n in _NUMBER.findall(facts)]
    invented = []
    for raw in _NUMBER.findall(text):
        value = _value(raw)
        places = len(raw.partition(".")[2])
        if not any(k == value or round(k, places) == value for k in known):
            invented.append(raw)
    return invented


def with_comment(caption: str, comment: str) -> str:
    """`caption` with ``💬 comment`` as its last line, the comment shortened (…) so the whole
    stays within Telegram's 1,024 characters; `caption` unchanged when there is no room."""
    room = CAPTION_LIMIT - telegram_length(caption) - 1
    text = comment
    while text:
        line = COMMENT_MARK + html.escape(text, quote=False)
        if telegram_length(line) <= room:
            return f"{caption}\n{line}"
        words = text[:-1].rsplit(" ", 1)[0] if " " in text.strip() else ""
        text = (words.rstrip(" ,;:") + "…") if len(words) >= 20 else ""
    return caption


# --- the commenter -----------------------------------------------------------------------------


class Commenter:
    """Comments from `model` at `base_url` (OpenAI when None) through the real `openai` client,
    waiting at most `timeout` seconds, on `workers` background threads (see the module
    docstring). `client` replaces the OpenAI client (tests)."""

    def __init__(self, *, model: str, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 20.0, language: str = "English", workers: int = 1,
                 client: Any = None) -> None:
        import openai

        from engine.llm import openai_client

        self.model, self.timeout, self.language = model, float(timeout), language
        self._secret = api_key or ""
        self.client = client or openai_client(base_url=base_url, api_key=api_key,
                                              timeout=self.timeout)
        self._errors: tuple[type[BaseException], ...] = (openai.OpenAIError,)
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                        thread_name_prefix="llm-comment")

    @classmethod
    def from_settings(cls, settings) -> Commenter | None:
        """A commenter when ``llm_comment`` is on and ``llm_model`` is set, else None."""
        if not settings.llm_comment:
            return None
        if not settings.llm_model:
            log.warning("LLM comment is on but ITA_LLM_MODEL is empty: alerts go without one")
            return None
        key = settings.openai_api_key
        return cls(model=settings.llm_model, base_url=settings.llm_base_url,
                   api_key=key.get_secret_value() if key is not None else None,
                   timeout=settings.llm_timeout_seconds)

    def close(self, *, drop_queued: bool = False) -> None:
        """Wait for the comments under way, then stop the worker threads; `drop_queued` skips
        those not started yet (a monitor shutting down does not wait for a backlog)."""
        self._pool.shutdown(wait=True, cancel_futures=drop_queued)
        close = getattr(self.client, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Commenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def comment(self, signal: SignalLike, rank: Rank, *, setup: Any = None,
                context: Iterable[str] = ()) -> str | None:
        """The model's comment on one alert (blocking, at most ~`timeout` s), or None when it
        failed, timed out or said nothing usable (one log line, never the key)."""
        messages = build_prompt(signal, rank, setup=setup, context=context,
                                language=self.language)
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=MAX_TOKENS, temperature=0.2,
                timeout=self.timeout)
            reply = response.choices[0].message.content if response.choices else None
        except self._errors as error:
            log.warning("LLM comment on %s skipped: %s", signal.signal_id, self._safe(error))
            return None
        text = clean_comment(reply, messages[1]["content"])
        if text is None:
            log.info("LLM comment on %s skipped: no usable answer", signal.signal_id)
        return text

    def comment_later(self, channel: Any, journal: Any, signal: SignalLike, rank: Rank,
                      caption: str, *, setup: Any = None, context: Iterable[str] = (),
                      message_ids: Mapping[str, int] | None = None,
                      buttons: bool = True) -> Future:
        """Comment on an alert already sent through `channel` with `caption`, on a worker
        thread: ask the model, record the comment in `journal`, edit it into the caption of
        each message (`message_ids` {chat: message id}; default: those the journal recorded).
        `buttons` False: the messages carry no decision buttons (an album's photos). Returns
        at once; the future's result is the comment or None."""
        future = self._pool.submit(self._comment_and_edit, channel, journal, signal, rank,
                                   caption, setup, tuple(context), message_ids, buttons)
        future.add_done_callback(_log_bug)
        return future

    def _comment_and_edit(self, channel, journal, signal, rank, caption, setup, context,
                          message_ids, buttons=True) -> str | None:
        signal_id = signal.signal_id
        try:
            text = self.comment(signal, rank, setup=setup, context=context)
            if text is None:
                return None
            journal.set_comment(signal_id, text)
            if message_ids is None:
                delivery = journal.deliveries(signal_id).get(channel.name, {})
                message_ids = delivery.get("message_ids", {})
            edited = with_comment(caption, text)
            if edited == caption:
                log.info("LLM comment on %s not shown: the caption is full", signal_id)
                return text
            for chat, message_id in message_ids.items():
                channel.edit_caption(chat, int(message_id), edited,
                                     signal_id=signal_id if buttons else None)
            return text
        except ItaError as error:  # Telegram refused or is away: the alert stays as sent
            log.warning("LLM comment on %s not edited in: %s", signal_id, self._safe(error))
            return None

    def _safe(self, error: BaseException) -> str:
        """One line about `error`, the API key masked wherever it appears."""
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if self._secret:
            text = text.replace(self._secret, "***")
        return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


class CommentingChannel:
    """`channel` whose sent alerts get a comment afterwards.

    ``send_alert`` sends exactly as `channel` does and returns as soon as it has; then, when
    `facts(signal_id)` gives the alert's `CommentFacts` (None: no comment for this one), it
    starts `commenter.comment_later` for the messages just sent. The caption is edited through
    `editor` (default `channel`; a `TelegramChannel.companion()` lets an edit run beside the
    next send instead of holding its channel). Everything else is `channel`'s. Pass it to
    `deliver_pending` in place of `channel`."""

    def __init__(self, channel: Any, commenter: Commenter, journal: Any,
                 facts: Callable[[str], CommentFacts | None], *, editor: Any = None) -> None:
        self.channel, self.commenter, self.journal, self.facts = channel, commenter, journal, facts
        self.editor = editor if editor is not None else channel
        self.name = channel.name

    def send_alert(self, png: bytes | None, caption: str, signal_id: str, *,
                   skip_chats: Any = (),
                   on_sent: Callable[[str, int], None] | None = None) -> dict[str, int]:
        ids = self.channel.send_alert(png, caption, signal_id, skip_chats=skip_chats,
                                      on_sent=on_sent)
        found = self.facts(signal_id) if ids and png is not None else None
        if found is not None:  # a text alert has no caption to edit
            self.commenter.comment_later(self.editor, self.journal, found.signal, found.rank,
                                         caption, setup=found.setup, context=found.context,
                                         message_ids=ids)
        return ids

    def send_album(self, photos: list[tuple[bytes, str, str]], *, skip_chats: Any = (),
                   on_sent: Callable[[str, list[int]], None] | None = None
                   ) -> dict[str, list[int]]:
        """An album sent as `channel` sends it; then each of its alerts commented on, edited
        into its own photo's caption (an album's photos carry no buttons)."""
        ids = self.channel.send_album(photos, skip_chats=skip_chats, on_sent=on_sent)
        for position, (_, caption, signal_id) in enumerate(photos):
            found = self.facts(signal_id) if ids else None
            if found is not None:
                self.commenter.comment_later(
                    self.editor, self.journal, found.signal, found.rank, caption,
                    setup=found.setup, context=found.context, buttons=False,
                    message_ids={chat: numbers[position] for chat, numbers in ids.items()})
        return ids

    def __getattr__(self, name: str) -> Any:
        return getattr(self.channel, name)


def _log_bug(future: Future) -> None:
    """A worker's unexpected exception is a bug: logged (its type and traceback), not lost."""
    error = None if future.cancelled() else future.exception()
    if error is not None:
        log.error("LLM comment worker failed (%s)", type(error).__name__,
                  exc_info=(type(error), error, error.__traceback__))


def _value(raw: str) -> float:
    return float(raw.replace(",", ""))


def _finite(value) -> bool:
    return finite_number(value) is not None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
