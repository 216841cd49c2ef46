"""The Learning page's labels section (`app.labels_ui`): the check in words with its counts, a
disagreement shown as the trader's screenshot beside ITA's chart, deleting a label with a
confirm, uploading a screenshot with its sidecar fields, and labelling by a click on the chart
(the selection Plotly sends, simulated)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.learn.labels import LabelStore, make_label
from engine.settings import get_settings
from tests.app.conftest import ROOT

SETUP = "london-asia-sweep-fvg"
SCRIPT = str(ROOT / "tests" / "app" / "labels_section_app.py")


def png(color=(200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def signal_bars(demo_home):
    """The setup's candle index and its signals' bar positions on the demo candles."""
    from engine.pipeline import detect_setup

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(demo_home))
        detection = detect_setup(SETUP)
    index = detection.candles.index
    return index, sorted(set(index.searchsorted(detection.signals["known_at"],
                                                side="right") - 1))


def far_from_signals(index, positions, *, gap: int = 40) -> list[int]:
    """Bars at least `gap` bars from every signal."""
    marks = pd.Series(positions)
    return [i for i in range(gap, len(index) - gap, 97)
            if (marks - i).abs().min() > gap]


@pytest.fixture()
def labelled(app_home, signal_bars, monkeypatch):
    """Two found setups, one missed (with a screenshot), one false signal, one agreed 'not'."""
    monkeypatch.delenv("ITA_DISPLAY_TZ", raising=False)
    index, positions = signal_bars
    far = far_from_signals(index, positions)
    store = LabelStore.from_settings(get_settings())
    made = {}
    for name, at, kind in (("found1", positions[0], "setup"), ("found2", positions[3], "setup"),
                           ("missed", far[0], "setup"), ("false", positions[5], "not_setup"),
                           ("agreed", far[1], "not_setup")):
        shot = ("mine.png", png()) if name == "missed" else None
        made[name] = store.save(make_label(SETUP, symbol="BTC/USDT", timeframe="5m",
                                           time=index[at], label=kind, note=f"note {name}",
                                           source="cli"), shot)
    return store, made, index


def run(**env) -> AppTest:
    at = AppTest.from_file(SCRIPT, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_the_check_says_precision_and_recall_in_words_with_the_counts(labelled) -> None:
    at = run()
    text = markdown(at)
    assert "ITA found **2 of your 3 setups** (recall 67 %)" in text
    assert "**2 of the 3 labelled bars where it signals** are your setups (precision 67 %)" \
        in text
    counts = {m.label: m.value for m in at.metric}
    assert counts == {"labels": "5", "found": "2", "missed": "1", "false signals": "1",
                      "agreed not": "1"}


def test_a_wider_tolerance_is_a_new_check(labelled) -> None:
    store, made, index = labelled
    at = run()
    at.number_input(key="labels_tolerance").set_value(0).run()
    assert not at.exception
    assert "± 0 bars" not in markdown(at) and "±0 bars" in markdown(at)


def test_each_disagreement_shows_the_screenshot_beside_itas_chart(labelled) -> None:
    at = run()
    text = markdown(at)
    assert "#### 2 disagreements" in text
    assert "ITA missed your setup · _note missed_" in text
    assert "ITA signals where you said: not a setup · _note false_" in text
    captions = [c.value for c in at.caption]
    shown = [i.proto.imgs[0].caption for i in at.get("image")]
    assert shown.count("ITA's chart of the same bars") == 2
    assert shown.count("your screenshot") == 1  # the missed setup's; the other has none
    assert any("No screenshot with this label" in c for c in captions)


def test_the_charts_are_drawn_once_not_on_every_rerun(labelled, monkeypatch) -> None:
    import app.labels_ui as section

    drawn = []
    real = section.disagreement_png

    def counting(check, label_id, **kwargs):
        drawn.append(label_id)
        return real(check, label_id, **kwargs)

    monkeypatch.setattr(section, "disagreement_png", counting)
    section._picture.clear()
    at = run()
    assert len(drawn) == 2
    at.text_input(key="labels_click_note").set_value("typing a note reruns the page").run()
    assert len(drawn) == 2
    # a new label that agrees with the detector redraws none of the disagreements
    store, made, index = labelled
    at.text_input(key="labels_click_time").set_value(f"{made['agreed'].timestamp:%Y-%m-%d} "
                                                     "00:00")
    at.button(key="labels_click_not_setup").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(store.labels(SETUP)) == 6 and "#### 2 disagreements" in markdown(at)
    assert len(drawn) == 2


def test_delete_asks_first_then_removes_the_label(labelled) -> None:
    store, made, _ = labelled
    ident = made["false"].label_id
    at = run()
    at.button(key=f"labels_delete_{ident}").click().run()
    assert store.get(ident) is not None  # asked, not deleted
    assert any("Delete this label?" in w.value for w in at.warning)
    at.button(key=f"labels_delete_yes_{ident}").click().run()
    assert not at.exception
    assert store.get(ident) is None
    assert "Label deleted." in [s.value for s in at.success]
    assert "#### 1 disagreements" in markdown(at)


def test_upload_saves_a_label_with_its_screenshot_in_the_traders_zone(labelled,
                                                                       monkeypatch) -> None:
    store, _, _ = labelled
    monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Athens")
    at = run()
    at.file_uploader(key="labels_upload_0").upload("chart one.png", png((1, 2, 3)), "image/png")
    at.run()
    at.text_input(key="labels_up_time_0_0").set_value("2023-03-07 17:20")
    at.selectbox(key="labels_up_kind_0_0").set_value("not_setup")
    at.text_input(key="labels_up_note_0_0").set_value("no displacement")
    at.button(key="labels_up_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = [x for x in store.labels(SETUP) if x.note == "no displacement"]
    assert len(saved) == 1
    label = saved[0]
    assert label.timestamp == pd.Timestamp("2023-03-07 15:20", tz="UTC")
    assert (label.label, label.origin, label.symbol) == ("not_setup", "screenshot", "BTC/USDT")
    assert store.screenshot_path(label).read_bytes() == png((1, 2, 3))
    assert "Saved 1 label with its screenshot." in [x.value for x in at.success]
    # the form is empty again: pressing Save twice cannot happen
    assert [u.key for u in at.file_uploader] == ["labels_upload_1"]
    assert not [t for t in at.text_input if t.key.startswith("labels_up_")]


def test_an_upload_with_a_bad_time_says_which_file_and_field(labelled) -> None:
    store, _, _ = labelled
    at = run()
    at.file_uploader(key="labels_upload_0").upload("bad.png", png(), "image/png")
    at.run()
    at.text_input(key="labels_up_time_0_0").set_value("yesterday-ish")
    at.button(key="labels_up_save").click().run()
    assert [e.value for e in at.error] == [
        "bad.png: time: 'yesterday-ish' is not a date and time (e.g. 2023-03-07 15:20)"]
    assert len(store.labels(SETUP)) == 5
    assert at.file_uploader(key="labels_upload_0")  # kept, so the trader can fix the time


def selection(time_utc: pd.Timestamp, local: str) -> dict:
    """What Streamlit 1.67 hands back when the trader clicks a candle (seen in Chromium)."""
    point = {"curve_number": 0, "point_number": 398, "point_index": 398, "x": local,
             "y": 27690.3, "open": 27710.9, "high": 27710.9, "low": 27665.0, "close": 27669.7,
             "customdata": time_utc.isoformat()}
    return {"selection": {"points": [point], "point_indices": [3], "box": [], "lasso": []}}


def chart_key(at) -> str:
    return f"labels_chart_{at.session_state['labels_chart_round']}"


def test_a_click_on_a_bar_fills_the_time_and_saves_the_label(labelled, monkeypatch) -> None:
    store, _, index = labelled
    monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Athens")
    at = run()
    bar = index[-10]  # inside the default window: the last 500 bars
    local = f"{bar.tz_convert('Europe/Athens'):%Y-%m-%d %H:%M}"
    at.session_state[chart_key(at)] = json.loads(json.dumps(selection(bar, local)))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="labels_click_time").value == local
    at.text_input(key="labels_click_note").set_value("clean sweep")
    at.button(key="labels_click_setup").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = [x for x in store.labels(SETUP) if x.note == "clean sweep"]
    assert [(x.timestamp, x.label, x.origin) for x in saved] == [(bar, "setup", "chart")]
    assert any("as setup here" in s.value for s in at.success)
    assert at.text_input(key="labels_click_note").value == ""


def test_the_list_shows_every_label_with_its_source(labelled) -> None:
    store, _, index = labelled
    store.save(make_label(SETUP, symbol="BTC/USDT", timeframe="5m", time=index[7],
                          label="setup", source="chart"))
    at = run()
    listed = at.dataframe[-1].value
    assert len(listed) == 6
    assert sorted(listed["source"].unique()) == ["CLI", "chart click"]


def test_no_labels_says_how_to_start(app_home) -> None:
    at = run()
    assert any("No labels of this setup yet" in i.value for i in at.info)


def test_a_click_is_read_as_the_bar_that_contains_it() -> None:
    from app.labels_ui import bar_of, clicked_time

    index = pd.date_range("2023-03-07 15:00", periods=12, freq="5min", tz="UTC")
    candle = {"selection": {"points": [{"curve_number": 0, "x": "2023-03-07 17:20",
                                        "customdata": "2023-03-07T15:20:00+00:00"}]}}
    assert clicked_time(candle, "Europe/Athens") == index[4]
    # a signal marker has no customdata: its local x is read in the display zone
    marker = {"selection": {"points": [{"curve_number": 5, "x": "2023-03-07 17:22"}]}}
    five = pd.Timedelta("5min")
    assert bar_of(index, clicked_time(marker, "Europe/Athens"), five) == index[4]
    assert clicked_time({"selection": {"points": []}}, "UTC") is None
    assert clicked_time(None, "UTC") is None
    # a local time that the clock change skips is no click, not a crash
    skipped = {"selection": {"points": [{"x": "2023-03-26 03:30"}]}}
    assert clicked_time(skipped, "Europe/Athens") is None
    assert bar_of(index, pd.Timestamp("2023-03-07 14:55", tz="UTC"), five) is None
    assert bar_of(index, index[-1] + pd.Timedelta("4min"), five) == index[-1]
    assert bar_of(index, index[-1] + five, five) is None


def test_the_chart_marks_signals_and_labels_and_every_candle_carries_its_time(demo_home,
                                                                              monkeypatch):
    from app.labels_ui import chart_figure
    from engine.pipeline import detect_setup

    monkeypatch.setenv("ITA_HOME", str(demo_home))
    found = detect_setup(SETUP)
    candles, signals = found.candles, found.signals
    first = candles.index.searchsorted(signals["known_at"].iloc[0])
    window = candles.iloc[max(first - 100, 0):first + 150]
    labels = [make_label(SETUP, symbol="BTC/USDT", timeframe="5m", time=window.index[i],
                         label=kind, note=f"n{i}") for i, kind in ((10, "setup"),
                                                                   (20, "not_setup"))]
    figure = chart_figure(window, signals, labels, "5m", zone="Europe/Athens", title="t")
    by_name = {trace.name: trace for trace in figure.data}
    candle = next(t for t in figure.data if t.type == "candlestick")
    assert len(candle.x) == len(window) <= 1000
    assert list(candle.customdata[:2]) == [t.isoformat() for t in window.index[:2]]
    athens = window.index[0].tz_convert("Europe/Athens").tz_localize(None)
    assert pd.Timestamp(candle.x[0]) == athens  # drawn in the trader's zone
    inside = signals[(signals["known_at"] >= window.index[0])
                     & (signals["known_at"] <= window.index[-1])]
    marked = sum(len(t.x) for t in figure.data if t.name in ("long signal", "short signal"))
    assert marked == len(inside) > 0
    assert list(by_name["you: setup here"].customdata) == [window.index[10].isoformat()]
    assert list(by_name["you: not a setup"].hovertext) == ["n20"]


def test_a_click_on_a_labelled_bar_replaces_the_label_but_keeps_its_screenshot(labelled):
    store, made, _ = labelled
    missed = made["missed"]  # a "setup" label with the trader's screenshot
    at = run()
    at.text_input(key="labels_click_time").set_value(f"{missed.timestamp:%Y-%m-%d %H:%M}")
    at.button(key="labels_click_not_setup").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    now = store.get(missed.label_id)
    assert (now.label, now.origin, now.screenshot) == ("not_setup", "chart", missed.screenshot)
    assert store.screenshot_path(now).exists()
    assert any("replaces your earlier label: setup here" in x.value for x in at.success)


def test_another_setup_starts_with_an_empty_form(labelled, monkeypatch) -> None:
    at = run()
    at.text_input(key="labels_click_time").set_value("2023-03-07 15:20")
    at.text_input(key="labels_click_note").set_value("for the sweep setup").run()
    monkeypatch.setenv("ITA_TEST_SETUP", "sma-cross@1")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="labels_click_time").value == ""
    assert at.text_input(key="labels_click_note").value == ""
    assert any("No labels of this setup yet" in i.value for i in at.info)
    assert "sma-cross v1" in str(at.session_state["labels_setup"]).replace("@", " v")


def test_a_save_keeps_the_charts_key_and_the_saved_click_fills_nothing_again(labelled,
                                                                           monkeypatch) -> None:
    """A new chart key makes the browser rebuild the Plotly chart (2.7 s a save): the key stays,
    and the selection still on the chart (the bar just saved) does not refill the form."""
    store, _, index = labelled
    monkeypatch.setenv("ITA_DISPLAY_TZ", "UTC")
    at = run()
    key = chart_key(at)
    [chart] = at.get("plotly_chart")
    assert chart.proto.id.endswith(f"-{key}")
    bar, other = index[-10], index[-20]
    at.session_state[key] = json.loads(json.dumps(selection(bar, f"{bar:%Y-%m-%d %H:%M}")))
    at.run()
    assert at.text_input(key="labels_click_time").value == f"{bar:%Y-%m-%d %H:%M}"
    at.button(key="labels_click_setup").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [x.timestamp for x in store.labels(SETUP) if x.origin == "chart"] == [bar]
    assert chart_key(at) == key
    [chart] = at.get("plotly_chart")
    assert chart.proto.id.endswith(f"-{key}")
    # the trader types the next bar: the old selection (still on the chart) does not win
    at.text_input(key="labels_click_time").set_value(f"{other:%Y-%m-%d %H:%M}").run()
    assert at.text_input(key="labels_click_time").value == f"{other:%Y-%m-%d %H:%M}"
    at.button(key="labels_click_not_setup").click().run()
    saved = {x.timestamp: x.label for x in store.labels(SETUP) if x.origin == "chart"}
    assert saved == {bar: "setup", other: "not_setup"}
    # once the chart has no selection, a click on the saved bar fills the form again
    at.session_state[key] = {"selection": {"points": [], "point_indices": [], "box": [],
                                           "lasso": []}}
    at.run()
    at.session_state[key] = json.loads(json.dumps(selection(bar, f"{bar:%Y-%m-%d %H:%M}")))
    at.run()
    assert at.text_input(key="labels_click_time").value == f"{bar:%Y-%m-%d %H:%M}"
