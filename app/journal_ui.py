"""The Journal page's pieces: the cached entry loader, the filter row, the trade table's
columns and the annotate form (the journal itself is `engine.journal` and
`engine.adapters.journal`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app.ui import show_error, table
from engine.adapters.journal import JournalStore
from engine.backtest import presentation as view
from engine.errors import ItaError
from engine.journal import (
    MISTAKES,
    WEEKDAYS,
    JournalEntry,
    TradeKey,
    journal_frame,
    untraded_signals,
)

DIRECTIONS = {"long": 1, "short": -1}


def journal_store() -> JournalStore:
    from app.state import settings

    return JournalStore.from_settings(settings())


@st.cache_data(show_spinner=False, max_entries=16)
def _entries(root: str, stamp: float, setup_id: str, version: int) -> dict[str, JournalEntry]:
    return JournalStore(Path(root)).entries(setup_id=setup_id, setup_version=version)


def entries(store: JournalStore, setup_id: str, version: int) -> dict[str, JournalEntry]:
    """The entries of one setup version, cached until a file of the journal changes."""
    root = store.root
    stamp = max([root.stat().st_mtime if root.exists() else 0.0]
                + [p.stat().st_mtime for p in root.glob("*.yaml")])
    return _entries(str(root), stamp, setup_id, int(version))


def filters(frame: pd.DataFrame) -> dict:
    """The filter row (tags, mistakes, session, weekday, direction); returns the choices as
    `engine.journal.filter_trades` takes them."""
    tags = sorted({t for have in frame["tags"] for t in have})
    mistakes = sorted({t for have in frame["mistakes"] for t in have})
    sessions = sorted(frame["session"].unique())
    weekdays = [d for d in WEEKDAYS if d in set(frame["weekday"])]
    cols = st.columns(5)
    chosen = {
        "tags": cols[0].multiselect("Tags", tags, key="journal_filter_tags"),
        "mistakes": cols[1].multiselect("Mistakes", mistakes, key="journal_filter_mistakes"),
        "sessions": cols[2].multiselect("Session", sessions, format_func=session_label,
                                        key="journal_filter_session"),
        "weekdays": cols[3].multiselect("Weekday", weekdays, key="journal_filter_weekday"),
    }
    directions = cols[4].multiselect("Direction", list(DIRECTIONS), key="journal_filter_side")
    chosen["directions"] = [DIRECTIONS[d] for d in directions]
    return chosen


def session_label(session: str) -> str:
    """A session as every table names it: ``new_york`` → ``New York``."""
    return view.format_value(session, "choice", name="session")


def version_label(version: int, active: int | None) -> str:
    """``v3 (active)`` or ``v2``, as the other pages' version selectors read."""
    return f"v{version}" + (" (active)" if version == active else "")


def trade_label(row) -> str:
    """``2023-03-01 14:05 long · +1.20 R · New York`` for the trade picker (signal time in
    the display zone)."""
    from app.ui import display_zone

    side = view.format_value(row.direction, "side")
    when = view.format_time(row.signal_time, display_zone())
    r = row.r_net if hasattr(row, "r_net") else row.r_multiple
    return f"{when} {side} · {view.format_value(r, 'r')} · {session_label(row.session)}"


JOURNAL_COLUMNS = (*view.TRADE_COLUMNS, view.Column("tags", "Tags"),
                   view.Column("mistakes", "Mistakes"), view.Column("note", "Note"),
                   view.Column("screenshots", "Shots", "count"))


# the analyst's words get room: pixels (a 1280-px window shows the note and the numbers)
NOTE_WIDTHS = {"tags": 160, "mistakes": 160, "note": 300}


def trades_table(frame: pd.DataFrame) -> dict:
    """`st.dataframe` arguments for the trades as the journal lists them: the analyst's words
    beside the numbers, in the app's one table format."""
    r = ("r_net", "r_gross") if "r_net" in frame.columns else ("r_multiple",)
    shown = table(frame, JOURNAL_COLUMNS, only=("signal_time", "direction", "session", "weekday",
                                                *r, "pnl", "exit_reason", "note", "tags",
                                                "mistakes", "screenshots"))
    _note_columns(shown["column_config"])
    return shown


def _note_columns(config: dict) -> None:
    for name in ("tags", "mistakes"):  # lists of words, shown as chips, wide enough to read
        config[name] = st.column_config.ListColumn(view.words(name), width=NOTE_WIDTHS[name])
    config["note"] = st.column_config.TextColumn("Note", width=NOTE_WIDTHS["note"],
                                                 help="Your note (full text in the form below)")


def annotate_form(store: JournalStore, key: TradeKey, entry: JournalEntry | None, *,
                  entry_id: str, run_id: str, signal: bool = False) -> None:
    """Note, tags, mistakes and a screenshot for one trade (or, `signal=True`, one signal
    that did not trade: its own labels and button, as both forms are on the page)."""
    of = " of the signal" if signal else ""
    note = st.text_area(f"Note{of}", value=entry.note if entry else "",
                        key=f"journal_note_{entry_id}")
    left, right = st.columns(2)
    tags = left.text_input(f"Tags{of} (commas or spaces: a+, news, london-open)",
                           value=", ".join(entry.tags) if entry else "",
                           key=f"journal_tags_{entry_id}")
    have = list(entry.mistakes) if entry else []
    mistakes = right.multiselect(f"Mistakes{of}", sorted(set(MISTAKES) | set(have)), default=have,
                                 key=f"journal_mistakes_{entry_id}", accept_new_options=True)
    shot = st.file_uploader("Attach a screenshot (PNG or JPEG, at most 5 MB)",
                            type=["png", "jpg", "jpeg"], key=f"journal_shot_{entry_id}")
    if st.button("Save signal to journal" if signal else "Save to journal", type="primary",
                 key="journal_save_signal" if signal else "journal_save"):
        try:
            store.annotate(key, note=note, tags=tags, mistakes=mistakes, run_id=run_id)
            if shot is not None:
                store.attach(key, shot.name, shot.getvalue(), run_id=run_id)
        except ItaError as error:
            show_error(error)
            return
        st.session_state["journal_saved"] = entry_id
        st.rerun()
    for name in entry.screenshots if entry else []:
        st.image(str(store.screenshot(entry, name)), caption=name)


SIGNAL_SHOWN = ("signal_time", "direction", "entry_type", "entry", "stop", "target",
                "r_planned", "note", "tags", "mistakes", "screenshots")


def signal_label(row, decimals: int) -> str:
    """``2023-03-01 14:05 long · limit 23,456.78 · stop 23,400.00`` for the signal picker."""
    from app.ui import display_zone

    when = view.format_time(row.signal_time, display_zone())
    side = view.format_value(row.direction, "side")
    price = view.format_value(row.entry, "price", decimals=decimals)
    stop = view.format_value(row.stop, "price", decimals=decimals)
    return f"{when} {side} · {row.entry_type} {price} · stop {stop}"


def untraded_section(store: JournalStore, signals: pd.DataFrame, trades: pd.DataFrame,
                     journal: dict[str, JournalEntry], *, run_id: str) -> None:
    """The run's signals that did not become trades, with the analyst's words, and the
    annotate form for one of them: a skipped or unfilled idea is worth a note too."""
    from app.ui import plan_parts_off

    frame = journal_frame(untraded_signals(signals, trades), journal)
    if frame.empty:
        st.info("Every signal of this run became a trade.")
        return
    st.caption(f"{len(frame)} of {len(signals)} signals did not become trades (skipped while "
               "in a trade or while an order worked, or never filled: the Backtest page counts "
               "why). Notes stay with the idea across re-runs of this version.")
    decimals = view.price_decimals(frame["entry"])
    columns = (view.Column("signal_time", "Signal", "time"), *view.SIGNAL_COLUMNS,
               *JOURNAL_COLUMNS[-4:])
    shown = table(plan_parts_off(frame), columns, decimals=decimals, only=SIGNAL_SHOWN)
    _note_columns(shown["column_config"])
    st.dataframe(**shown, width="stretch", key="journal_signals_table")
    rows = list(frame.itertuples())
    picked = st.selectbox("Signal", range(len(rows)), key="journal_signal",
                          format_func=lambda i: signal_label(rows[i], decimals)
                          if i < len(rows) else "")
    row = rows[picked]
    key = TradeKey(row.setup_id, row.setup_version, row.symbol, row.signal_time, row.direction)
    annotate_form(store, key, store.get(row.entry_id), entry_id=row.entry_id, run_id=run_id,
                  signal=True)
