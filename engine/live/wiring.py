"""What the live monitor talks to: the feed of each watched series, Telegram, the LLM comment.

Part of `engine.live.monitor` (which calls these when it starts and when the watched series
change); one place decides, so ``ita live``, the benchmark and the tests wire alike.

**Feeds.** A setup's symbol written with a slash (``BTC/USDT``) is watched on the ccxt
exchange ``live_exchange``: one `CcxtFeed` per timeframe sharing one ccxt client. A symbol
without one (``EURUSD``) is an MT5 series, watched

1. in the folder ``mt5_folder`` (`Mt5FolderFeed`; the ``mt5/ITAExport.mq5`` script writes it)
   when that is set;
2. else from the MetaTrader 5 terminal (`Mt5TerminalFeed`) when the ``MetaTrader5`` package
   imports (Windows);
3. else not at all: an `UnwatchedFeed` puts the reason on the series' health ("not watched: set
   ITA_MT5_FOLDER …"), so the Live page, ``ita live status`` and ``/status`` show it, instead
   of the series silently missing.

Both MT5 routes need the broker's server time zone (``mt5_server_tz``): bar times are broker
time and ITA never guesses it, so without it the series is not watched either, and says why.

**Telegram and the comment.** `telegram_from` makes the channel from the token and chat ids;
`commenting` wraps it in a `CommentingChannel` when ``llm_comment`` is on (an alert is sent
first, its comment edited in later through a companion channel, so an edit never holds the
channel the alerts leave by).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from engine.adapters.store import CandleStore
from engine.errors import ItaError, SourceUnavailable
from engine.live.comment import Commenter, CommentFacts, CommentingChannel
from engine.live.feeds import CcxtFeed, FeedHealth, FeedKey

log = logging.getLogger("ita.live.monitor")

MT5_SOURCE = "mt5"
FETCH_WORKERS = 10  # series of one timeframe fetched at once (network-bound)
NO_MT5 = ("MT5 symbols (no slash, like {symbol}) need ITA_MT5_FOLDER, the folder "
          "the mt5/ITAExport.mq5 script writes (docs/LIVE_MT5.md), or on Windows the "
          "MetaTrader5 package")
NO_SERVER_TZ = ("MT5 bar times are the broker's server time; set "
                "ITA_MT5_SERVER_TZ (an IANA name such as Europe/Athens, or +02:00)")


def feed_key(symbol: str, timeframe: str, *, exchange: str) -> FeedKey:
    """The series a setup's symbol is watched on: ``BTC/USDT`` on the ccxt `exchange`,
    ``EURUSD`` (no slash) on MT5."""
    return FeedKey(exchange if "/" in symbol else MT5_SOURCE, symbol, timeframe)


class UnwatchedFeed:
    """Series no feed can watch here: never polled, each key's health carries `reason`.

    >>> UnwatchedFeed([FeedKey("mt5", "EURUSD", "5m")], "not watched: ...").poll()
    {}
    """

    def __init__(self, keys: list[FeedKey], reason: str) -> None:
        self.keys = list(keys)
        self.reason = reason
        self.source = self.keys[0].source if self.keys else MT5_SOURCE

    def poll(self, now=None) -> dict[FeedKey, pd.DataFrame]:
        return {}

    def next_due(self, now=None) -> pd.Timestamp:
        now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        return now + pd.Timedelta(days=1)

    def health(self, now=None) -> dict[FeedKey, FeedHealth]:
        now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        return {key: FeedHealth(key, now, None, None, 0, False, self.reason, 0)
                for key in self.keys}

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def build_feeds(settings, keys: list[FeedKey], store: CandleStore, *,
                exchange: Callable[[], Any], clock: Callable[[], pd.Timestamp],
                warmup: dict[FeedKey, int]) -> list:
    """The feeds watching `keys` (see the module docstring); `exchange()` gives the one ccxt
    client, `warmup` each key's bars to fetch on the first poll."""
    delay = settings.live_delay_seconds
    feeds: list = []
    ccxt_keys = [key for key in keys if key.source != MT5_SOURCE]
    # one feed per timeframe: a 1m close fetches the 1m series only, all at once
    for timeframe in dict.fromkeys(key.timeframe for key in ccxt_keys):
        group = [key for key in ccxt_keys if key.timeframe == timeframe]
        feeds.append(CcxtFeed(
            settings.live_exchange, group, store, exchange=exchange(), clock=clock, delay=delay,
            warmup_bars=max(warmup[key] for key in group),
            workers=min(len(group), FETCH_WORKERS), background_writes=True))
    mt5_keys = [key for key in keys if key.source == MT5_SOURCE]
    if mt5_keys:
        feeds.append(mt5_feed(settings, mt5_keys, store, clock=clock,
                              warmup_bars=max(warmup[key] for key in mt5_keys)))
    return feeds


def mt5_feed(settings, keys: list[FeedKey], store: CandleStore, *,
             clock: Callable[[], pd.Timestamp], warmup_bars: int):
    """The MT5 series' feed: the folder when ``mt5_folder`` is set, else the terminal when the
    ``MetaTrader5`` package imports, else an `UnwatchedFeed` saying what to set."""
    try:
        return _mt5_feed(settings, keys, store, clock=clock, warmup_bars=warmup_bars)
    except ItaError as error:  # a bad time zone, a folder that cannot be made: say so, go on
        reason = f"not watched: {error}"
    log.error("%s: %s", ", ".join(str(key) for key in keys), reason)
    return UnwatchedFeed(keys, reason)


def _mt5_feed(settings, keys, store, *, clock, warmup_bars):
    delay = settings.live_delay_seconds
    zone = settings.mt5_server_tz
    if settings.mt5_folder is not None:
        if not zone:
            raise SourceUnavailable(NO_SERVER_TZ)
        from engine.live.mt5_folder import Mt5FolderFeed

        return Mt5FolderFeed(settings.mt5_folder, zone, store, keys, clock=clock, delay=delay,
                             background_writes=True).start()
    from engine.adapters.mt5_source import load_module
    from engine.live.mt5_terminal import Mt5TerminalFeed

    try:
        module = load_module()
    except SourceUnavailable:
        raise SourceUnavailable(NO_MT5.format(symbol=keys[0].symbol)) from None
    if not zone:
        raise SourceUnavailable(NO_SERVER_TZ)
    return Mt5TerminalFeed(keys, store, server_tz=zone, module=module, clock=clock, delay=delay,
                           warmup_bars=warmup_bars, background_writes=True)


def event_driven(feed) -> bool:
    """True for a feed that wakes the loop itself (the MT5 folder: a file changed) and is
    read on every iteration; the others are polled when `next_due`."""
    return callable(getattr(feed, "wait", None))


def telegram_from(settings):
    """A `TelegramChannel` when the token and a chat id are set, else None."""
    token = settings.telegram_token
    chats = settings.telegram_chat_ids
    if token is None or not chats:
        return None
    from engine.notify.telegram import TelegramChannel

    return TelegramChannel(token.get_secret_value(), chats,
                           base_url=settings.telegram_api_url or None)


class Commenting:
    """The channel alerts leave by, with the LLM comment when ``llm_comment`` is on.

    `sender` is `channel` itself, or a `CommentingChannel` that sends exactly as `channel`
    does and then comments on each alert from `facts(signal_id)` on the commenter's thread,
    editing through a companion of `channel`. `close` waits for the comment under way (at most
    ``llm_timeout_seconds``) but not for those queued behind it, then closes the companion
    (not `channel`)."""

    def __init__(self, channel, settings, journal,
                 facts: Callable[[str], CommentFacts | None]) -> None:
        self.commenter = Commenter.from_settings(settings) if channel is not None else None
        self.sender = channel
        self._editor = None
        if self.commenter is not None:
            companion = getattr(channel, "companion", None)
            self._editor = companion() if callable(companion) else None
            self.sender = CommentingChannel(channel, self.commenter, journal, facts,
                                            editor=self._editor)

    @property
    def on(self) -> bool:
        return self.commenter is not None

    def close(self) -> None:
        if self.commenter is not None:
            self.commenter.close(drop_queued=True)
            self.commenter = None
        if self._editor is not None:
            self._editor.close()
            self._editor = None
