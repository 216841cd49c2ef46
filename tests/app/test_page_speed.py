"""Speed without changed behaviour: what a page rerun does not redo (settings read once per
change, a setup's signals detected once per version and range, hidden parts not built)."""

from __future__ import annotations

import os

import pytest
import streamlit_flow
from streamlit.testing.v1 import AppTest

from tests.app.conftest import ROOT
from tests.app.test_editor_page import Canvas


def test_settings_are_read_again_only_when_their_sources_change(app_home, monkeypatch,
                                                                 tmp_path) -> None:
    from app import state
    from engine.settings import Settings

    env = tmp_path / "project.env"
    env.write_text("ITA_ANALYST=maria\n")
    monkeypatch.setitem(Settings.model_config, "env_file", env)
    monkeypatch.delenv("ITA_ANALYST", raising=False)
    first = state.settings()
    assert first.analyst == "maria" and first.home == app_home
    assert state.settings() is first  # nothing changed: not read again (~25 ms each)
    env.write_text("ITA_ANALYST=jo\n")
    os.utime(env, ns=(0, 1))  # even a rewrite within the same timestamp: the size differs
    assert state.settings().analyst == "jo"
    monkeypatch.setenv("ITA_ANALYST", "kim")  # a real environment variable wins
    assert state.settings().analyst == "kim"
    monkeypatch.setenv("ITA_HOME", str(tmp_path))
    assert state.settings().home == tmp_path


@pytest.fixture()
def detections(monkeypatch) -> list[str]:
    """Every detection the pages run, by setup reference."""
    import engine.pipeline

    calls: list[str] = []
    real = engine.pipeline.detect_setup

    def counting(ref, **kwargs):
        calls.append(ref)
        return real(ref, **kwargs)

    monkeypatch.setattr(engine.pipeline, "detect_setup", counting)
    return calls


def test_editor_clicks_do_not_detect_the_preview_again(app_home, monkeypatch,
                                                       detections) -> None:
    canvas = Canvas()
    monkeypatch.setattr(streamlit_flow, "streamlit_flow", canvas)
    at = AppTest.from_file(str(ROOT / "views" / "editor.py"), default_timeout=120)
    at.run()
    at.selectbox(key="editor_setup").set_value("bos-order-block-retest").run()
    for node_id in ("stop", "entry", "target"):
        canvas.click(node_id)
        at.run()
    assert at.selectbox(key="editor_node").value == "target"
    at.button(key="editor_apply").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert detections.count("bos-order-block-retest@1") == 1
    assert len(at.get("plotly_chart")) == 1  # the preview is still shown


def test_backtest_page_builds_only_the_open_tabs_chart_and_parses_setups_once(
        run_home, monkeypatch) -> None:
    import engine.setups.store

    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    parsed: list[str] = []
    real = engine.setups.store.parse_setup

    def counting(text, *, source):
        parsed.append(source)
        return real(text, source=source)

    monkeypatch.setattr(engine.setups.store, "parse_setup", counting)
    at = AppTest.from_file(str(ROOT / "views" / "backtest.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = [c.proto.id for c in at.get("plotly_chart")]
    # the open tab (equity); the other tabs are built when opened
    assert len(charts) == 1 and "backtest_chart_equity" in charts[0], charts
    views = [c.proto.id for c in at.get("component_instance")]
    assert len(views) == 1 and "backtest_run_chart" in views[0], views  # the price chart
    first = len(parsed)
    assert first <= 2  # the chosen version (and the active one), not every setup
    at.selectbox(key="backtest_by").set_value("weekday").run()  # a rerun for another reason
    assert len(parsed) == first


def test_the_app_imports_the_pages_modules_in_the_background_once(app_home) -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from app import state\n"
            "cold = [m for m in state.WARM_MODULES if m in sys.modules]\n"
            "thread = state.warm_up()\n"
            "assert state.warm_up() is thread and thread.daemon\n"
            "thread.join(300)\n"
            "import gc, json\n"
            "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()\n"
            "print(json.dumps([cold, [m for m in state.WARM_MODULES if m not in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ITA_HOME": str(app_home)})
    assert done.returncode == 0, done.stderr
    assert "warming up" not in done.stderr  # every module imported, every setup detected once
    import json

    cold, missing = json.loads(done.stdout.strip().splitlines()[-1])
    assert "engine.pipeline" not in cold  # importing app.state does not import them itself
    assert missing == []  # every one imported by the warm-up thread


def test_the_app_warms_up_after_drawing_its_first_page(app_home) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    from app import state

    assert state._warm_thread is not None


def test_backtest_reruns_reuse_the_runs_equity_chart_and_breakdowns(run_home,
                                                                     monkeypatch) -> None:
    import engine.backtest.metrics
    import engine.backtest.report

    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    built: list[str] = []
    for module, name in ((engine.backtest.report, "equity_figure"),
                         (engine.backtest.metrics, "breakdown")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name, **k: (
            built.append(name), real(*a, **k))[1])
    at = AppTest.from_file(str(ROOT / "views" / "backtest.py"), default_timeout=120)
    at.run()
    shown = at.dataframe[-1].value
    for _ in range(2):
        at.selectbox(key="backtest_by").set_value("weekday").run()
        at.selectbox(key="backtest_by").set_value(at.selectbox(key="backtest_by").options[0]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[-1].value.equals(shown)  # the same table as the first run showed
    assert built.count("equity_figure") <= 1 and built.count("breakdown") <= 2, built


def test_background_work_waits_while_a_page_is_drawn() -> None:
    import threading
    import time

    from app import state

    resumed: list[float] = []
    worker = threading.Thread(target=lambda: (state.wait_until_idle(quiet=0.3),
                                              resumed.append(time.monotonic())))
    with state.page_run():
        worker.start()
        time.sleep(0.6)
        assert not resumed  # a page is being drawn: the warm-up's next step waits
    ended = time.monotonic()
    worker.join(10)
    assert resumed and resumed[0] - ended >= 0.25  # and lets the page's messages go first


def test_the_warm_up_prepares_what_data_and_the_editor_show_first(app_home, monkeypatch,
                                                                 detections) -> None:
    from app import data_ui, state
    from tests.app._pages import page

    state._warm_loaders()  # what the server's warm-up thread does between page runs
    built: list[str] = []
    real = data_ui.candle_figure
    monkeypatch.setattr(data_ui, "candle_figure",
                        lambda *a, **k: (built.append(a[1]), real(*a, **k))[1])
    monkeypatch.setattr(streamlit_flow, "streamlit_flow", Canvas())
    detections.clear()
    assert page("data").get("plotly_chart")  # the chart is shown ...
    assert built == []  # ... as the warm-up built it
    assert page("editor").get("plotly_chart")  # the first setup's preview ...
    assert detections == []  # ... from the signals the warm-up detected


def test_the_data_chart_sends_the_browser_a_bounded_number_of_candles(app_home) -> None:
    import json

    from app.charts import PLAIN_CANDLES
    from tests.app._pages import page

    spec = json.loads(page("data").get("plotly_chart")[0].proto.spec)  # 21 days of 15m
    candles = sum(len(t["x"]) for t in spec["data"] if t["type"] == "candlestick")
    assert 0 < candles <= PLAIN_CANDLES
    assert "shown as 1h" in spec["layout"]["title"]["text"]  # and it says so


def test_the_editor_preview_is_small_enough_to_redraw_after_each_save(app_home,
                                                                      monkeypatch) -> None:
    from tests.app._pages import page

    monkeypatch.setattr(streamlit_flow, "streamlit_flow", Canvas())
    spec = page("editor").get("plotly_chart")[0].proto.spec
    assert len(spec) < 100_000  # bytes of Plotly JSON (1,200 bars were ~155 KB)


def test_the_demo_replay_is_built_ahead_and_again_after_a_change(app_home) -> None:
    from app import state
    from engine.setups.store import SetupStore
    from tests.app._pages import page

    state.keep_demo_replay(rounds=1, every=0)  # the server's keeper, once
    first = list(app_home.glob(".ita/demo-live/*/live.sqlite"))
    assert len(first) == 1
    at = page("live")  # its first open reads the replay: nothing to build, no progress
    assert not at.get("progress") and any(b.label == "Taken" for b in at.button)

    store = SetupStore.from_settings()
    text = store.load("sma-cross").text
    store.save(text.replace("fast: 10", "fast: 12"), source="sma-cross.yaml")  # a new version
    state.keep_demo_replay(rounds=1, every=0)
    now = list(app_home.glob(".ita/demo-live/*/live.sqlite"))
    assert len(now) == 1 and now != first  # rebuilt for the new version; the old one gone
    at = page("live")
    assert not at.get("progress") and any(b.label == "Taken" for b in at.button)
