"""The live monitor's answers to Telegram commands, and the thread that listens for them.

`engine.notify.commands` reads the bot's updates and dispatches ``/status``, ``/setups`` and
``/stats SETUP`` to a `LiveStatus`; this module builds that `LiveStatus` from a running
`LiveMonitor` (feeds' health, active setups, the backtest statistics it caches) and runs the
poller on a thread of its own, so a slow Telegram never delays an alert:

| command | answer |
| --- | --- |
| /status | alerts on or paused; one line per feed (lag, SILENT, error); active setups |
| /setups | one line per active setup version: symbols, timeframe, "(paused)" |
| /stats SETUP | the active version's measured statistics, or "no history yet" |
| /positions, /close N | the open paper positions; close one (`engine.paper.live`) |

>>> status_text(paused=False, health=[], active=0)
'Alerts on.\\n0 active setup(s)'
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.errors import ItaError

if TYPE_CHECKING:
    from engine.live.feeds import FeedHealth
    from engine.live.monitor import ActiveSetup, LiveMonitor
    from engine.live.rank import SetupStats
    from engine.notify.commands import LiveStatus

log = logging.getLogger("ita.live.commands")

RETRY_SECONDS = 5.0  # after a failed poll of the updates


def status_text(*, paused: bool, health: Sequence[FeedHealth], active: int) -> str:
    """The answer to /status."""
    lines = ["Paused: alerts are not sent." if paused else "Alerts on."]
    for h in health:
        lag = "no bar yet" if h.lag is None else f"lag {h.lag.total_seconds():.0f} s"
        flag = " SILENT" if h.silent else ""
        lines.append(f"{h.key}: {lag}{flag}" + (f" ({h.error})" if h.error else ""))
    lines.append(f"{active} active setup(s)")
    return "\n".join(lines)


def setups_text(active: Sequence[ActiveSetup], paused: set[str]) -> str:
    """The answer to /setups."""
    if not active:
        return "No active setups."
    return "\n".join(f"{s.setup_id} v{s.version}: {', '.join(s.setup.market.symbols)} "
                     f"{s.setup.market.timeframe}" + (" (paused)" if s.setup_id in paused
                                                      else "") for s in active)


def stats_text(setup_id: str, active: Sequence[ActiveSetup],
               stats: Callable[[str, int], SetupStats]) -> str:
    """The answer to /stats SETUP: the active version's statistics from its backtests."""
    for s in active:
        if s.setup_id == setup_id:
            overall = stats(s.setup_id, s.version).overall()
            if not overall.trades:
                return f"{setup_id} v{s.version}: no history yet (no backtest runs)"
            runs = stats(s.setup_id, s.version).runs
            return f"{setup_id} v{s.version} from {runs} run(s):\n{overall.sentence()}"
    names = ", ".join(s.setup_id for s in active) or "none"
    return f"No active setup {setup_id!r} (active: {names})"


def live_status(monitor: LiveMonitor) -> LiveStatus:
    """The commands' answers for `monitor` (read at the moment each command arrives)."""
    from engine.notify.commands import LiveStatus
    from engine.paper.kill import telegram_kill, telegram_release

    return LiveStatus.from_journal(
        monitor.journal, tz=monitor.tz,
        status=lambda: status_text(paused=monitor.journal.paused, health=monitor.health(),
                                   active=len(monitor.active)),
        setups=lambda: setups_text(monitor.active, monitor.paused_setups()),
        stats=lambda setup_id: stats_text(setup_id, monitor.active, monitor.stats),
        kill=lambda chat, text: telegram_kill(monitor.settings, chat=chat, text=text),
        release=lambda chat: telegram_release(monitor.settings, chat=chat),
        positions=lambda: monitor.paper.positions_text(),
        close=lambda text: monitor.paper.close_text(text))


def start_updates(monitor: LiveMonitor, stop: threading.Event) -> threading.Thread | None:
    """Answer buttons, replies and commands on a daemon thread until `stop` is set (None when
    the monitor's channel cannot read updates). The poller gets a companion channel of its
    own when the channel offers one, so a long poll never blocks an alert's send."""
    channel = monitor.channel
    if channel is None or not hasattr(channel, "get_updates"):
        return None
    from engine.notify.commands import TelegramUpdates

    poller_channel = channel.companion() if hasattr(channel, "companion") else channel
    poller = TelegramUpdates(poller_channel, monitor.journal, live_status(monitor))

    def loop() -> None:
        while not stop.is_set():
            try:
                poller.poll_once(timeout=2.0)
            except ItaError as error:
                log.warning("Telegram updates: %s", error)
                stop.wait(RETRY_SECONDS)
            except Exception:  # the poller must never take the monitor down
                log.exception("Telegram updates failed")
                stop.wait(RETRY_SECONDS)
        if poller_channel is not channel:
            with contextlib.suppress(Exception):
                poller_channel.close()

    thread = threading.Thread(target=loop, name="telegram-updates", daemon=True)
    thread.start()
    return thread
