"""The Learning page's labels section: the trader's labels against the detector
(`engine.learn.labels`), in one call, `labels_section(settings, setup_id, version)`.

It draws, top to bottom:

- **the check**: a tolerance in bars, precision and recall in words (the engine's definitions:
  recall = setups found / setups labelled, precision = labelled bars where ITA signals that
  are setups / all labelled bars where it signals), the counts;
- **every disagreement side by side**: the trader's screenshot (when the label has one) next
  to ITA's chart of the same bars (`disagreement_png`, cached per label id, setup version,
  tolerance, zone and a stamp of the candles and labels), the note, and Delete (with confirm);
- **labelling by a click on the chart**: a Plotly candle chart of a window the trader picks
  (at most `WINDOW_BARS` bars) with the setup's signals and the labels marked. It is drawn
  with `st.plotly_chart(..., on_select="rerun", selection_mode="points")`, not the app's own
  `app.plotly_view` component (that one reports nothing back to Python). With Streamlit 1.67
  a click on a candle reports that candlestick point (tried in Chromium: no invisible scatter
  is needed on top); the candles and the label marks carry each bar's UTC open time as
  `customdata`, so a click needs no local-time arithmetic (a signal marker's local x is read
  in the display zone). The clicked time is snapped to the bar that contains it and fills the
  form; "Setup here" / "Not a setup" save the label with the note;
- **upload**: screenshots, each with its sidecar fields (symbol, timeframe, time in the
  trader's zone, label, note), saved through `LabelStore.save` beside the labels;
- **the list of labels** with their source (chart click, screenshot, CLI).

Every write goes through the engine; an `ItaError` is shown in one line (`app.ui`).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.charts import add_signals
from app.ui import show_error
from engine.adapters.journal import MAX_SCREENSHOT_BYTES
from engine.candles import TIMEFRAMES, timeframe_delta
from engine.charts import PriceChart, local_times
from engine.errors import ItaError
from engine.learn.labels import (
    KINDS,
    LabelCheck,
    LabelStore,
    check_labels,
    disagreement_png,
    make_label,
)

MAX_PAIRS = 20  # disagreements drawn side by side (each is a chart picture)
WINDOW_BARS = (250, 500, 1000)  # the chart's window sizes a trader can pick (at most 1,000)
KIND_WORDS = {"setup": "setup here", "not_setup": "not a setup"}
SOURCE_WORDS = {"chart": "chart click", "screenshot": "screenshot", "cli": "CLI"}
OUTCOME_WORDS = {"missed": "ITA missed your setup",
                 "false_positive": "ITA signals where you said: not a setup"}
_TIME_FORMAT = "%Y-%m-%d %H:%M"


def labels_section(settings, setup_id: str, version: int) -> None:
    """The labels of `setup_id` checked against its version `version` (module docstring)."""
    zone = settings.display_zone
    store = LabelStore.from_settings(settings)
    try:
        setup = state.setup_version(setup_id, version).setup
    except ItaError as error:
        show_error(error)
        return
    _forget_other_setup(f"{setup_id}@{version}")
    st.subheader("Your labels against the detector")
    _flash("delete")
    check = _check_part(settings, store, setup_id, version, zone)
    if check is not None:
        _disagreements(check, store, zone)
    _chart_part(settings, store, setup, version, zone)
    _upload_part(store, setup, zone)
    _labels_list(store, setup_id, zone)


_PER_SETUP = ("labels_click_time", "labels_click_note", "labels_click_seen", "labels_confirm",
              "labels_chart_symbol", "labels_chart_from")


def _forget_other_setup(ref: str) -> None:
    """A time typed, a bar clicked or a file uploaded for one setup version never carries over
    to the next one the page shows."""
    if st.session_state.get("labels_setup") == ref:
        return
    if "labels_setup" in st.session_state:
        for key in _PER_SETUP:
            st.session_state.pop(key, None)
        for key in ("labels_chart_round", "labels_upload_round"):
            st.session_state[key] = st.session_state.get(key, 0) + 1
    st.session_state["labels_setup"] = ref


# --- the check ------------------------------------------------------------------------------


def _stamp(store: LabelStore) -> str:
    """The labels folder and its files' names and times: changes with every saved label."""
    return f"{store.root}|{state._stamp(store.root, '*.yaml')}"


def _candles_stamp() -> str:
    root = state.candle_store().root
    return f"{root}|{state._stamp(root, '*/*/*.parquet')}"


@st.cache_resource(show_spinner=False, max_entries=8)
def _cached_check(_settings, ref: str, setup_hash: str, labels: str, candles: str,
                  tolerance: int) -> LabelCheck:
    return check_labels(_settings, ref, tolerance_bars=tolerance)


def _check_part(settings, store, setup_id: str, version: int, zone) -> LabelCheck | None:
    tolerance = st.number_input("Tolerance (± bars a signal may be off your bar)", min_value=0,
                                max_value=50, value=3, step=1, key="labels_tolerance")
    try:
        check = _cached_check(settings, f"{setup_id}@{version}",
                              state.setup_version(setup_id, version).hash, _stamp(store),
                              _candles_stamp(), int(tolerance))
    except ItaError as error:
        show_error(error)
        return None
    if check.frame.empty:
        st.info("No labels of this setup yet: click a bar on the chart below or upload a "
                "screenshot.")
        return None
    st.markdown(check_words(check))
    counts = {"labels": len(check.frame), "found": check.count("true_positive"),
              "missed": check.count("missed"), "false signals": check.count("false_positive"),
              "agreed not": check.count("true_negative")}
    for column, (name, value) in zip(st.columns(len(counts)), counts.items(), strict=True):
        column.metric(name, value)
    return check


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}".replace("%", " %")


def check_words(check: LabelCheck) -> str:
    """Precision and recall as a trader reads them, with the counts behind them."""
    found, missed = check.count("true_positive"), check.count("missed")
    false = check.count("false_positive")
    text = (f"ITA found **{found} of your {found + missed} setups** (recall "
            f"{_percent(check.recall)}); **{found} of the {found + false} labelled bars where "
            f"it signals** are your setups (precision {_percent(check.precision)}) · "
            f"±{check.tolerance_bars} bars · {check.signals} signals on the labelled symbols.")
    outside = check.count("no_candles")
    if outside:
        text += f" {outside} labels lie outside the stored candles and are not counted."
    return text


# --- disagreements --------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=64)
def _picture(_check: LabelCheck, label_id: str, setup_ref: str, candles: str, outcome: str,
             tolerance: int, zone: str) -> bytes:
    """ITA's chart of one label's bars: it depends on the label (its id names the bar, the
    outcome its kind), the setup version, the candles, the tolerance and the zone, not on the
    other labels, so saving or deleting a label redraws none of the others."""
    return disagreement_png(_check, label_id, tz=zone)


def _disagreements(check: LabelCheck, store: LabelStore, zone) -> None:
    rows = check.disagreements
    if rows.empty:
        st.success("No disagreements: every label agrees with the detector.")
        return
    st.markdown(f"#### {len(rows)} disagreements")
    if len(rows) > MAX_PAIRS:
        st.caption(f"The first {MAX_PAIRS} by time are shown; fix them, or narrow the labels, "
                   "to see the rest (`ita labels check --pictures` writes them all).")
    candles = _candles_stamp()
    ref = f"{check.setup_id}@{check.setup_version}"
    for row in rows.iloc[:MAX_PAIRS].itertuples():
        when = f"{local_times([row.bar_time], zone)[0]:{_TIME_FORMAT}}"
        st.markdown(f"**{row.symbol} {when}** · {OUTCOME_WORDS[row.outcome]}"
                    + (f" · _{row.note}_" if row.note else ""))
        left, right = st.columns(2)
        if isinstance(row.screenshot, str) and row.screenshot:
            left.image(row.screenshot, caption="your screenshot")
        else:
            left.caption("No screenshot with this label (labelled on the chart or by the CLI).")
        try:
            png = _picture(check, row.label_id, ref, candles, row.outcome,
                           check.tolerance_bars, str(zone))
        except ItaError as error:
            right.error(str(error))
        else:
            right.image(png, caption="ITA's chart of the same bars")
        _delete_button(store, row.label_id)


def _delete_button(store: LabelStore, label_id: str) -> None:
    if st.session_state.get("labels_confirm") == label_id:
        st.warning("Delete this label? Its screenshot goes too unless another label uses it.")
        yes, no = st.columns(2)
        yes.button("Yes, delete", key=f"labels_delete_yes_{label_id}", on_click=_delete,
                   args=(store, label_id))
        no.button("Cancel", key=f"labels_delete_no_{label_id}", on_click=_confirm,
                  args=(None,))
    else:
        st.button("Delete label", key=f"labels_delete_{label_id}", on_click=_confirm,
                  args=(label_id,))


def _confirm(label_id: str | None) -> None:
    st.session_state["labels_confirm"] = label_id


def _delete(store: LabelStore, label_id: str) -> None:
    st.session_state["labels_confirm"] = None
    try:
        store.delete(label_id)
    except ItaError as error:
        _say("delete", "error", str(error))
        return
    _say("delete", "success", "Label deleted.")


def _say(slot: str, kind: str, text: str) -> None:
    """Keep a message for the next run, shown where the trader acted (`_flash(slot)`)."""
    st.session_state.setdefault(f"labels_flash_{slot}", []).append((kind, text))


def _flash(slot: str) -> None:
    for kind, text in st.session_state.pop(f"labels_flash_{slot}", []):
        (st.error if kind == "error" else st.success)(text)


# --- labelling on the chart ----------------------------------------------------------------


def _chart_part(settings, store: LabelStore, setup, version: int, zone) -> None:
    st.markdown("#### Label on the chart")
    st.caption("Click a bar, then say whether it is a setup.")
    symbols = list(setup.market.symbols)
    left, middle, right = st.columns(3)
    symbol = left.selectbox("Symbol", symbols, key="labels_chart_symbol")
    bars = middle.selectbox("Bars", WINDOW_BARS, index=1, key="labels_chart_bars")
    try:
        candles, signals, timeframe = state.signals(state.setup_version(setup.id, version),
                                                    symbol=symbol)
    except ItaError as error:
        show_error(error)
        return
    local = local_times(candles.index, zone)
    first, last = local[0].date(), local[-1].date()
    start_day = right.date_input("From (a later day shows the last bars)", value=last,
                                 min_value=first, max_value=last, key="labels_chart_from")
    at = min(int(local.searchsorted(pd.Timestamp(start_day))), max(len(candles) - bars, 0))
    window = candles.iloc[at:at + bars]
    shown = local[at:at + bars]
    st.caption(f"{shown[0]:{_TIME_FORMAT}} – {shown[-1]:{_TIME_FORMAT}} ({zone}), "
               f"{len(window):,} bars of {timeframe}.")
    figure = chart_figure(window, signals, store.labels_in(
        setup.id, symbol, window.index[0], window.index[-1]), timeframe, zone=zone,
        title=f"{setup.id} v{version} · {symbol} {timeframe}")
    round_ = st.session_state.setdefault("labels_chart_round", 0)  # a new one per setup only
    event = st.plotly_chart(figure, key=f"labels_chart_{round_}", on_select="rerun",
                            selection_mode="points", config={"scrollZoom": True})
    clicked = bar_of(window.index, clicked_time(event, zone), timeframe_delta(timeframe))
    # `labels_click_seen` is the selection last read: a selection already read (kept across a
    # save) fills nothing; once the chart has none, the same bar clicked again fills it again.
    if st.session_state.get("labels_click_seen") != clicked:
        st.session_state["labels_click_seen"] = clicked
        if clicked is not None:
            st.session_state["labels_click_time"] = \
                f"{local_times([clicked], zone)[0]:{_TIME_FORMAT}}"
    _click_form(store, setup, symbol, timeframe, zone)


def chart_figure(window: pd.DataFrame, signals: pd.DataFrame, labels: list, timeframe: str, *,
                 zone, title: str):
    """The window's candles (each carrying its UTC open time as `customdata`, which a click
    reports), the signals in it and the labels (stars: setup, crosses: not a setup)."""
    chart = PriceChart(window, timeframe, tz=zone, title=title, height=520,
                       max_candles=max(WINDOW_BARS))
    figure = chart.figure
    figure.update_traces(customdata=[t.isoformat() for t in window.index],
                         selector={"type": "candlestick"})
    if len(signals):
        inside = signals[(signals["known_at"] >= window.index[0])
                         & (signals["known_at"] <= window.index[-1])]
        add_signals(figure, inside, tz=zone)
    for kind, symbol, color in (("setup", "star", "#1e88e5"), ("not_setup", "x", "#546e7a")):
        chosen = [x for x in labels if x.label == kind]
        if chosen:
            at = window.index.searchsorted([x.timestamp for x in chosen], side="right") - 1
            highs = window["high"].to_numpy()[at.clip(0)]
            figure.add_scatter(x=local_times([x.timestamp for x in chosen], zone),
                               y=highs * 1.0015, mode="markers", name=f"you: {KIND_WORDS[kind]}",
                               marker={"symbol": symbol, "size": 12, "color": color},
                               hovertext=[x.note for x in chosen],
                               customdata=[x.timestamp.isoformat() for x in chosen])
    figure.update_layout(clickmode="event+select", dragmode="pan")
    return figure


def clicked_time(event, zone) -> pd.Timestamp | None:
    """The UTC time a chart selection points at (None without a point): a candle's or a
    label's `customdata`, else the point's local x read in `zone`."""
    points = (event or {}).get("selection", {}).get("points", []) if event else []
    if not points:
        return None
    point = next((p for p in points if p.get("customdata")), points[0])
    value = point.get("customdata")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        if value:
            return pd.Timestamp(value).tz_convert("UTC")
        stamp = pd.Timestamp(point.get("x"))
        if pd.isna(stamp):
            return None
        return stamp.tz_localize(zone).tz_convert("UTC") if stamp.tzinfo is None else \
            stamp.tz_convert("UTC")
    except (TypeError, ValueError):  # not a time, or a local time a clock change skips
        return None


def bar_of(index: pd.DatetimeIndex, time: pd.Timestamp | None,
           bar: pd.Timedelta) -> pd.Timestamp | None:
    """The open time of the bar of `index` (bars of length `bar`) that contains `time`
    (None outside them)."""
    if time is None or not len(index) or not index[0] <= time < index[-1] + bar:
        return None
    return index[int(index.searchsorted(time, side="right")) - 1]


def _click_form(store, setup, symbol: str, timeframe: str, zone) -> None:
    time_box, note_box = st.columns([1, 2])
    time_box.text_input(f"Bar time ({zone})", key="labels_click_time",
                        placeholder="click a bar, or type 2023-03-07 15:20")
    note_box.text_input("Note", key="labels_click_note", placeholder="why (optional)")
    yes, no = st.columns(2)
    for column, kind, words in ((yes, "setup", "Setup here"), (no, "not_setup", "Not a setup")):
        column.button(words, key=f"labels_click_{kind}", on_click=_save_click,
                      args=(store, setup.id, symbol, timeframe, kind, str(zone)))
    _flash("click")


def _save_click(store, setup_id: str, symbol: str, timeframe: str, kind: str, zone: str) -> None:
    """Save the clicked bar's label; a label already on that bar is replaced, but its
    screenshot stays with the new one (the trader's picture is never dropped by a click)."""
    text = st.session_state.get("labels_click_time", "")
    try:
        made = make_label(setup_id, symbol=symbol, timeframe=timeframe, time=text, label=kind,
                          note=st.session_state.get("labels_click_note"), source="chart",
                          tz=zone)
        earlier = store.get(made.label_id)
        if earlier is not None and earlier.screenshot:
            made = made.model_copy(update={"screenshot": earlier.screenshot})
        store.save(made)
    except ItaError as error:
        _say("click", "error", str(error))
        return
    replaced = "" if earlier is None else f" (it replaces your earlier label: " \
        f"{KIND_WORDS[earlier.label]})"
    _say("click", "success",
         f"Labelled {made.symbol} {text} as {KIND_WORDS[made.label]}{replaced}.")
    st.session_state["labels_click_note"] = ""
    # The chart keeps its key, so a selection Streamlit still holds is the bar just saved:
    # `labels_click_seen` names it and it fills nothing again. (Streamlit 1.67 hashes the figure
    # into the chart's element id, so the new label's mark still remounts the chart in the
    # browser: measured, the same Plotly node does not survive a save with either key.)


# --- upload ---------------------------------------------------------------------------------


def _upload_part(store: LabelStore, setup, zone) -> None:
    st.markdown("#### Upload screenshots")
    round_ = st.session_state.setdefault("labels_upload_round", 0)
    megabytes = MAX_SCREENSHOT_BYTES // (1024 * 1024)
    files = st.file_uploader(f"Screenshots (PNG or JPEG, at most {megabytes} MB each)",
                             type=["png", "jpg", "jpeg"], accept_multiple_files=True,
                             max_upload_size=megabytes,
                             key=f"labels_upload_{round_}")
    _flash("upload")
    if not files:
        return
    symbols, timeframes = list(setup.market.symbols), list(TIMEFRAMES)
    for i, upload in enumerate(files):
        st.markdown(f"**{upload.name}**")
        a, b, c, d = st.columns([1, 1, 1.4, 1])
        a.selectbox("Symbol", symbols, key=f"labels_up_symbol_{round_}_{i}")
        b.selectbox("Timeframe", timeframes, index=timeframes.index(setup.market.timeframe),
                    key=f"labels_up_tf_{round_}_{i}")
        c.text_input(f"Bar time ({zone})", key=f"labels_up_time_{round_}_{i}",
                     placeholder="2023-03-07 15:20")
        d.selectbox("Label", KINDS, format_func=KIND_WORDS.get,
                    key=f"labels_up_kind_{round_}_{i}")
        st.text_input("Note", key=f"labels_up_note_{round_}_{i}")
    st.button(f"Save {len(files)} label{'s' * (len(files) != 1)}", key="labels_up_save",
              on_click=_save_uploads, args=(store, setup.id, str(zone)))


def _save_uploads(store: LabelStore, setup_id: str, zone: str) -> None:
    """Save every uploaded screenshot with its fields; a bad one is named in one line and
    kept on the form, and the form empties once all are saved."""
    round_ = st.session_state.get("labels_upload_round", 0)
    value = st.session_state.get
    saved, failed = 0, 0
    for i, upload in enumerate(value(f"labels_upload_{round_}") or []):
        try:
            made = make_label(setup_id, symbol=value(f"labels_up_symbol_{round_}_{i}"),
                              timeframe=value(f"labels_up_tf_{round_}_{i}"),
                              time=value(f"labels_up_time_{round_}_{i}"),
                              label=value(f"labels_up_kind_{round_}_{i}"),
                              note=value(f"labels_up_note_{round_}_{i}") or "",
                              source="screenshot", tz=zone)
            store.save(made, (upload.name, upload.getvalue()))
        except ItaError as error:
            _say("upload", "error", f"{upload.name}: {error}")
            failed += 1
            continue
        saved += 1
    if saved:
        _say("upload", "success", f"Saved {saved} label{'s' * (saved != 1)} with "
                                  f"{'their screenshots' if saved != 1 else 'its screenshot'}.")
    if saved and not failed:
        st.session_state["labels_upload_round"] = round_ + 1


# --- the list -------------------------------------------------------------------------------


def labels_frame(labels: list, zone) -> pd.DataFrame:
    """The labels as the section lists them: time in the trader's zone, source in words."""
    columns = ["time", "symbol", "label", "source", "note", "timeframe", "screenshot", "id"]
    rows = [{"time": local_times([x.timestamp], zone)[0], "symbol": x.symbol,
             "label": KIND_WORDS[x.label], "source": SOURCE_WORDS[x.origin], "note": x.note,
             "timeframe": x.timeframe, "screenshot": x.screenshot or "", "id": x.label_id}
            for x in labels]
    return pd.DataFrame(rows, columns=columns)


def _labels_list(store: LabelStore, setup_id: str, zone) -> None:
    try:
        labels = store.labels(setup_id)
    except ItaError as error:
        show_error(error)
        return
    st.markdown(f"#### All labels ({len(labels)})")
    if not labels:
        st.caption("None yet.")
        return
    config = {"time": st.column_config.DatetimeColumn(f"time ({zone})",
                                                       format="YYYY-MM-DD HH:mm"),
              "note": st.column_config.TextColumn("note", width="large")}
    st.dataframe(labels_frame(labels, zone), hide_index=True, column_config=config)


__all__ = ["WINDOW_BARS", "bar_of", "chart_figure", "check_words", "clicked_time", "labels_frame",
           "labels_section"]
