"""The Runs page's Reports section and Settings' Notion state (widget keys ``runs_reports_*``,
``settings_notion_*``). No logic of its own: the reports are `engine.reports`, the Notion page
`engine.adapters.notion.backtest_report`, Notion's state `workspace_status` (read from the
local state file: opening a page never asks Notion).

- **Send to Notion**: disabled with the how-to sentence until Notion is configured and set up;
  a ``notion_report`` job when the engine daemon runs (a report is ~20 requests at Notion's
  3 per second: the page must not wait for it), else here with a spinner.
- **Random-sample check**: the table the Notion page shows (`sample_table_rows`: the run's
  trades, exact times and prices, the seed) and one chart per trade, cached by run and draw.
- **Period report**: from/to days in the trader's zone (the last day included), an optional
  setup; behind a toggle (it reads every run and the journal: the Runs page's other reruns do
  none of it), the backtest-vs-live drift table and the CSV and HTML bytes, cached by the
  inputs and the runs' and journal's files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from app import state
from app.jobs_ui import follow
from app.ui import user_errors
from engine.adapters.notion.backtest_report import SAMPLE_HEADER, sample_table_rows
from engine.adapters.notion.config import ENABLE_HINT, NotionSettings, notion_settings
from engine.adapters.notion.workspace import DATABASES, REPORTS_TITLE, workspace_status
from engine.errors import ItaError

JOB_KEY = "runs_reports_job"
SETUP_HINT = ("Notion is configured but not set up: run `ita notion setup` (it creates the "
              "journal, the parameter table and the reports page once)")
ALL_SETUPS = "All setups"


# --- Notion's state ---------------------------------------------------------------------------
def notion_blocker(home: str | Path, settings: NotionSettings) -> str | None:
    """Why a report cannot be sent to Notion (the how-to sentence), or None when it can."""
    try:
        status = workspace_status(home, settings)
    except ItaError as error:  # an unusable NOTION_PARENT_PAGE
        return str(error)
    if not status["enabled"]:
        return ENABLE_HINT
    if not status["set_up"] or not status.get("reports_page_id"):
        return SETUP_HINT
    return None


def notion_url(object_id: str | None) -> str | None:
    return f"https://www.notion.so/{object_id.replace('-', '')}" if object_id else None


def notion_rows(home: str | Path, settings: NotionSettings) -> list[dict]:
    """Settings' table: what ITA has in Notion, the outbox, the last sync (no request)."""
    status = workspace_status(home, settings)
    rows = [{"what": "parent page", "state": notion_url(status["parent_page_id"])}]
    for name, (title, _) in DATABASES.items():
        ids = status["databases"].get(name)
        rows.append({"what": title, "state": notion_url(ids["database_id"]) if ids
                     else "not created: run `ita notion setup`"})
    rows.append({"what": REPORTS_TITLE, "state": notion_url(status["reports_page_id"])
                 or "not created: run `ita notion setup`"})
    rows.append({"what": "journal rows in Notion", "state": str(status["journal_rows"])})
    rows.append({"what": "writes waiting in the outbox", "state": str(status["outbox_pending"])})
    rows.append({"what": "last write Notion confirmed", "state": last_sync(home)})
    return rows


def last_sync(home: str | Path, tz=None) -> str:
    """When ITA last recorded a write Notion confirmed (the state file, saved after each one:
    a journal row, a parameter row, a report page), or "never"."""
    from engine.backtest.presentation import format_time

    path = Path(home) / ".ita" / "notion.json"
    if not path.exists():
        return "never"
    return format_time(pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC"), tz)


def notion_section(settings) -> None:
    """Settings' Notion part: enabled or how, set up or how, the links and the outbox."""
    notion = notion_settings()
    blocker = notion_blocker(settings.home, notion)
    if blocker == ENABLE_HINT or (blocker and blocker != SETUP_HINT):
        st.info(blocker)
        return
    if blocker == SETUP_HINT:
        st.warning(SETUP_HINT)
    else:
        st.success("Notion is enabled and set up: reports, the signal journal and the "
                   "parameter table go there.")
    st.dataframe(notion_rows(settings.home, notion), hide_index=True, width="stretch",
                 column_config={"state": st.column_config.TextColumn("state")},
                 key="settings_notion_table")


# --- the random-sample check ------------------------------------------------------------------
@st.cache_data(max_entries=16, show_spinner=False)
def sample_check(runs_root: str, run_id: str, sample: int, seed: int, zone: str
                 ) -> tuple[pd.DataFrame, list[bytes]]:
    """The sample's table (as the Notion page shows it) and one chart PNG per trade."""
    from engine.adapters.runs import RunStore
    from engine.reports.period import run_report

    report = run_report(RunStore(Path(runs_root)), run_id, sample=sample, seed=seed,
                        tz=state.settings().display_zone)
    table = pd.DataFrame(sample_table_rows(report), columns=list(SAMPLE_HEADER))
    return table, report.sample_pngs()


# --- the period report ------------------------------------------------------------------------
def period_bounds(first: dt.date, last: dt.date, tz) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[first 00:00, the day after last 00:00)`` in the trader's zone, as UTC."""
    start = pd.Timestamp(first).tz_localize(tz).tz_convert("UTC")
    end = (pd.Timestamp(last) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    return start, end


def _inputs_stamp(home: Path) -> str:
    from engine.live.journal import journal_path

    journal = journal_path(home)
    seen = journal.stat().st_mtime_ns if journal.exists() else 0
    return f"{state._stamp(home / 'runs', '*/summary.json')}:{seen}"


@st.cache_data(max_entries=8, show_spinner=False)
def period_files(home: str, start: str, end: str, setup: str | None, stamp: str
                 ) -> tuple[pd.DataFrame, bytes, bytes]:
    """(the drift table, the CSV bytes, the HTML bytes) of `engine.reports.drift`."""
    from engine.reports.drift import period_report, render_html

    report = period_report(state.settings(), start=start, end=end, setup=setup)
    table = report.table()
    return table, table.to_csv(index=False).encode(), render_html(report).encode()


DRIFT_COLUMNS = ("setup_id", "setup_version", "backtest_trades", "backtest_expectancy_r_net",
                 "backtest_period_trades", "backtest_period_expectancy_r_net", "live_signals",
                 "live_taken", "live_outcomes", "live_expectancy_r", "drift_r", "verdict")


# --- the section ------------------------------------------------------------------------------
def reports_section(settings, run_id: str, run_name: str) -> None:
    """The Runs page's Reports: send the run to Notion, its random-sample check, a period
    report with its downloads."""
    _send_to_notion(settings, run_id)
    _sample_check(settings, run_id, run_name)
    _period_report(settings, run_id)


def _send_to_notion(settings, run_id: str) -> None:
    blocker = notion_blocker(settings.home, notion_settings())
    running = _follow_job()
    clicked = st.button("Send to Notion", key="runs_reports_notion", disabled=bool(blocker)
                        or running, help=blocker or "One page under 'ITA reports'; sending "
                        "the run again replaces its page")
    if blocker:
        st.caption(blocker)
    if not clicked:
        return
    sample = int(st.session_state.get("runs_reports_sample", 5))
    seed = int(st.session_state.get("runs_reports_seed", 0))
    engine = state.engine_state()
    if engine and engine["alive"]:
        st.session_state[JOB_KEY] = state.job_bus().submit(
            "notion_report", {"run_id": run_id, "sample": sample, "seed": seed})
        st.rerun()
    from engine.adapters.notion.backtest_report import build_report, publish_backtest_report

    with user_errors(), st.spinner("Sending the report to Notion"):
        report = build_report(settings, run_id=run_id, sample=sample, seed=seed)
        page_id = publish_backtest_report(settings.home, notion_settings(), report)
        st.success(f"Sent to Notion: {notion_url(page_id)}")


def _follow_job() -> bool:
    """True while a sent report's job runs (its progress shows); its outcome when it ends."""
    if not st.session_state.get(JOB_KEY):
        return False
    status = follow(JOB_KEY)
    if status is None:
        return True
    st.session_state.pop(JOB_KEY, None)
    if status["state"] == "done":
        st.success(f"Sent to Notion: {notion_url((status.get('result') or {}).get('page_id'))}")
    else:
        st.error(f"Sending to Notion {status['state']}: {status.get('error', '')}")
    return False


def _sample_check(settings, run_id: str, run_name: str) -> None:
    left, right, _ = st.columns([1, 1, 3])
    sample = left.number_input("Trades to draw", 0, 20, 5, key="runs_reports_sample")
    seed = right.number_input("Seed", 0, 1_000_000, 0, key="runs_reports_seed")
    if not st.toggle("Show the random-sample check", key="runs_reports_show_sample"):
        return
    from engine.backtest.presentation import zone_name

    with user_errors():
        table, pngs = sample_check(str(settings.runs_dir), run_id, int(sample), int(seed),
                                   zone_name(settings.display_zone))
        st.caption(f"{len(table)} trades of {run_name} drawn with seed {int(seed)} (the same "
                   f"seed draws the same trades); times in {zone_name(settings.display_zone)}, "
                   "prices exactly as filled.")
        st.dataframe(table, hide_index=True, width="stretch", key="runs_reports_sample_table")
        columns = st.columns(2)
        for number, png in enumerate(pngs):
            columns[number % 2].image(png, caption=f"#{number + 1}")


def run_days(settings, run_id: str) -> tuple[dt.date, dt.date]:
    """The run's first and last day of data in the trader's zone (the period's default; the
    last 30 days for a run that records no data range). Reads the summary only (no report
    module: those load matplotlib, half a second on a fresh server)."""
    summary = state.run_store().summary(run_id)
    if not (summary.get("data_start") and summary.get("data_end")):
        today = dt.datetime.now(settings.display_zone).date()
        return today - dt.timedelta(days=30), today
    return tuple(_utc(summary[k]).tz_convert(settings.display_zone).date()
                 for k in ("data_start", "data_end"))


def _utc(value) -> pd.Timestamp:
    moment = pd.Timestamp(value)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _period_report(settings, run_id: str) -> None:
    from engine.backtest.presentation import zone_name
    from engine.setups.store import SetupStore

    tz = settings.display_zone
    st.markdown("**Period report** — every setup version's backtest against its live trades "
                f"(days in {zone_name(tz)}, the last one included)")
    default_first, default_last = run_days(settings, run_id)
    first_col, last_col, setup_col = st.columns(3)
    first = first_col.date_input("From", default_first, key="runs_reports_from")
    last = last_col.date_input("To (included)", default_last, key="runs_reports_to")
    setups = [ALL_SETUPS, *SetupStore.from_settings(settings).ids()]
    chosen = setup_col.selectbox("Setup", setups, key="runs_reports_setup")
    if first > last:
        st.error("From must be on or before To.")
        return
    if not st.toggle("Show the period report", key="runs_reports_show_period"):
        return  # built only when asked: it reads every run and the journal
    start, end = period_bounds(first, last, tz)
    with user_errors():
        table, csv, html = period_files(str(settings.home), start.isoformat(), end.isoformat(),
                                        None if chosen == ALL_SETUPS else chosen,
                                        _inputs_stamp(Path(settings.home)))
        shown = table[[c for c in DRIFT_COLUMNS if c in table]]
        st.dataframe(shown, hide_index=True, width="stretch", key="runs_reports_drift")
        name = f"ita-period-{first:%Y-%m-%d}-{last:%Y-%m-%d}"
        csv_col, html_col, _ = st.columns([1, 1, 3])
        csv_col.download_button("CSV", csv, f"{name}.csv", "text/csv",
                                key="runs_reports_csv")
        html_col.download_button("HTML", html, f"{name}.html", "text/html",
                                 key="runs_reports_html")
