"""Stores and cached loaders for the pages (st.cache_data keyed on what is on disk).

A loader's cache key is a stamp of the files it reads: their names and modification times, so
a new, changed, deleted or renamed file all give a new key. Code that changes candles in this
process calls `candles_changed()` so that the next read (the sidebar's symbol list included)
sees the change even within the same second.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import hashlib
import importlib
import json
import logging
import os
import threading
import time
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from app import preload
from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.errors import ConfigurationError
from engine.jobs.bus import JobBus
from engine.settings import Settings, get_settings
from engine.setups.store import SetupStore
from engine.timezones import parse_timezone

HEARTBEAT_ALIVE_S = 15  # the daemon writes its heartbeat every few seconds
WARM_MODULES = preload.WARM_MODULES
QUIET_AFTER_RUN_S = 0.5  # background work resumes this long after the last page run ended
PAGE_RUN_LOG = "ITA_PAGE_RUN_LOG"  # a file each page run's server time is appended to (tests)
DEMO_CHECK_S = 2.0  # how often the server looks for setups or candles the demo replay misses
_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None
_keeper_thread: threading.Thread | None = None
_page_runs = threading.Condition()
_running = 0  # page runs in progress (the app's script, any session)
_last_run_end = 0.0  # time.monotonic() when the last one ended
log = logging.getLogger(__name__)


def settings() -> Settings:
    """The settings, read again only when what they are read from changes: the `ITA_*`
    environment variables or the `.env` file (its path, size and modification time). Reading
    them costs ~25 ms (environment and file), and a page asks for them many times per run (every
    number it formats), so fresh settings per call cost the Backtest page half a second."""
    env_file = Settings.model_config.get("env_file")
    try:
        seen = os.stat(env_file)  # type: ignore[arg-type]
        file_key = (str(env_file), seen.st_mtime_ns, seen.st_size)
    except (OSError, TypeError):
        file_key = (str(env_file), None, None)
    environment = tuple(sorted((name, value) for name, value in os.environ.items()
                               if name.upper().startswith("ITA_")))
    return _settings(environment, file_key)


@functools.lru_cache(maxsize=4)
def _settings(environment: tuple, env_file: tuple) -> Settings:
    return get_settings()


def candle_store() -> CandleStore:
    return CandleStore.from_settings(settings())


def setup_store() -> SetupStore:
    return SetupStore.from_settings(settings())


def run_store() -> RunStore:
    return RunStore.from_settings(settings())


def job_bus() -> JobBus:
    return JobBus.from_settings(settings())


def _stamp(folder: Path, pattern: str = "**/*") -> str:
    """The names and modification times of the files matching below `folder`, hashed: the
    cache key that changes whenever a file is added, rewritten, deleted or renamed."""
    if not folder.exists():
        return "none"
    seen = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        try:
            seen.update(f"{path.relative_to(folder)}\0{path.stat().st_mtime_ns}\n".encode())
        except FileNotFoundError:  # replaced or deleted while we looked
            continue
    return seen.hexdigest()


@st.cache_data(show_spinner=False, max_entries=32)
def _series(root: str, stamp: str) -> pd.DataFrame:
    rows = [{"source": s.source, "symbol": s.symbol, "timeframe": s.timeframe,
             "first": s.first, "last": s.last, "bars": s.bars, "missing": s.missing_bars}
            for s in CandleStore(Path(root)).series()]
    return pd.DataFrame(rows)


def series() -> pd.DataFrame:
    store = candle_store()
    return _series(str(store.root), _stamp(store.root, "*/*/*.parquet"))


@st.cache_data(show_spinner=False, max_entries=16)
def _candles(root: str, stamp: str, symbol: str, timeframe: str, start, end) -> pd.DataFrame:
    return CandleStore(Path(root)).read(symbol, timeframe, start=start, end=end)


def candles(symbol: str, timeframe: str, start=None, end=None) -> pd.DataFrame:
    store = candle_store()
    return _candles(str(store.root), _stamp(store.root, "*/*/*.parquet"), symbol, timeframe,
                    start, end)


def candles_changed() -> None:
    """Forget every cached candle listing and read. Call it after importing, fetching,
    deleting or renaming candles in the app, then `st.rerun()` so that the sidebar (drawn
    before the page acted) lists the new symbols at once."""
    _series.clear()
    _candles.clear()


@st.cache_data(show_spinner=False, max_entries=8)
def _runs(root: str, stamp: str) -> pd.DataFrame:
    return RunStore(Path(root)).list()


def runs() -> pd.DataFrame:
    store = run_store()
    # every file of every run: a new or deleted run, and a written note, change the key
    return _runs(str(store.root), _stamp(store.root, "*/*"))


def engine_state() -> dict | None:
    """The daemon's heartbeat (`exchange/engine.json`) plus `alive` (a heartbeat younger than
    `HEARTBEAT_ALIVE_S`) and `heartbeat_age_s`; None when no daemon has ever run here."""
    path = settings().exchange_dir / "engine.json"
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    try:
        last = pd.Timestamp(state.get("last_seen"))
        age = None if last is pd.NaT else (pd.Timestamp.now(tz="UTC") - last).total_seconds()
    except (TypeError, ValueError):
        age = None
    state["heartbeat_age_s"] = age
    state["alive"] = age is not None and age < HEARTBEAT_ALIVE_S
    return state


@st.cache_data(show_spinner=False, max_entries=8)
def _signals(candles_root: str, setups_root: str, stamp: str, ref: str, text_hash: str,
             symbol: str, start, end) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    from engine.pipeline import detect_setup

    found = detect_setup(ref, symbol=symbol, start=start, end=end,
                         candle_store=CandleStore(Path(candles_root)),
                         setup_store=SetupStore(Path(setups_root)),
                         explain=False)  # the preview, labels and Home show no reasons
    return found.candles, found.signals, found.version.setup.market.timeframe


def signals(version, *, symbol: str, start=None,
            end=None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A setup version's candles, signals and timeframe on stored candles
    (`engine.pipeline.detect_setup`, without explanations: their `reasons` are ""), computed
    once per (version text, candles, symbol, range):
    a page rerun for another reason (a click, a field) does not detect again."""
    store = candle_store()
    return _signals(str(store.root), str(setup_store().root), _stamp(store.root, "*/*/*.parquet"),
                    version.ref, version.hash, symbol, start, end)


@st.cache_data(show_spinner=False, max_entries=64)
def _setup_version(root: str, stamp: str, setup_id: str, version: int | None):
    return SetupStore(Path(root)).load(setup_id, version)


@st.cache_data(show_spinner=False, max_entries=32)
def _version_numbers(root: str, stamp: str, setup_id: str) -> list[int]:
    return [v.version for v in SetupStore(Path(root)).versions(setup_id)]


def _setup_stamp(store: SetupStore, setup_id: str) -> str:
    return _stamp(store.root / setup_id) if setup_id in store.ids() else "unknown"


def setup_version(setup_id: str, version: int | None = None):
    """`SetupStore.load(setup_id, version)` (the active version by default), parsed once per
    change of the setup's folder (a new version, a new active one) instead of on every rerun."""
    store = setup_store()
    return _setup_version(str(store.root), _setup_stamp(store, setup_id), setup_id, version)


def version_numbers(setup_id: str) -> list[int]:
    """The setup's version numbers, oldest first (read like `setup_version`)."""
    store = setup_store()
    return _version_numbers(str(store.root), _setup_stamp(store, setup_id), setup_id)


@contextlib.contextmanager
def page_run():
    """Around a run of the app's script (`streamlit_app.py`): while any page is being drawn,
    and for `QUIET_AFTER_RUN_S` after, the server's background work (`warm_up`, the demo
    replay) waits, so that it never slows the page a trader is opening."""
    global _running, _last_run_end
    with _page_runs:
        _running += 1
    started = time.monotonic()
    try:
        yield
    finally:
        with _page_runs:
            _running -= 1
            ended = _last_run_end = time.monotonic()
            _page_runs.notify_all()
        record_page_run(ended - started)


def record_page_run(seconds: float) -> None:
    """Log one page run's server time (logger `app.state`, debug level) and, when
    `ITA_PAGE_RUN_LOG` names a file, append it there as a JSON line (`{"page", "seconds",
    "at"}`): the browser test splits each interaction's time into the server's script runs and
    the browser's own work with it."""
    ctx = get_script_run_ctx(suppress_warning=True)
    page = getattr(ctx, "page_script_hash", "") if ctx is not None else ""
    log.debug("page run %s: %.3f s", page, seconds)
    target = os.environ.get(PAGE_RUN_LOG)
    if not target:
        return
    line = json.dumps({"page": page, "seconds": round(seconds, 4), "at": time.time()})
    try:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError:  # a measurement aid: never the page's failure
        log.warning("cannot append to %s", target)


def wait_until_idle(*, quiet: float = QUIET_AFTER_RUN_S, at_most: float = 30.0) -> None:
    """Block (a background thread) until no page run is in progress and none ended within
    `quiet` seconds; after `at_most` seconds go on regardless (work that waits is not lost)."""
    deadline = time.monotonic() + at_most
    with _page_runs:
        while (now := time.monotonic()) < deadline:
            rest = quiet - (now - _last_run_end) if _running == 0 else deadline - now
            if rest <= 0:
                return
            _page_runs.wait(min(rest, deadline - now))


def warm_up() -> threading.Thread:
    """Import the modules the pages need (`WARM_MODULES`) and fill the loaders their first
    visit reads, in a background thread, once per server process, one step at a time between
    page runs (`wait_until_idle`): the first visit to a page then does not pay seconds of
    imports (numba's detectors, plotly, the flow component, Chroma) nor wait for them, and
    the Knowledge page's first search finds the embedding model and the index loaded. In a real
    server it ends by starting the demo replay's keeper (`keep_demo_replay`). Returns the
    thread."""
    global _warm_thread
    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=_import_modules, name="ita-warm-up",
                                            daemon=True)
            # with the script's context: a Streamlit component (the flow canvas) registers
            # itself with the server only when imported under one, else it never loads
            add_script_run_ctx(_warm_thread, get_script_run_ctx(suppress_warning=True))
            _warm_thread.start()
        return _warm_thread


def _import_modules() -> None:
    # Streamlit collects garbage after every script run (0.1-0.6 s with the editor's ~240k
    # objects, paid by the page being opened). What is alive now and what each step below
    # adds (modules, numba and plotly tables, cached frames) lives as long as the server: each
    # step moves it out of every later collection.
    atexit.register(gc.unfreeze)  # let native extensions free their objects at exit
    gc.freeze()
    steps = [functools.partial(importlib.import_module, name) for name in WARM_MODULES]
    for step in [*steps, preload.warm_figures, lambda: preload.warm_detectors(setup_store()),
                 _warm_loaders, _warm_knowledge]:
        wait_until_idle()
        try:
            step()
        except Exception:  # a warm-up is an optimisation: the page doing it will say why
            log.exception("warming up failed in %s", getattr(step, "args", step))
        gc.freeze()
    gc.collect()
    gc.freeze()
    _start_keeper()


def _start_keeper() -> None:
    """In a running server (not under AppTest or a plain import): the demo replay's keeper.

    The keeper runs as long as the process and follows the home of the current settings, so
    it must never start in a test process: AppTest puts a mock `Runtime` in place while a page
    runs, and a warm-up ending during some later page's run would otherwise start it there,
    building demo replays in whatever ITA home the tests running next point at."""
    global _keeper_thread
    from streamlit.runtime import Runtime

    if not Runtime.exists() or type(Runtime.instance()) is not Runtime:  # none, or AppTest's
        return
    with _warm_lock:
        if _keeper_thread is None:
            _keeper_thread = threading.Thread(target=keep_demo_replay, name="ita-demo-keeper",
                                              daemon=True)
            add_script_run_ctx(_keeper_thread, get_script_run_ctx(suppress_warning=True))
            _keeper_thread.start()


def keep_demo_replay(*, rounds: int | None = None, every: float = DEMO_CHECK_S) -> None:
    """Build the Live page's demo replay ahead of its first open, and again whenever the
    setups or candles it is computed from change (`app.live_ui.prebuild_demo`), between page
    runs; `rounds` (tests) stops after that many checks, else it runs as long as the server."""
    from app.live_ui import prebuild_demo

    done = 0
    while rounds is None or done < rounds:
        wait_until_idle(at_most=60)
        try:
            build = prebuild_demo()
            if build is not None:
                build.wait()
        except Exception:  # the Live page builds it itself, and says why it cannot
            log.exception("building the demo replay ahead failed")
        _prebuild_learning()
        done += 1
        if rounds is None or done < rounds:
            time.sleep(every)


def _prebuild_learning() -> None:
    """The Learning page's datasets, models and latest signal stories of every setup's active
    version (`app.learn_ui.prebuild_active`), each between page runs: choosing a setup there then
    reads them instead of building a dataset (seconds) while the trader waits."""
    from app import learn_ui

    try:
        learn_ui.prebuild_active(settings(), between=wait_until_idle)
    except Exception:  # the page builds what it needs itself, and says why it cannot
        log.exception("building the Learning page's datasets ahead failed")


def _warm_loaders() -> None:
    """What Home, Data and the Editor read on their first open, for the sidebar's defaults:
    the candle listing, the runs, the Data page's chart and the first setup's preview."""
    from app import data_ui
    from app.ui import sidebar_defaults

    listing = series()
    runs()
    if not len(listing):
        return
    choice = sidebar_defaults(listing)
    data_ui.series_chart(listing, choice)
    ids = setup_store().ids()
    if ids:
        signals(setup_version(ids[0]), symbol=choice["symbol"], start=choice["start"],
                end=choice["end"])


def _warm_knowledge() -> None:
    """What the Knowledge page's first search needs: the embedding model (~3 s), then, when
    an index exists, its snapshot in memory (~4 s at 20,000 passages)."""
    from app import kb_ui

    kb_ui.load_model()
    wait_until_idle()
    kb_ui.load_snapshot(settings())


def _run_stamp(store: RunStore, run_id: str) -> str:
    return _stamp(store._folder(run_id))  # checked: a run id that could escape runs/ is refused


@st.cache_resource(show_spinner=False, max_entries=8)
def _equity_chart(root: str, stamp: str, run_id: str):
    from engine.backtest.report import equity_figure

    return equity_figure(RunStore(Path(root)).frame(run_id, "equity"))


def equity_chart(run_id: str):
    """The run's equity and drawdown figure (`engine.backtest.report.equity_figure`), built
    once per run: plotly converts its thousands of time stamps one by one (~0.5 s). Shared,
    not copied: show it, never change it."""
    store = run_store()
    return _equity_chart(str(store.root), _run_stamp(store, run_id), run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _run_breakdown(root: str, stamp: str, run_id: str, by: str, zone: str) -> pd.DataFrame:
    from engine.backtest.metrics import breakdown

    tz = parse_timezone(zone, field="ITA_DISPLAY_TZ", error=ConfigurationError)
    return breakdown(RunStore(Path(root)).frame(run_id, "trades"), by, tz=tz)


def run_breakdown(run_id: str, by: str) -> pd.DataFrame:
    """`engine.backtest.metrics.breakdown` of the run's trades in the display zone, computed
    once per run, breakdown and zone."""
    store = run_store()
    return _run_breakdown(str(store.root), _run_stamp(store, run_id), run_id, by,
                          settings().display_tz)
