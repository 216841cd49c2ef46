"""The Live page's parts: the monitor's status, feeds, setup switches and the latest alerts.

Everything read here is cheap (a small JSON file, SQLite queries on the journal in WAL mode),
so the status and alerts parts refresh every `REFRESH_S` seconds while the monitor runs
(`st.fragment(run_every=...)`). Decisions and switches write the journal the monitor and the
Telegram buttons use (`engine/live/journal.py`, `engine/live/state.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from app.ui import display_zone, user_errors
from engine.backtest import presentation as view
from engine.errors import ItaError
from engine.live import state as live
from engine.live.alert import title
from engine.live.journal import DECISIONS, JournalSignal, SignalJournal, journal_path, short_key
from engine.live.rank import Rank, SetupStats, rank
from engine.settings import PROJECT_DIR

log = logging.getLogger(__name__)

REFRESH_S = 3  # while the monitor runs: status and alerts re-read this often
BUILD_QUIET_S = 1.0  # the demo replay's build goes on this long after the last page run
SHOWN = 10  # alerts shown at first; "Show more" adds as many again
FETCHED = 500  # newest alerts the filters choose from
DELIVERY_WORDS = {"pending": "pending", "sending": "sending", "sent": "sent",
                  "failed": "failed", "suppressed": "not sent (paused)"}
HOW_TO = ("**Live is off.** Set `ITA_LIVE=1`, `ITA_TELEGRAM_TOKEN` and `ITA_TELEGRAM_CHAT_ID` "
          "in `.env` (or the environment), then `make run`: the monitor watches the active "
          "setups and sends their alerts.  \n"
          "Or run it alone: `.venv/bin/ita live`. Until then this page shows a demo replay.")


@dataclasses.dataclass(frozen=True)
class AlertSource:
    """Where the alerts shown come from: the real journal, or the demo replay's."""

    journal: Path
    picture: Callable[[str], Path]
    demo: bool = False


def home() -> Path:
    return state.settings().home


def live_state() -> live.LiveState | None:
    return live.read_live_state(home())


def telegram_configured() -> bool:
    settings = state.settings()
    return settings.telegram_token is not None and bool(settings.telegram_chat_id)


@st.cache_resource(show_spinner=False, max_entries=8)
def _journal(path: str) -> SignalJournal:
    return SignalJournal(path)


def journal(path: Path | None = None, *, create: bool = False) -> SignalJournal | None:
    """The journal at `path` (default: this home's real one), one connection per file for the
    whole app; None when it does not exist yet and `create` is False."""
    path = path or journal_path(home())
    if not path.exists() and not create:
        return None
    return _journal(str(path))


def real_alerts() -> AlertSource:
    root = home()
    return AlertSource(journal_path(root), lambda key: live.alert_picture(root, key))


DEMO_COMMAND = (sys.executable, "-m", "engine.live.demo")  # + home, --tz: builds the replay


def _lower_priority() -> None:
    os.nice(10)


class DemoBuild:
    """The demo replay being built in a background thread (a page never waits for it):
    `what`/`done` say how far it got, then `replay` (or `error`) is set."""

    def __init__(self, root: str, tz: str) -> None:
        from engine.live.demo import find_demo_replay

        self.what, self.done = "starting", 0.0
        self.error: str | None = None
        self._finished = threading.Event()
        self.replay = find_demo_replay(root, tz=tz)  # on disk already: nothing to build
        if self.replay is None:
            self._thread = threading.Thread(target=self._build, args=(root, tz), daemon=True,
                                            name="ita-demo-replay")
            self._thread.start()
        else:
            self._finished.set()

    def _build(self, root: str, tz: str) -> None:
        """Run the build as a child process at a lower priority (`engine.live.demo`'s
        command line): its seconds of replaying and drawing then never hold the server's
        interpreter while a page is drawn, and the system runs the pages first."""
        from engine.live.demo import find_demo_replay

        state.wait_until_idle(quiet=BUILD_QUIET_S, at_most=20)
        try:
            errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: it never fills up
            with subprocess.Popen(
                    [*DEMO_COMMAND, root, "--tz", tz], cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                    stderr=errors, text=True,
                    env={**os.environ, "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(PROJECT_DIR), os.environ.get("PYTHONPATH")]))},
                    preexec_fn=_lower_priority if os.name == "posix" else None) as process:
                for line in process.stdout:
                    done, _, what = line.rstrip("\n").partition("\t")
                    with contextlib.suppress(ValueError):
                        self.what, self.done = what, float(done)
            errors.seek(0)
            problem = errors.read().strip()
            errors.close()
            if process.returncode != 0:
                self.error = problem.splitlines()[-1] if problem else (
                    f"the demo replay failed (exit code {process.returncode})")
                if problem and "Traceback" in problem:  # a bug: the whole story in the log
                    log.error("the demo replay failed:\n%s", problem)
            else:
                self.replay = find_demo_replay(root, tz=tz)
                if self.replay is None:
                    self.error = "the demo replay finished without writing its folder"
        except OSError as error:
            self.error = f"the demo replay could not start: {error}"
        finally:
            self._finished.set()

    @property
    def finished(self) -> bool:
        return self.replay is not None or self.error is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the replay is there (or failed); False if `timeout` passed first."""
        return self._finished.wait(timeout)


@st.cache_resource(show_spinner=False, max_entries=4)
def _demo(root: str, setups_stamp: str, candles_stamp: str, tz: str) -> DemoBuild:
    return DemoBuild(root, tz)


def demo_build() -> DemoBuild:
    """The demo replay of the setups and candles on disk now: found on disk, or being built
    (once per setups and candles, whoever asks)."""
    settings = state.settings()
    return _demo(str(settings.home), state._stamp(settings.setups_dir),
                 state._stamp(settings.candles_dir, "*/*/*.parquet"), settings.display_tz)


def shows_demo() -> bool:
    """Whether the Live page shows the demo replay: no monitor has ever run here and
    Telegram is not configured."""
    return live_state() is None and not telegram_configured()


def prebuild_demo() -> DemoBuild | None:
    """The demo replay of what is on disk now, started ahead of the Live page's first open
    (the server's keeper calls this at start and every few seconds: after a setup or candle
    change the page finds the new replay built, or being built, instead of starting it);
    None while the page would not show it."""
    return demo_build() if shows_demo() else None


def demo_alerts() -> AlertSource | DemoBuild:
    """The demo replay's alerts, or its build while it runs."""
    build = demo_build()
    if build.replay is None:
        return build
    return AlertSource(build.replay.journal, build.replay.picture, demo=True)


@st.fragment(run_every=1)
def demo_progress(build: DemoBuild) -> None:
    """How far the demo replay got; the whole page reruns once it is there."""
    st.subheader("Demo replay — latest alerts")
    if build.error:
        st.error(build.error)
        return
    if build.finished:
        st.rerun()
    st.progress(build.done, text=f"Replaying the active setups over the stored candles "
                f"through the live path: {build.what}…")


# -- status ------------------------------------------------------------------------------------
def _clock(stamp: pd.Timestamp | None) -> str:
    return "—" if stamp is None else f"{stamp.tz_convert(display_zone()):%Y-%m-%d %H:%M}"


def status_strip(current: live.LiveState | None, paused: bool) -> None:
    """Monitor running or not (since when), Telegram, pause, alerts today. While the monitor
    is stopped, Telegram and today's alerts are its last known values, labelled so."""
    a, b, c, d = st.columns(4)
    last = " (last known)" if current is not None and not current.running else ""
    if current is None:
        a.metric("Monitor", "never run")
    elif current.running:
        a.metric("Monitor", "running", f"since {_clock(current.started_at)}",
                 delta_color="off", delta_arrow="off")
    else:
        a.metric("Monitor", "not running", current.why_not, delta_color="off",
                 delta_arrow="off")
    telegram = current.telegram if current else ("configured" if telegram_configured()
                                                  else "off")
    word, _, detail = telegram.partition(":")
    b.metric("Telegram" + last, word, detail.strip() or None, delta_arrow="off",
             delta_color="red" if word == "error" else "off")
    c.metric("Alerts", "paused" if paused else "active")
    d.metric("Alerts today" + last, current.alerts_today if current else 0,
             f"last {_clock(current.last_alert_at)}" if current and current.last_alert_at
             else None, delta_color="off", delta_arrow="off")
    if current is not None and current.running and word == "error":
        st.error(f"Telegram: {telegram}")
    if current is not None and not current.running:
        st.warning(f"The live monitor is not running ({current.why_not}): no alerts are "
                   "evaluated or sent. Start it with `make run` (with `ITA_LIVE=1`) or "
                   "`.venv/bin/ita live`.")


def feeds_frame(current: live.LiveState) -> pd.DataFrame:
    """One row per feed: last closed bar in the display zone, lag, health, error."""
    zone = display_zone()
    rows = [{"source": f.source, "symbol": f.symbol, "timeframe": f.timeframe,
             f"last closed bar ({view.zone_name(zone)})": _clock(f.last_bar),
             "lag": _lag(f.lag_seconds), "bars behind": f.behind_bars,
             "health": "silent" if f.silent else ("error" if f.error else "ok"),
             "error": f.error or ""} for f in current.feeds]
    return pd.DataFrame(rows)


def _lag(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _health_colour(value: str) -> str:
    return {"silent": "background-color: #ffcdd2; color: #b71c1c; font-weight: 600",
            "error": "background-color: #ffe0b2; color: #e65100"}.get(value, "")


def feeds_table(current: live.LiveState | None) -> None:
    st.subheader("Feeds")
    if current is None or not current.feeds:
        st.caption("No feeds yet: the monitor lists each series it watches here.")
        return
    frame = feeds_frame(current)
    st.dataframe(frame.style.map(_health_colour, subset=["health"]), hide_index=True,
                 width="stretch", key="live_feeds")
    silent = current.silent_feeds
    if silent:
        names = ", ".join(f"{f.symbol} {f.timeframe}" for f in silent)
        st.error(f"Silent for more than two bars: {names}.")
    if not current.running:
        st.caption(f"As last written by the monitor at {_clock(current.updated_at)}.")


@st.fragment(run_every=REFRESH_S)
def _status_live() -> None:
    _status_body()


@st.fragment
def _status_still() -> None:
    _status_body()


def _status_body() -> None:
    with user_errors():
        current = live_state()
        book = journal()
        status_strip(current, bool(book and book.paused))
        feeds_table(current)


def status_part(running: bool) -> None:
    """The status strip and the feeds, refreshed every few seconds while the monitor runs."""
    (_status_live if running else _status_still)()


# -- setups ------------------------------------------------------------------------------------
def active_setups(current: live.LiveState | None) -> list[live.SetupState]:
    """What the monitor evaluates; before it ran, the active setups of the store."""
    if current is not None and current.setups:
        return list(current.setups)
    settings = state.settings()
    return _store_setups(str(settings.setups_dir), state._stamp(settings.setups_dir))


@st.cache_data(show_spinner=False, max_entries=8)
def _store_setups(root: str, stamp: str) -> list[live.SetupState]:
    from engine.setups.store import SetupStore

    store, out = SetupStore(Path(root)), []
    for info in store.list():
        if info.active is None:
            continue
        try:
            market = store.load(info.id, info.active).setup.market
        except ItaError:
            continue
        out.append(live.SetupState(info.id, info.active, tuple(market.symbols),
                                   market.timeframe, False))
    return out


def setups_part(current: live.LiveState | None) -> None:
    """Global pause and one switch per active setup (its symbols beside it). A setup's switch
    reruns only the switches (a fragment); the global pause reruns the page (its status)."""
    st.subheader("Active setups")
    book = journal()
    st.toggle("Pause all alerts", value=bool(book and book.paused), key="live_pause_all",
              on_change=_set_global_pause, help="Signals are still recorded; none is sent. "
              "The same as /pause and /resume in Telegram.")
    _setup_switches(current)


@st.fragment
def _setup_switches(current: live.LiveState | None) -> None:
    with user_errors():
        book = journal()
        paused = live.paused_setups(book) if book else set()
        setups = active_setups(current)
        if not setups:
            st.caption("No active setup: activate a version on the Setups page.")
        for setup in setups:
            left, right = st.columns([1, 3], vertical_alignment="center")
            left.toggle(f"{setup.setup_id} v{setup.version}",
                        value=setup.setup_id not in paused, key=f"live_setup_{setup.setup_id}",
                        on_change=_set_setup, args=(setup.setup_id,))
            right.caption(f"{', '.join(setup.symbols)} · {setup.timeframe}"
                          + (" · paused" if setup.setup_id in paused else " · alerts on"))


def _set_global_pause() -> None:
    journal(create=True).set_paused(bool(st.session_state["live_pause_all"]))


def _set_setup(setup_id: str) -> None:
    on = bool(st.session_state[f"live_setup_{setup_id}"])
    live.set_setup_paused(journal(create=True), setup_id, paused=not on)


# -- alerts ------------------------------------------------------------------------------------
def filtered(signals: list[JournalSignal], *, setup: str, symbol: str,
             decision: str) -> list[JournalSignal]:
    """Alerts matching the filters ("All" matches anything; decision "Undecided" = none)."""
    def keep(s: JournalSignal) -> bool:
        made = s.decision or "Undecided"
        return ((setup == "All" or s.setup_id == setup)
                and (symbol == "All" or s.symbol == symbol)
                and (decision == "All" or made == decision))
    return [s for s in signals if keep(s)]


def plan_line(signal: JournalSignal) -> str:
    """``Entry 28,128.92 (market) · Stop 27,847.63 · Target 28,691.50 · 2.00 R``."""
    decimals = max(2, view.price_decimals([signal.entry]))

    def price(value: float) -> str:
        return "—" if value is None or not math.isfinite(value) else f"{value:,.{decimals}f}"

    r = signal.r_planned
    r_text = f"{r:.2f} R" if r is not None and math.isfinite(r) else "— R"
    return (f"Entry {price(signal.entry)} ({signal.entry_type}) · Stop {price(signal.stop)} · "
            f"Target {price(signal.target)} · {r_text}")


def delivery_words(book: SignalJournal, signal: JournalSignal) -> str:
    """``telegram: sent (resent)`` per channel; "recorded only" without any channel."""
    rows = book.deliveries(signal.signal_id)
    if not rows:
        return "recorded only (no channel)"
    words = []
    for channel, row in sorted(rows.items()):
        text = f"{channel}: {DELIVERY_WORDS.get(row['state'], row['state'])}"
        if row.get("resent"):
            text += " (resent)"
        if row["state"] in ("failed", "pending") and row.get("last_error"):
            text += f" — {row['last_error']}"
        words.append(text)
    return "; ".join(words)


class _Ranking:
    """One setup version's measured statistics and costs, and the ranks already computed from
    them (per signal, account size and risk): built once per version and runs on disk."""

    def __init__(self, root: str, setup_id: str, version: int, tz: str) -> None:
        from engine.setups.store import SetupStore

        self.stats = SetupStats.from_runs(root, setup_id, version, tz=view.zone(tz))
        try:
            self.costs = SetupStore(Path(root) / "setups").load(setup_id, version).setup.costs
        except ItaError:
            self.costs = None
        self.ranks: dict[tuple, Rank] = {}


@st.cache_resource(show_spinner=False, max_entries=64)
def _ranking(root: str, setup_id: str, version: int, runs_stamp: str, tz: str) -> _Ranking:
    return _Ranking(root, setup_id, version, tz)


def runs_stamp() -> str:
    """The backtest runs on disk (their summaries' names and times): rankings' cache key."""
    return state._stamp(state.settings().runs_dir, "*/summary.json")


def advice(signal: JournalSignal, stamp: str | None = None) -> Rank:
    """The ranking of `signal` from its setup version's backtests on disk (the same as its
    alert's caption): strengths, weaknesses, position size, warnings. `stamp`: `runs_stamp()`
    when the caller has it already."""
    settings = state.settings()
    ranking = _ranking(str(settings.home), signal.setup_id, int(signal.setup_version),
                       stamp or runs_stamp(), settings.display_tz)
    account = float(getattr(settings, "account_size", 10_000))
    risk = float(getattr(settings, "risk_pct", 0.5))
    key = (signal.signal_id, account, risk)
    if key not in ranking.ranks:
        ranking.ranks[key] = rank(signal, ranking.stats, account_size=account, risk_pct=risk,
                                  costs=ranking.costs)
    return ranking.ranks[key]


def alert_card(book: SignalJournal, signal: JournalSignal, source: AlertSource, *,
               stamp: str | None = None) -> None:
    """One alert: its picture, the plan, score and advice, delivery, decision buttons. A demo
    alert is scored from the runs on disk now (`stamp`: `runs_stamp()`), a live one shows the
    score it was sent with."""
    key = short_key(signal.signal_id)
    with st.container(border=True, key=f"live_alert_{key}"):
        picture, facts = st.columns([3, 2])
        path = source.picture(key)
        if path.exists():
            picture.image(str(path), width="stretch")
        else:
            picture.caption("No picture saved for this alert.")
        with facts:
            _facts(book, signal, advice(signal, stamp), demo=source.demo)
            _decision_buttons(book, signal, key)


def _facts(book: SignalJournal, signal: JournalSignal, ranked: Rank, *, demo: bool) -> None:
    when = _clock(pd.Timestamp(signal.known_at))
    st.markdown(f"**{title(signal)}**  \n{when} ({view.zone_name(display_zone())})"
                + (" · **late**" if signal.late else ""))
    st.markdown(plan_line(signal))
    value = ranked.score if demo else signal.score
    score = "—" if value is None or not math.isfinite(value) else f"{value:+.2f} R"
    size = (f" · size {ranked.size:,.4g} for {ranked.risk_money:,.2f} at risk"
            if ranked.size is not None else "")
    st.markdown(f"Score **{score}** · {ranked.trades} trades of history{size}")
    for line in ranked.strengths:
        st.markdown(f":green[+ {line}]")
    for line in ranked.weaknesses:
        st.markdown(f":red[− {line}]")
    for line in ranked.warnings:
        st.warning(line)
    st.caption(f"Delivery: {delivery_words(book, signal)}")


def _decision_buttons(book: SignalJournal, signal: JournalSignal, key: str) -> None:
    decided = signal.decision or "none yet"
    reason = f" — {signal.decision_reason}" if signal.decision_reason else ""
    st.markdown(f"Decision: **{decided}**{reason}")
    st.text_input("Reason (optional)", key=f"live_reason_{key}", label_visibility="collapsed",
                  placeholder="Reason (optional): why you took, skipped or missed it")
    for column, decision in zip(st.columns(len(DECISIONS)), DECISIONS, strict=True):
        column.button(decision, key=f"live_{decision.lower()}_{key}", width="stretch",
                      type="primary" if signal.decision == decision else "secondary",
                      on_click=_decide, args=(book, signal.signal_id, decision, key))


def _decide(book: SignalJournal, signal_id: str, decision: str, key: str) -> None:
    reason = (st.session_state.get(f"live_reason_{key}") or "").strip()
    try:
        book.set_decision(signal_id, decision, reason or None)
    except ItaError as error:
        st.session_state["live_decision_error"] = str(error)
        return
    st.session_state[f"live_reason_{key}"] = ""  # recorded: shown beside the decision


def _alerts_body(source: AlertSource) -> None:
    with user_errors():
        book = journal(source.journal)
        signals = book.recent(FETCHED) if book else []
        if source.demo:
            st.subheader("Demo replay — latest alerts")
            st.caption("The active setups replayed over the demo candles through the live "
                       "path, kept in a journal of their own: nothing here was sent, and "
                       "nothing here is in your live journal.")
        else:
            st.subheader("Latest alerts")
        if not signals:
            st.info("No alerts yet. Each alert appears here the moment the monitor records it.")
            return
        error = st.session_state.pop("live_decision_error", None)
        if error:
            st.error(error)
        shown = filtered(signals, **_filters(signals))
        limit = st.session_state.setdefault("live_limit", SHOWN)
        stamp = runs_stamp()
        for signal in shown[:limit]:
            alert_card(book, signal, source, stamp=stamp)
        if len(shown) > limit:
            st.button(f"Show more ({len(shown) - limit} older)", key="live_more",
                      on_click=_more)
        elif not shown:
            st.caption("No alert matches these filters.")


def _filters(signals: list[JournalSignal]) -> dict[str, str]:
    a, b, c = st.columns(3)
    setups = sorted({s.setup_id for s in signals})
    symbols = sorted({s.symbol for s in signals})
    return {"setup": a.selectbox("Setup", ["All", *setups], key="live_filter_setup"),
            "symbol": b.selectbox("Symbol", ["All", *symbols], key="live_filter_symbol"),
            "decision": c.selectbox("Decision", ["All", "Undecided", *DECISIONS],
                                    key="live_filter_decision")}


def _more() -> None:
    st.session_state["live_limit"] = st.session_state.get("live_limit", SHOWN) + SHOWN


@st.fragment(run_every=REFRESH_S)
def _alerts_live(source: AlertSource) -> None:
    _alerts_body(source)


@st.fragment
def _alerts_still(source: AlertSource) -> None:
    _alerts_body(source)


def alerts_part(source: AlertSource | DemoBuild, running: bool) -> None:
    """The latest alerts, newest first, refreshed every few seconds while the monitor runs;
    while the demo replay is being built, its progress."""
    if isinstance(source, DemoBuild):
        demo_progress(source)
        return
    (_alerts_live if running else _alerts_still)(source)
