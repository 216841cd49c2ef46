"""The Editor page with a stand-in for the canvas component (under AppTest the real one returns
nothing): a click on a node opens it in the side panel, the canvas is handed the same state on
every rerun, edges drawn by hand join the rule once, and saving edits the text minimally."""

from __future__ import annotations

import pytest
import streamlit_flow
from streamlit.testing.v1 import AppTest
from streamlit_flow.elements import StreamlitFlowEdge
from streamlit_flow.state import StreamlitFlowState

from tests.app.conftest import ROOT


class Canvas:
    """Records what the page hands the canvas; reports `event` (a click, an edge drawn) back
    on every rerun, as the component does with its last value."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.mounts: list[str] = []  # a new key mounts a new canvas, which reports back once
        self.selected: str | None = None
        self.timestamp = 0
        self.extra_edges: list[StreamlitFlowEdge] = []

    def click(self, node_id: str | None) -> None:
        self.selected, self.timestamp = node_id, self.timestamp + 1

    def __call__(self, key, state, **kwargs) -> StreamlitFlowState:
        self.calls.append((key, state.timestamp))
        if key not in self.mounts:
            self.mounts.append(key)
        if not self.timestamp:
            return state
        return StreamlitFlowState(list(state.nodes), list(state.edges) + self.extra_edges,
                                  selected_id=self.selected, timestamp=10**13 + self.timestamp)


@pytest.fixture()
def canvas(monkeypatch) -> Canvas:
    fake = Canvas()
    monkeypatch.setattr(streamlit_flow, "streamlit_flow", fake)
    return fake


def editor(setup_id: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / "editor.py"), default_timeout=120)
    at.run()
    at.selectbox(key="editor_setup").set_value(setup_id).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def version_label(at: AppTest) -> str:
    """The line above the canvas naming the version on it."""
    return next(c.value for c in at.caption if c.value.startswith("Editing "))


def store():
    from engine.setups.store import SetupStore

    return SetupStore.from_settings()


def test_a_click_on_a_node_opens_it_in_the_side_panel(app_home, canvas) -> None:
    at = editor("bos-order-block-retest")
    canvas.click("stop")
    at.run()
    assert at.selectbox(key="editor_node").value == "stop"
    assert any(n.label == "buffer_atr" for n in at.number_input)  # the stop's parameters
    at.selectbox(key="editor_node").set_value("entry").run()  # the list still works ...
    assert at.selectbox(key="editor_node").value == "entry"  # ... the old click is not replayed
    canvas.click("target")
    at.run()
    assert at.selectbox(key="editor_node").value == "target"
    canvas.click("signal->entry:0")  # an edge, not a node: the panel stays
    at.run()
    assert at.selectbox(key="editor_node").value == "target"
    assert not at.exception, [e.value for e in at.exception]


def test_the_canvas_gets_the_same_state_until_the_graph_changes(app_home, canvas) -> None:
    at = editor("bos-order-block-retest")
    for node_id in ("stop", "entry", None):
        canvas.click(node_id)
        at.run()
    first_key = canvas.calls[-1][0]
    handed = {timestamp for key, timestamp in canvas.calls if key == first_key}
    assert len(handed) == 1  # what the canvas reported was never handed back to it
    at.button(key="editor_add").click().run()  # a block added: a new key remounts it
    assert canvas.calls[-1][0] != first_key


def test_an_edge_drawn_on_the_canvas_joins_the_rule_once(app_home, canvas) -> None:
    at = editor("ny-fvg-continuation")
    at.selectbox(key="editor_palette").set_value("rsi").run()
    at.button(key="editor_add").click().run()
    assert any("rsi_1 is not connected" in w.value for w in at.warning)
    canvas.extra_edges = [StreamlitFlowEdge("st-flow-edge_cond:rsi_1-op:1", "cond:rsi_1",
                                            "op:1")]
    canvas.click(None)
    for _ in range(3):  # the canvas reports the same edge on every rerun
        at.run()
    assert not at.warning
    at.button(key="editor_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = store().load("ny-fvg-continuation")
    assert saved.version == 2
    assert saved.setup.signal.all_ == ["gap_retest", "h1_uptrend", "rsi_1"]
    diff = [line for line in store().diff("ny-fvg-continuation", 1, 2).splitlines()
            if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert diff == ["+  rsi_1:", "+    detector: rsi", "-  all: [gap_retest, h1_uptrend]",
                    "+  all: [gap_retest, h1_uptrend, rsi_1]"]


def test_saving_an_unchanged_graph_says_no_change_and_keeps_the_text(app_home, canvas) -> None:
    at = editor("sma-cross")
    at.button(key="editor_save").click().run()
    assert any("No change: v1 already holds this rule." in s.value for s in at.success)
    assert [v.version for v in store().versions("sma-cross")] == [1]


def test_saving_a_rule_an_older_version_holds_names_that_version(app_home, canvas) -> None:
    s = store()
    first = s.load("bos-order-block-retest")
    s.save(first.text.replace("r_multiple: 2.5", "r_multiple: 3.0"), activate=False)
    at = editor("bos-order-block-retest")  # v1 is active
    at.selectbox(key="editor_node").set_value("target").run()
    next(n for n in at.number_input if n.label == "r_multiple").set_value(3.0).run()
    at.button(key="editor_apply").click().run()
    at.button(key="editor_save").click().run()
    assert any("v2 already holds this rule: it is the active version now." in s.value
               for s in at.success)
    assert [v.version for v in store().versions("bos-order-block-retest")] == [1, 2]
    assert store().active("bos-order-block-retest") == 2


def test_the_stop_panel_shows_undeclared_fields_as_defaults(app_home, canvas) -> None:
    at = editor("sma-cross")  # stop: {percent: 1.0}
    canvas.click("stop")
    at.run()
    defaults = next(e for e in at.expander if e.label.startswith("Defaults: "))
    inside = {n.label for n in defaults.number_input} | {t.label for t in defaults.text_input}
    assert {"buffer_pct", "buffer_atr", "min_atr"} <= inside and "percent" not in inside
    assert [n.value for n in at.number_input if n.label == "percent"] == [1.0]
    buffer = next(n for n in defaults.number_input if n.label == "buffer_pct")
    assert "not in the YAML: the default 0.0 applies" in buffer.help
    at.button(key="editor_apply").click().run()
    at.button(key="editor_save").click().run()
    assert any("No change" in s.value for s in at.success)


def test_saving_keeps_the_canvas_mounted_and_shows_the_new_version(app_home, canvas) -> None:
    at = editor("bos-order-block-retest")
    at.selectbox(key="editor_node").set_value("target").run()
    next(n for n in at.number_input if n.label == "r_multiple").set_value(3.0).run()
    at.button(key="editor_apply").click().run()
    assert "v1 (active; 1 version) · unsaved edits" in version_label(at)
    shown, mounts = canvas.calls[-1], list(canvas.mounts)
    at.button(key="editor_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved bos-order-block-retest v2." in s.value for s in at.success)
    # the label names the saved version as the active one, with nothing left unsaved
    assert version_label(at) == "Editing bos-order-block-retest v2 (active; 2 versions)"
    # the canvas was handed the very state it showed: no remount, so nothing reported back
    # and no further run (the old page mounted a new canvas, which reran the page once more)
    assert canvas.mounts == mounts
    assert set(canvas.calls[canvas.calls.index(shown):]) == {shown}
    assert at.selectbox(key="editor_node").value == "target"  # the panel stays where it was
    canvas.click("stop")  # the canvas keeps working on the saved version
    at.run()
    assert at.selectbox(key="editor_node").value == "stop"
    at.selectbox(key="editor_node").set_value("target").run()
    next(n for n in at.number_input if n.label == "r_multiple").set_value(3.5).run()
    at.button(key="editor_apply").click().run()  # a graph change still remounts it
    assert canvas.mounts[-1] != shown[0]
    at.button(key="editor_save").click().run()
    assert any("Saved bos-order-block-retest v3." in s.value for s in at.success)
    assert store().load("bos-order-block-retest").setup.plan.target.r_multiple == 3.5


@pytest.fixture()
def builds(monkeypatch) -> list[str]:
    """Every preview chart built and every detection run, in order."""
    import app.charts
    import engine.pipeline

    calls: list[str] = []
    for module, name in ((app.charts, "candle_figure"), (engine.pipeline, "detect_setup"),
                         (engine.pipeline, "detect_rule")):
        real = getattr(module, name, None)
        if real is not None:
            monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: (
                calls.append(_name), _real(*a, **k))[1])
    return calls


def preview_spec(at: AppTest) -> dict:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)


def shown_signals(spec: dict) -> dict[str, int]:
    return {t["name"]: len(t["x"]) for t in spec["data"]
            if t.get("name") in ("long signal", "short signal")}


def test_the_preview_shows_the_edits_and_a_save_does_not_rebuild_it(app_home, canvas,
                                                                    builds) -> None:
    at = editor("sma-cross")  # direction: both
    before = preview_spec(at)
    assert set(shown_signals(before)) == {"long signal", "short signal"}
    canvas.click("signal")
    at.run()
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "direction")
                 ).set_value("long").run()
    at.button(key="editor_apply").click().run()
    edited = preview_spec(at)  # the rule on the canvas, not yet saved: long signals only
    assert set(shown_signals(edited)) == {"long signal"}
    assert edited["layout"]["title"]["text"].startswith("sma-cross as on the canvas: ")
    assert edited["layout"]["title"]["text"] != before["layout"]["title"]["text"]
    assert "v1 (active; 1 version) · unsaved edits: the preview shows them" in (
        version_label(at))
    builds.clear()
    at.button(key="editor_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved sma-cross v2." in s.value for s in at.success)
    assert version_label(at) == "Editing sma-cross v2 (active; 2 versions)"
    assert builds == []  # the same rule: no detection, no new chart ...
    assert preview_spec(at) == edited  # ... and the very chart of the edits
    assert store().load("sma-cross").setup.direction == "long"


def test_an_incomplete_graph_has_no_preview_until_it_is_a_rule(app_home, canvas) -> None:
    at = editor("ny-fvg-continuation")
    at.selectbox(key="editor_palette").set_value("rsi").run()
    at.button(key="editor_add").click().run()
    assert not at.get("plotly_chart")
    assert any("once the graph on the canvas is complete" in i.value for i in at.info)
    assert "not a complete rule yet" in version_label(at)
    canvas.extra_edges = [StreamlitFlowEdge("st-flow-edge_cond:rsi_1-op:1", "cond:rsi_1",
                                            "op:1")]
    canvas.click(None)
    at.run()  # the edge drawn makes it a rule again: its preview is back
    assert not at.info and len(at.get("plotly_chart")) == 1
    assert "unsaved edits: the preview shows them" in version_label(at)


def test_edits_are_saved_when_another_version_was_made_active_meanwhile(app_home,
                                                                        canvas) -> None:
    at = editor("bos-order-block-retest")
    at.selectbox(key="editor_node").set_value("target").run()
    next(n for n in at.number_input if n.label == "r_multiple").set_value(3.0).run()
    at.button(key="editor_apply").click().run()
    s = store()  # meanwhile, on the Setups page: v2, active
    s.save(s.load("bos-order-block-retest").text.replace("length: 5", "length: 6"))
    at.button(key="editor_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved bos-order-block-retest v3." in s.value for s in at.success)
    saved = store().load("bos-order-block-retest")
    assert saved.version == 3 and saved.setup.plan.target.r_multiple == 3.0  # the edit ...
    assert saved.setup.conditions["bullish_ob_retest"].length == 5  # ... of v1, on the canvas
    assert version_label(at) == "Editing bos-order-block-retest v3 (active; 3 versions)"


def test_another_setup_shows_its_own_values_not_the_last_ones_typed(app_home, canvas) -> None:
    at = editor("bos-order-block-retest")
    at.selectbox(key="editor_node").set_value("target").run()
    next(n for n in at.number_input if n.label == "r_multiple").set_value(3.0).run()  # no Apply
    at.selectbox(key="editor_setup").set_value("london-asia-sweep-fvg").run()
    assert at.selectbox(key="editor_node").value == "target"
    assert [n.value for n in at.number_input if n.label == "r_multiple"] == [2.0]
    at.button(key="editor_save").click().run()
    assert any("No change: v1 already holds this rule." in s.value for s in at.success)


def test_the_preview_is_light_the_last_bars_at_the_setups_timeframe(app_home, canvas) -> None:
    import json

    from app.charts import PREVIEW_CANDLES

    at = editor("bos-order-block-retest")  # 21 days of 15m: 2,016 bars
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    candles = [t for t in spec["data"] if t["type"] == "candlestick"]
    assert sum(len(t["x"]) for t in candles) == PREVIEW_CANDLES
    title = spec["layout"]["title"]["text"]
    assert f"in the last {PREVIEW_CANDLES:,} bars shown)" in title
    assert "shown as" not in title  # the setup's own timeframe, not a resampled one
    first_shown = min(min(t["x"]) for t in candles)
    marks = [x for t in spec["data"] if t.get("name") in ("long signal", "short signal")
             for x in t["x"]]
    assert marks and min(marks) >= first_shown  # only the signals among the bars shown
