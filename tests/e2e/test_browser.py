"""End to end in a real headless Chromium (Debian's, driven by playwright): the app and the
engine daemon run as subprocesses on 127.0.0.1 on a demo ITA_HOME, and one test walks a
trader's journey through the pages:

1. Data: upload a CSV of candles as a new symbol; the sidebar lists it.
2. Setups: edit a number in a setup's YAML, save it as a new version.
3. Editor: open nodes by clicking them on the canvas, change a parameter (the preview shows
   the edit), save a new version (the preview stays as it is).
4. Backtest: run that version through the daemon; the header names it.
5. Open its trades on the chart (Next, then a row of the table): the chart zooms to each;
   panned away (and dragged back), its price axis fits the visible candles.
6. Research: grid-sweep two parameters as a daemon job, save the best row as a version.
7. Journal: a note and a tag on a trade of the run; the tag filter finds it.
8. Live: the demo replay's alerts (no monitor, no Telegram); "Taken" on the first is recorded
   in the demo's own journal, never the real one.
9. Knowledge: drop a Markdown file (Russian), added by the daemon's kb_ingest job; an English
   query finds its passage, the query's words highlighted; the Sync view says sharing is off;
   Home's Knowledge line counts the document and leads back to the page.
10. Screenshot every page into artifacts/screenshots/.

Pages are opened as a trader opens them: by the sidebar's navigation links, which rerun the
app's script in the open document (a `page.goto` reloads the whole document: JS bundle,
websocket, session; only the very first load is timed that way, as "first load", and it is not
an interaction).

Every interaction is timed from the action to the page settled (the app's script state back
to `notRunning`, seen by a MutationObserver in the page, after a quiet spell) and written to
artifacts/timings.json and artifacts/timings.md (each kind's median against the 1 s target).
What is asserted, and why not "< 1 s" itself: the target is for a quiet machine, and this test
runs on 2 cores shared with other work, where the same click takes 1-4x as long. So:
- every interaction < CEILING (20 s): slower is a hang, not a slow machine;
- the median of each kind of page interaction (opening a page, clicking, typing, choosing)
  < MEDIAN_CEILING (3 s): a page that is slow on every visit fails even on a loaded machine
  (as the Setups page's 13 s per click did), while one slow sample under load does not.
The report records the load average next to the numbers, so they can be read fairly, and
splits each interaction into the time the app showed a script running (page and fragment
runs, the server's share), the page runs' own time as the app logs it (`ITA_PAGE_RUN_LOG`),
and the rest, the browser's (fetching, parsing and drawing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
SHOTS = ARTIFACTS / "screenshots"
TIMINGS = ARTIFACTS / "timings.json"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]
PAGES = ["Home", "Data", "Setups", "Editor", "Backtest", "Research", "Runs", "Journal", "Live",
         "Paper", "Knowledge", "Learning", "Settings"]  # the sidebar's navigation links
CEILING = 20.0  # seconds: an interaction slower than this is a hang, not a slow machine
TARGET = 1.0  # seconds: the target for every page interaction (a quiet machine)
MEDIAN_CEILING = 3.0  # seconds: the median of each kind of page interaction, even under load
NOT_PAGE_WORK = ("first load", "daemon job", "upload a file")  # not held to the median ceiling
JOB_CEILING = 180.0  # a backtest or a sweep run by the daemon
QUIET_MS = 400  # the page counts as settled once no script has run for this long
SETUP = "bos-order-block-retest"
NEW_SYMBOL = "TEST/USDT"

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                  reason="Debian chromium is not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the app did not become healthy")


@pytest.fixture()
def served(tmp_path):
    env = {**os.environ, "ITA_HOME": str(tmp_path),
           "ITA_PAGE_RUN_LOG": str(tmp_path / "page_runs.jsonl"),  # Clock's server time
           # no retrain loop: the journey's Learning step trains sma-cross@2 by Retrain itself
           # (the loop could train it first, and the step found a model it expected not yet)
           "ITA_LEARN_MINUTES": "0"}
    subprocess.run([sys.executable, "-m", "engine.cli", "demo"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    port = _free_port()
    engine = subprocess.Popen([sys.executable, "-m", "engine.cli", "engine"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = subprocess.Popen([sys.executable, "-m", "app.serve",  # as `make run` starts it
                            "--server.headless", "true", "--server.address", "127.0.0.1",
                            "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        yield url, tmp_path
    finally:
        for process in (app, engine):
            process.terminate()
        for process in (app, engine):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def _settled(page) -> None:
    """Wait until Streamlit has finished the rerun a widget action started (on a loaded
    2-core machine a rerun can take seconds; fixed sleeps made this test flaky)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=60_000)


# --- timing -----------------------------------------------------------------------------------

# Streamlit mirrors its script state on the app's root (`data-test-script-state`): record when
# it leaves `notRunning` and when it last comes back, in the page's own clock.
_WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__ita = {start: performance.now(), saw: false, done: null, busy: 0, since: null};
  if (!window.__itaObserver) {
    window.__itaObserver = new MutationObserver(() => {
      const w = window.__ita, s = app.getAttribute('data-test-script-state');
      const now = performance.now();
      if (s !== 'notRunning') { w.saw = true; w.done = null; if (w.since === null) w.since = now; }
      else if (w.saw) {
        w.done = now;
        if (w.since !== null) { w.busy += now - w.since; w.since = null; }
      }
    });
    window.__itaObserver.observe(app, {attributes: true,
                                       attributeFilter: ['data-test-script-state']});
  }
}"""
_QUIET = """([quiet, grace]) => {
  const w = window.__ita, now = performance.now();
  const s = document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state');
  if (s !== 'notRunning') return false;
  return w.done !== null ? now - w.done >= quiet : now - w.start >= grace;
}"""


class Clock:
    """Times interactions: `clock.time(kind, what, action, until=...)` runs `action`, waits for
    `until` (an expectation, if any) and for the page to settle, and records the time from the
    action to the end of the app's last script run."""

    def __init__(self, page, runs_log: Path | None = None) -> None:
        self.page, self.rows, self.runs_log = page, [], runs_log
        self.load = [os.getloadavg()[0]]

    def time(self, kind: str, what: str, action: Callable[[], object], *,
             until: Callable[[float], object] | None = None, ceiling: float = CEILING) -> float:
        self.page.evaluate(_WATCH)
        runs_before = self._page_runs()
        started = time.monotonic()
        action()
        if until is not None:
            until(ceiling * 1000)
        reached = time.monotonic()
        # no run seen within the grace period: the action ran no script (or React batched the
        # run away); then the expectation's own time is the measure
        self.page.wait_for_function(_QUIET, arg=[QUIET_MS, 1500], timeout=ceiling * 1000,
                                    polling=50)
        run = self.page.evaluate("() => window.__ita.done === null ? null : "
                                 "(window.__ita.done - window.__ita.start) / 1000")
        seconds = run if run is not None else reached - started
        # the server's share: while the app showed a script running (page and fragment runs,
        # with their messages' way back and forth), and the page runs' own logged time
        busy = self.page.evaluate("() => window.__ita.busy / 1000") if run is not None else None
        server = sum(r["seconds"] for r in self._page_runs()[len(runs_before):])
        return self._record(kind, what, seconds, run is not None, ceiling, server=busy,
                            page_runs=server)

    def _page_runs(self) -> list[dict]:
        """The app's page runs so far (`ITA_PAGE_RUN_LOG`), each with its server seconds."""
        if self.runs_log is None or not self.runs_log.exists():
            return []
        return [json.loads(line) for line in self.runs_log.read_text().splitlines() if line]

    def first_load(self, what: str, url: str, *, until: Callable[[float], object],
                   ceiling: float = 120.0) -> float:
        """A whole document loaded (`page.goto`): from the navigation to its first script
        run's end. A new document, so timed here rather than in the page; not an interaction
        (a trader loads the app once), so it is kept apart in the report."""
        started = time.monotonic()
        self.page.goto(url)
        until(ceiling * 1000)
        self.page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stApp\"]')"
            ".getAttribute('data-test-script-state') === 'notRunning'",
            timeout=ceiling * 1000, polling=50)
        return self._record("first load", what, time.monotonic() - started, None, ceiling)

    def _record(self, kind: str, what: str, seconds: float, seen: bool | None,
                ceiling: float, *, server: float | None = None,
                page_runs: float | None = None) -> float:
        self.rows.append({"kind": kind, "what": what, "seconds": round(seconds, 3),
                          "script_run_seen": seen,
                          "server_s": None if server is None else round(server, 3),
                          "page_runs_s": None if page_runs is None else round(page_runs, 3)})
        split = "" if server is None else \
            f"  (script running {server:.2f} s, page runs logged {page_runs or 0:.2f} s)"
        print(f"  {seconds:6.2f} s  {what}{split}")
        assert seconds < ceiling, f"{what} took {seconds:.1f} s"
        return seconds

    def summary(self) -> dict[str, dict]:
        kinds: dict[str, list[float]] = {}
        for row in self.rows:
            kinds.setdefault(row["kind"], []).append(row["seconds"])
        return {kind: {"count": len(s), "min": min(s), "median": statistics.median(s),
                       "max": max(s), "over_target": sum(x >= TARGET for x in s)}
                for kind, s in kinds.items()}

    def write(self) -> str:
        """artifacts/timings.json (every interaction) and timings.md (a table per kind and the
        slowest interactions); returns the table."""
        self.load.append(os.getloadavg()[0])
        summary = self.summary()
        TIMINGS.write_text(json.dumps({"load_average_1min": self.load, "target_s": TARGET,
                                       "median_ceiling_s": MEDIAN_CEILING,
                                       "interactions": self.rows, "summary": summary},
                                      indent=2) + "\n")
        lines = [f"Load average (1 min) at start / end: {self.load[0]:.2f} / {self.load[-1]:.2f}"
                 f" on {os.cpu_count()} cores; target {TARGET:g} s per interaction.", "",
                 "| kind | n | min s | median s | max s | at or over target |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {kind} | {v['count']} | {v['min']:.2f} | {v['median']:.2f} | "
                  f"{v['max']:.2f} | {v['over_target']} |" for kind, v in summary.items()]
        slow = sorted((r for r in self.rows if r["kind"] not in NOT_PAGE_WORK),
                      key=lambda r: -r["seconds"])[:10]
        lines += ["", "Slowest page interactions:", ""]
        lines += [f"- {r['seconds']:.2f} s {r['what']} ({r['kind']})"
                  + ("" if r.get("server_s") is None else
                     f": script running {r['server_s']:.2f} s, browser "
                     f"{max(r['seconds'] - r['server_s'], 0):.2f} s") for r in slow]
        table = "\n".join(lines)
        TIMINGS.with_suffix(".md").write_text(table + "\n")
        return table

    def assert_medians(self) -> None:
        """Each kind of page interaction has a median under MEDIAN_CEILING (see the module
        docstring for why this, and not the 1 s target itself, is asserted)."""
        slow = {kind: v["median"] for kind, v in self.summary().items()
                if kind not in NOT_PAGE_WORK and v["median"] >= MEDIAN_CEILING}
        assert not slow, f"median seconds per kind over {MEDIAN_CEILING} s: {slow}"


# --- helpers ----------------------------------------------------------------------------------

def _key(page, key: str):
    """The container Streamlit gives a widget with `key=` (class `st-key-<key>`)."""
    return page.locator(f".st-key-{key}")


def _combo(page, key: str):
    """The text box of the selectbox with `key` (its value is the option shown)."""
    return _key(page, key).get_by_role("combobox")


def _cells(grid, text: str):
    """The cells of the row holding `text` in an st.dataframe (the grid draws on a canvas;
    its cells are also a table inside it, for screen readers)."""
    return grid.locator("tr").filter(has=grid.page.locator("td", has_text=text)).locator("td")


def _visible(locator) -> Callable[[float], None]:
    from playwright.sync_api import expect

    return lambda timeout: expect(locator).to_be_visible(timeout=timeout)


def _choose(clock: Clock, page, box, option, what: str, **kwargs) -> None:
    """Pick `option` (a name, or a pattern for the one shown) in the selectbox or multiselect
    inside `box` (a locator): type it, press Enter. An option shown already is left alone
    (choosing it again runs nothing: there is nothing to time)."""
    from playwright.sync_api import expect

    combo = box.get_by_role("combobox")
    current = combo.input_value()
    if current == option if isinstance(option, str) else option.search(current):
        if kwargs.get("until"):
            kwargs["until"](CEILING * 1000)
        return
    combo.click()
    combo.fill(option)
    expect(page.get_by_role("option", name=option, exact=True)).to_be_visible()
    clock.time("select an option", what, lambda: combo.press("Enter"), **kwargs)
    expect(box).to_contain_text(option) if box.get_by_test_id("stMultiSelect").count() \
        else expect(combo).to_have_value(option)


def _plot(page, key: str):
    """The Plotly graph of the chart with `key`: `plotly_view` draws it in an iframe."""
    return page.locator(f".st-key-{key}").frame_locator("iframe").locator(".js-plotly-plot")


def _open(clock: Clock, page, title: str, *, until=None) -> float:
    """Open a page by its link in the sidebar's navigation, as a trader does: the app reruns
    its script in the same document (timed like any other interaction)."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    return clock.time("open a page", title, link.click,
                      until=until or _visible(page.get_by_role("heading").first))


def _x_range(page, key: str, *, other_than: tuple = (), timeout: float = 10) -> list:
    """The x-axis range of the chart with `key`, once it differs from `other_than` (plotly
    redraws a moment after the script run ends)."""
    plot = _plot(page, key)
    end = time.monotonic() + timeout
    while True:
        shown = plot.evaluate("plot => plot._fullLayout.xaxis.range.map(String)")
        if shown not in other_than or time.monotonic() > end:
            return shown
        page.wait_for_timeout(100)


def _y_range(plot) -> list[float]:
    return plot.evaluate("plot => plot._fullLayout.yaxis.range")


def _fitted(candles, trade, x0, x1) -> list[float]:
    """The price range a trader expects after panning to [x0, x1] (UTC): the visible candles'
    low/high (and the focused trade's plan while its bars are visible) ± 6 %."""
    shown = candles[(candles.index >= x0) & (candles.index <= x1)]
    prices = [shown["low"].min(), shown["high"].max()]
    if trade["entry_time"] <= x1 and trade["exit_time"] >= x0:
        prices += [trade["entry_price"], trade["stop_price"], trade["target_price"]]
    low, high = min(prices), max(prices)
    return [low - 0.06 * (high - low), high + 0.06 * (high - low)]


def _check_y_refits(page, home: Path, key: str) -> None:
    """After the jump to the run's first trade: pan away from it (the graph's own relayout, as a
    drag ends) and drag back by mouse; each time the price axis must fit the visible candles,
    as on TradingView (st.plotly_chart kept the focused trade's y range)."""
    import pandas as pd

    from engine.adapters.runs import RunStore
    from engine.adapters.store import CandleStore

    runs = RunStore(home / "runs")
    run_id = runs.ids()[0]
    summary, trade = runs.summary(run_id), runs.frame(run_id, "trades").iloc[0]
    candles = CandleStore(home / "data" / "candles").read(summary["symbol"],
                                                          summary["timeframe"])
    plot = _plot(page, key)
    index = candles.index
    after = index.searchsorted(trade["exit_time"]) + 60  # 40 bars clear of the trade
    first = after if after + 40 < len(index) else index.searchsorted(trade["entry_time"]) - 100
    x0, x1 = index[first], index[first + 40]
    plot.evaluate("(plot, r) => Plotly.relayout(plot, {'xaxis.range': r})",
                  [str(x.tz_localize(None)) for x in (x0, x1)])
    want = _fitted(candles, trade, x0, x1)
    end = time.monotonic() + 10
    while _y_range(plot) != pytest.approx(want, rel=1e-9) and time.monotonic() < end:
        page.wait_for_timeout(100)
    assert _y_range(plot) == pytest.approx(want, rel=1e-9), (x0, x1, want)
    before = _x_range(page, key)
    box = plot.bounding_box()
    y = box["y"] + box["height"] * 0.4
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=8)
    page.mouse.up()
    shown = _x_range(page, key, other_than=(before,))
    assert shown != before, "the drag did not pan the chart"
    page.wait_for_timeout(500)
    x0, x1 = (pd.Timestamp(x).tz_localize("UTC") for x in shown)
    assert _y_range(plot) == pytest.approx(_fitted(candles, trade, x0, x1), rel=1e-9)
    page.locator(f".st-key-{key}").screenshot(path=str(SHOTS / "backtest-chart-panned.png"))


def _demo_csv(home: Path, folder: Path) -> Path:
    """Two days of the demo's BTC/USDT 1m candles as a plain CSV (time, OHLCV)."""
    from engine.adapters.store import CandleStore

    candles = CandleStore(home / "data" / "candles").read(
        "BTC/USDT", "1m", start="2023-03-01", end="2023-03-03")
    path = folder / "test-usdt-1m.csv"
    candles.rename_axis("time").reset_index().to_csv(path, index=False)
    return path


def _live_step(clock: Clock, page, home: Path) -> None:
    """Live, before any monitor ran: the demo replay (built in the background after the
    journey changed the setups); Taken on its first alert is recorded in the demo's journal."""
    from playwright.sync_api import expect

    from engine.live.journal import SignalJournal

    _open(clock, page, "Live",
          until=_visible(page.get_by_role("heading", name="Live", exact=True)))
    expect(page.get_by_role("heading", name="Demo replay — latest alerts")).to_be_visible()
    first = page.locator('[class*="st-key-live_alert_"]').first
    expect(first).to_be_visible(timeout=120_000)
    _settled(page)
    title = first.locator("strong").first.inner_text()
    clock.time("click a button", "Live: Taken on the first alert",
               first.get_by_role("button", name="Taken").click,
               until=_visible(first.get_by_text("Decision: Taken")))
    journals = list(home.glob(".ita/demo-live/*/live.sqlite"))
    assert len(journals) == 1 and not (home / ".ita" / "live.sqlite").exists()
    with SignalJournal(journals[0]) as journal:
        taken = [s for s in journal.recent(100) if s.decision == "Taken"]
    assert len(taken) == 1 and title.startswith(taken[0].setup_id.upper())
    page.screenshot(path=str(SHOTS / "live.png"), full_page=True)


KB_NOTE = ("# Имбаланс\n\nИмбаланс (FVG) — это разрыв между тенью первой и тенью третьей свечи "
           "сильного импульсного движения. Цена часто возвращается в этот разрыв, прежде чем "
           "продолжить движение.\n")


def _knowledge_step(clock: Clock, page, home: Path, folder: Path) -> None:
    """Knowledge on an empty base: drop a Russian note (added by the daemon's kb_ingest job),
    then an English question finds it, with the query's words marked."""
    from playwright.sync_api import expect

    note = folder / "Имбаланс.md"
    note.write_text(KB_NOTE, encoding="utf-8")
    _open(clock, page, "Knowledge",
          until=_visible(page.get_by_role("heading", name="Knowledge", exact=True)))
    clock.time("upload a file", "Knowledge: drop a Markdown file",
               lambda: _key(page, "knowledge_upload").locator("input[type=file]")
               .set_input_files(note),
               until=_visible(_key(page, "knowledge_upload").get_by_text(note.name)))
    clock.time("daemon job", "Knowledge: add it (kb_ingest in the daemon)",
               page.get_by_role("button", name="Add to the knowledge base").click,
               until=_visible(page.get_by_text("Added files")), ceiling=JOB_CEILING)
    expect(page.get_by_text(re.compile(r"^1 added$"))).to_be_visible()
    assert len(list(home.glob("shared_kb/theory/*.md"))) == 1
    clock.time("click a button", "Knowledge: Search view",
               _key(page, "knowledge_view").get_by_role("radio", name="Search").click,
               until=_visible(_key(page, "knowledge_query")))
    query = _key(page, "knowledge_query").locator("input")
    query.fill("imbalance (FVG) between the first and third candle")
    clock.time("type into a field", "Knowledge: search (English query, Russian passage)",
               lambda: query.press("Enter"), until=_visible(page.locator("mark").first))
    expect(page.locator("#kb-passage-1")).to_contain_text("Имбаланс (FVG)")
    query.fill("FVG разрыв свечи")
    clock.time("type into a field", "Knowledge: search again",
               lambda: query.press("Enter"),
               until=_visible(page.locator("mark", has_text="разрыв").first))
    page.screenshot(path=str(SHOTS / "knowledge-search.png"), full_page=True)
    clock.time("click a button", "Knowledge: Sync view",
               _key(page, "knowledge_view").get_by_role("radio", name="Sync").click,
               until=_visible(page.get_by_text("Sharing is off")))
    _open(clock, page, "Home", until=_visible(page.get_by_text("Candle series")))
    line = page.get_by_role("link", name="Knowledge: 1 document (1 passage) · sync off")
    clock.time("open a page", "Knowledge: from Home's Knowledge line", line.click,
               until=_visible(page.get_by_role("heading", name="Knowledge", exact=True)))


def _learning_step(clock: Clock, page, home: Path) -> None:
    """Learning: sma-cross's active version (v2, saved by Research) has no model yet; Retrain
    runs the daemon's `learn` job; the page then states the model's verdict in words and
    explains the latest signal with its similar past cases."""
    from playwright.sync_api import expect

    _open(clock, page, "Learning",
          until=_visible(page.get_by_role("heading", name="Learning", exact=True)))
    _choose(clock, page, _key(page, "learning_setup"), "sma-cross", "Learning: setup",
            until=_visible(page.get_by_text("No model of sma-cross@2 yet")))
    clock.time("daemon job", "Learning: Retrain sma-cross@2 in the daemon",
               _key(page, "learning_retrain_sma-cross_2").get_by_role("button").click,
               until=_visible(page.get_by_text(re.compile(r"^Verdict \(the "))),
               ceiling=JOB_CEILING)
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="AUC")).to_be_visible()
    assert list(home.glob("shared_kb/analysts/*/models/sma-cross/v0002/*/card.json"))
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "learning-verdict.png"), full_page=True)
    clock.time("open a view", "Learning: Explain a signal view",
               _key(page, "learning_view").get_by_role("radio", name="Explain a signal").click,
               until=_visible(page.get_by_text(re.compile(r"^Similar past cases:"))))
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "learning-explain.png"), full_page=True)
    clock.time("open a view", "Learning: Labels view",
               _key(page, "learning_view").get_by_role("radio", name="Labels").click,
               until=_visible(page.get_by_text("Label on the chart", exact=True)))
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "learning-labels.png"), full_page=True)


def _paper_step(clock: Clock, page, home: Path) -> None:
    """Paper: create an account following sma-cross with the prop defaults shown; engage the
    kill switch (reason, confirm), see its banner on another page, release it."""
    from playwright.sync_api import expect

    _open(clock, page, "Paper",
          until=_visible(page.get_by_role("heading", name="Paper", exact=True)))
    expect(page.get_by_text(re.compile(r"^No paper account yet"))).to_be_visible()
    name = _key(page, "paper_new_name").locator("input")
    name.fill("e2e-prop")
    clock.time("type into a field", "Paper: account name", lambda: name.press("Tab"))
    _choose(clock, page, _key(page, "paper_new_follow"), "sma-cross", "Paper: follow sma-cross")
    page.keyboard.press("Escape")  # close the multiselect's list (it covers the form)
    clock.time("click a button", "Paper: Create account",
               page.get_by_role("button", name="Create account").click,
               until=_visible(page.get_by_text(re.compile(r"^Created paper account e2e-prop"))))
    account = home / ".ita" / "paper" / "accounts" / "e2e-prop.yaml"
    assert "sma-cross" in account.read_text() and "max_daily_loss_pct: 5.0" in account.read_text()
    expect(page.get_by_text(re.compile(r"^Daily loss: 0 % of 5 % used"))).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "paper-account.png"), full_page=True)
    reason = _key(page, "paper_kill_reason").locator("input")
    reason.fill("e2e: news spike")
    clock.time("type into a field", "Paper: kill switch reason", lambda: reason.press("Tab"))
    clock.time("click a button", "Paper: confirm the kill switch",
               _key(page, "paper_kill_confirm").get_by_text("I am sure").click)
    clock.time("click a button", "Paper: Engage the kill switch",
               page.get_by_role("button", name="Engage the kill switch").click,
               until=_visible(page.get_by_role("button", name="Release the kill switch")))
    expect(page.get_by_text(re.compile(r"^KILL SWITCH ON .*e2e: news spike"))).to_be_visible()
    page.screenshot(path=str(SHOTS / "paper-kill-on.png"), full_page=True)
    _open(clock, page, "Runs", until=_visible(page.get_by_text(re.compile(r"^KILL SWITCH ON"))))
    _open(clock, page, "Paper",
          until=_visible(page.get_by_role("button", name="Release the kill switch")))
    clock.time("click a button", "Paper: Release the kill switch",
               page.get_by_role("button", name="Release the kill switch").click,
               until=_visible(page.get_by_role("button", name="Engage the kill switch")))
    expect(page.get_by_text(re.compile(r"^KILL SWITCH ON"))).to_have_count(0)
    assert '"engaged": false' in (home / ".ita" / "kill.json").read_text()


# --- the journey ------------------------------------------------------------------------------

def test_trader_journey_and_screenshots(served, tmp_path_factory) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, home = served
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    upload = _demo_csv(home, tmp_path_factory.mktemp("upload"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(60_000)
        clock = Clock(page, home / "page_runs.jsonl")

        try:
            # a bookmarked page opened first on a fresh server still gets the app's navigation
            # (the first load imports the app's modules in a fresh server: the cold start)
            clock.first_load("Runs (bookmarked, fresh server)", f"{url}/runs",
                             until=_visible(page.get_by_role("link", name="Journal")))
            _open(clock, page, "Home", until=_visible(page.get_by_text("Candle series")))

            # 1. Data: upload a CSV as a new symbol
            _open(clock, page, "Data",
                  until=_visible(page.get_by_role("heading", name="Data", exact=True)))
            _settled(page)
            page.get_by_text("Import candles", exact=True).click()
            clock.time("upload a file", "Data: upload the CSV",
                       lambda: _key(page, "data_upload").locator("input[type=file]")
                       .set_input_files(upload),
                       until=_visible(_key(page, "data_upload").get_by_text(upload.name)))
            symbol = _key(page, "data_symbol").locator("input")
            symbol.fill(NEW_SYMBOL)
            clock.time("type into a field", "Data: symbol", lambda: symbol.press("Enter"))
            clock.time("click a button", "Data: Import",
                       _key(page, "data_import").get_by_role("button").click,
                       until=_visible(page.get_by_text(f"bars of {NEW_SYMBOL} 1m")))
            assert (home / "data" / "candles" / "csv" / "TEST%2FUSDT" / "1m.parquet").exists()
            coverage = page.get_by_test_id("stDataFrame").first  # coverage lists the new series
            expect(_cells(coverage, NEW_SYMBOL)).to_contain_text(["csv", NEW_SYMBOL, "1m"])
            _key(page, "global_symbol").click()  # the sidebar lists the new symbol
            expect(page.get_by_role("option", name=NEW_SYMBOL, exact=True)).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.get_by_role("option")).to_have_count(0)

            # 2. Setups: edit a number in the YAML, save as a new version
            _open(clock, page, "Setups",
                  until=_visible(page.get_by_role("heading", name="Setups", exact=True)))
            _choose(clock, page, _key(page, "setups_id"), SETUP, "Setups: setup",
                    until=_visible(page.get_by_text(f"Editing {SETUP} v1")))
            yaml = _key(page, f"setups_yaml_{SETUP}_1").locator("textarea")
            text = yaml.input_value()
            assert "breakeven_at_r: 1.0" in text
            yaml.fill(text.replace("breakeven_at_r: 1.0", "breakeven_at_r: 1.5"))
            clock.time("type into a field", "Setups: YAML edited (blur)",
                       lambda: yaml.press("Tab"),
                       until=_visible(page.get_by_text("Unsaved edits to v1")))
            clock.time("click a button", "Setups: Save as new version",
                       _key(page, "setups_save").get_by_role("button").click,
                       until=_visible(page.get_by_text(f"Saved {SETUP} v2 and made it active.")))
            expect(_combo(page, f"setups_version_{SETUP}")).to_have_value("v2 (active)")
            expect(page.get_by_text(f"Editing {SETUP} v2 (active)")).to_be_visible()
            saved = home / "setups" / SETUP / "v0002.yaml"
            assert "breakeven_at_r: 1.5" in saved.read_text()
            grid = page.get_by_test_id("stDataFrame").first  # the table counts the new version
            # the table counts the new version (its cells are also a table in the canvas's DOM)
            expect(_cells(grid, SETUP).nth(3)).to_have_text("2")

            # 3. Editor: click nodes on the canvas, change a parameter, save a new version
            _open(clock, page, "Editor", until=_visible(page.get_by_text("Visual editor")))
            _choose(clock, page, _key(page, "editor_setup"), SETUP, "Editor: setup")
            node_list = _combo(page, "editor_node")
            frames = page.locator('iframe[title*="streamlit_flow"]')
            expect(frames).to_have_count(1)  # a new canvas reports once on mount: let that settle
            _settled(page)
            canvas = frames.content_frame
            clock.time("click a canvas node", "Editor: node stop",
                       canvas.locator('.react-flow__node[data-id="stop"]').click,
                       until=_visible(page.get_by_label("buffer_atr", exact=True)))
            expect(node_list).to_have_value("stop")
            clock.time("click a canvas node", "Editor: node entry",
                       canvas.locator('.react-flow__node[data-id="entry"]').click,
                       until=_visible(page.get_by_label("type", exact=True)))
            expect(node_list).to_have_value("entry")
            _choose(clock, page, _key(page, "editor_node"), "target", "Editor: node list",
                    until=_visible(page.get_by_label("r_multiple", exact=True)))
            field = page.get_by_label("r_multiple", exact=True)
            field.fill("3.5")
            clock.time("type into a field", "Editor: r_multiple", lambda: field.press("Enter"))
            clock.time("click a button", "Editor: Apply",
                       _key(page, "editor_apply").get_by_role("button").click,
                       until=_visible(page.get_by_text("unsaved edits: the preview shows them")))
            # the preview shows the edited rule; saving it changes nothing there: the chart
            # stays the very element it was, neither rebuilt nor redrawn
            preview = page.locator(".st-key-editor_preview_chart .js-plotly-plot")
            preview.evaluate("plot => { plot.dataset.itaBeforeSave = 'yes'; }")
            clock.time("click a button", "Editor: Save as new version",
                       _key(page, "editor_save").get_by_role("button").click,
                       until=_visible(page.get_by_text(f"Saved {SETUP} v3")))
            expect(page.get_by_text(f"Editing {SETUP} v3 (active; 3 versions)",
                                    exact=True)).to_be_visible()
            assert preview.evaluate("plot => plot.dataset.itaBeforeSave") == "yes"
            saved = home / "setups" / SETUP / "v0003.yaml"
            assert "r_multiple: 3.5" in saved.read_text()
            assert "breakeven_at_r: 1.5" in saved.read_text()  # the Setups edit carried on
            assert (home / "setups" / SETUP / "v0003.layout.json").exists()

            # 4. Backtest the new version through the daemon
            _open(clock, page, "Backtest", until=_visible(page.get_by_text("Run backtest")))
            _choose(clock, page, _key(page, "backtest_setup"), SETUP, "Backtest: setup",
                    until=lambda timeout: expect(_combo(page, f"backtest_version_{SETUP}"))
                    .to_have_value("v3 (active)", timeout=timeout))
            clock.time("daemon job", "Backtest: run v3 in the daemon",
                       page.get_by_role("button", name="Run backtest").click,
                       until=_visible(page.get_by_role("heading", name=f"{SETUP} @ v3 — BTC/USDT")),
                       ceiling=JOB_CEILING)
            expect(page.get_by_test_id("stMetricLabel").filter(has_text="Win rate")).to_be_visible()
            runs = list((home / "runs").glob(f"*{SETUP}-v3"))
            assert len(runs) == 1  # written by the daemon through the job bus
            jobs = list((home / "exchange" / "jobs").glob("*.json"))
            assert jobs and '"state": "done"' in jobs[0].read_text()

            # 5. open trades on the chart: Next, then a row of the trades table
            chart = _key(page, "backtest_run_chart")
            chart.scroll_into_view_if_needed()
            expect(_plot(page, "backtest_run_chart")).to_be_visible()
            whole = _x_range(page, "backtest_run_chart")
            clock.time("open a trade on the chart", "Backtest: Next trade",
                       _key(page, "backtest_trades_next").get_by_role("button").click)
            first = _x_range(page, "backtest_run_chart", other_than=(whole,))
            assert first != whole and first[0] > whole[0] and first[1] < whole[1], (whole, first)
            _check_y_refits(page, home, "backtest_run_chart")  # pan: y fits the candles
            first = _x_range(page, "backtest_run_chart")
            table = _key(page, "backtest_trades_rows")
            table.scroll_into_view_if_needed()
            if table.locator("tr").count() > 2:  # a header and two trades: click the second
                box = table.bounding_box()
                clock.time("open a trade on the chart", "Backtest: trade table row",
                           lambda: page.mouse.click(box["x"] + 18, box["y"] + 35 + 35 + 17))
                second = _x_range(page, "backtest_run_chart", other_than=(whole, first))
                assert second not in (whole, first), (whole, first, second)

            # the run's other charts are built when their tab is opened (a page opens with one)
            clock.time("open a tab", "Backtest: Calendar tab",
                       page.get_by_role("tab", name="Calendar").click,
                       until=_visible(_key(page, "backtest_chart_monthly")
                                      .locator(".js-plotly-plot")))
            expect(_key(page, "backtest_chart_hour").locator(".js-plotly-plot")).to_be_visible()

            # 6. Research: sweep two parameters as a daemon job; save the best row as a version
            _open(clock, page, "Research",
                  until=_visible(page.get_by_role("heading", name="Research", exact=True)))
            _choose(clock, page, _key(page, "research_setup"), "sma-cross", "Research: setup",
                    until=_visible(page.get_by_text("sma-cross v1 keeps its own")))
            clock.time("click a button", "Research: Grid sweep",
                       _key(page, "research_method").get_by_role("radio", name="Grid sweep").click,
                       until=_visible(page.get_by_role("button", name="Run grid sweep")))
            clock.time("daemon job", "Research: sweep 20 variants in the daemon",
                       page.get_by_role("button", name="Run grid sweep").click,
                       until=_visible(page.get_by_test_id("stMetricLabel").filter(
                           has_text="Variants")), ceiling=JOB_CEILING)
            expect(page.get_by_test_id("stMetricValue").nth(1)).to_have_text("20")
            row_box = page.locator('[class*="st-key-research_row_"]')
            _choose(clock, page, row_box, re.compile(r"^#1: "), "Research: best row")
            best_row = row_box.get_by_role("combobox").input_value()  # the table is best first
            fast, slow = re.search(r"fast = (\d+), conditions\.cross\.slow = (\d+)",
                                   best_row).groups()
            clock.time("click a button", "Research: Save as new version",
                       page.locator('[class*="st-key-research_save_"]').get_by_role("button").click,
                       until=_visible(page.get_by_text("Saved as sma-cross v2 (now active)")))
            best = home / "setups" / "sma-cross" / "v0002.yaml"
            assert f"fast: {fast}" in best.read_text() and f"slow: {slow}" in best.read_text()

            # 7. Journal: a note and a tag on a trade of the v3 run; the tag filter finds it
            _open(clock, page, "Journal",
                  until=_visible(page.get_by_role("heading", name="Journal", exact=True)))
            expect(_combo(page, "journal_setup")).to_have_value(SETUP)
            expect(_combo(page, "journal_version")).to_have_value("v3 (active)")
            note = page.get_by_label("Note", exact=True)
            note.fill("e2e: entered late, the block was already tested")
            clock.time("type into a field", "Journal: note (blur)", lambda: note.press("Tab"))
            tags = page.get_by_label(re.compile(r"^Tags \(commas"))
            tags.fill("e2e-check")
            clock.time("type into a field", "Journal: tags", lambda: tags.press("Enter"))
            clock.time("click a button", "Journal: Save to journal",
                       page.get_by_role("button", name="Save to journal").click,
                       until=_visible(page.get_by_text("Saved to your journal")))
            _choose(clock, page, _key(page, "journal_filter_tags"), "e2e-check",
                    "Journal: tag filter", until=_visible(page.get_by_text(re.compile(
                        r"^1 of \d+ trades · 1 journaled"))))
            listed = page.get_by_test_id("stDataFrame").first
            expect(_cells(listed, "e2e: entered late")).not_to_have_count(0)
            written = list(home.glob("shared_kb/analysts/*/journal/*.yaml"))
            assert len(written) == 1 and "e2e: entered late" in written[0].read_text()
            assert "e2e-check" in written[0].read_text()

            _live_step(clock, page, home)
            _paper_step(clock, page, home)
            _knowledge_step(clock, page, home, tmp_path_factory.mktemp("kb"))
            _learning_step(clock, page, home)

            # 10. every page settles (none reruns itself in a loop) and is screenshot; the app
            # scrolls inside its own container, so a tall window is what shows a whole page
            page.set_viewport_size({"width": 1440, "height": 2400})
            for name in PAGES:
                _open(clock, page, name)
                page.wait_for_timeout(1500)  # let charts draw
                _settled(page)
                assert not page.get_by_text("Traceback").count()
                page.screenshot(path=str(SHOTS / f"{name.lower()}.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            print("\ninteraction timings (action → page settled):\n" + clock.write())
        browser.close()
    clock.assert_medians()
