"""Each page shows the user what it promises, on the demo data, and its main widgets act.

Every test gets its own copy of the demo home (`app_home`), except the Runs and Journal tests,
which share one home with one backtest run (`run_home`).
"""

from __future__ import annotations

import json

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine.backtest.metrics import BREAKDOWNS
from tests.app._pages import page, texts
from tests.app.conftest import ROOT

EXAMPLE_IDS = ["bos-order-block-retest", "london-asia-sweep-fvg", "ny-fvg-continuation",
               "pdh-sweep-reversal", "sma-cross"]




def store():
    from engine.setups.store import SetupStore

    return SetupStore.from_settings()


def test_navigation_lists_every_page(app_home) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert at.title[0].value.startswith("ITA")


# --- Home ---------------------------------------------------------------------------------

def test_home_shows_the_demo_series_setups_and_a_stopped_daemon(app_home) -> None:
    at = page("home")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Candle series": "2", "Bars stored": "60,480", "Setups": "5",
                       "Backtest runs": "0"}
    series, setups = at.dataframe[0].value, pd.DataFrame(at.dataframe[1].value)
    assert sorted(series["symbol"]) == ["BTC/USD", "BTC/USDT"]
    assert sorted(setups["setup"]) == EXAMPLE_IDS
    assert any("engine daemon is not running" in w for w in texts(at.warning))
    assert "No backtests yet." in texts(at.info)


def test_home_shows_a_running_daemon(app_home) -> None:
    exchange = app_home / "exchange"
    exchange.mkdir(exist_ok=True)
    now = pd.Timestamp.now(tz="UTC").isoformat()
    (exchange / "engine.json").write_text(json.dumps(
        {"pid": 4242, "started_at": now, "last_seen": now, "jobs_done": 3, "queued": 1}))
    at = page("home")
    assert any("Engine daemon running (pid 4242" in s and "3 jobs done, 1 queued" in s
               for s in texts(at.success)), texts(at.success)


# --- Data ---------------------------------------------------------------------------------

def test_data_page_shows_the_stored_series(app_home) -> None:
    at = page("data")
    coverage = at.dataframe[0].value
    assert sorted(coverage["symbol"]) == ["BTC/USD", "BTC/USDT"]
    assert set(coverage["bars"]) == {30_240}
    assert any(c.startswith("BTC/USDT 1m (binanceus):") for c in texts(at.caption))


def test_data_page_imports_a_file(app_home, tmp_path) -> None:
    csv = tmp_path / "eurusd.csv"
    csv.write_text("time,open,high,low,close,volume\n2024-01-02 00:00,1.1,1.2,1.0,1.15,5\n"
                   "2024-01-02 00:01,1.15,1.2,1.1,1.12,3\n")
    at = page("data")
    at.text_input(key="data_path").set_value(str(csv))
    at.text_input(key="data_symbol").set_value("EURUSD-TEST")
    at.button(key="data_import").click().run()
    assert not at.exception
    assert any("2 bars of EURUSD-TEST" in s.value for s in at.success)
    assert "EURUSD-TEST" in set(at.dataframe[0].value["symbol"])


# --- Setups -------------------------------------------------------------------------------

def yaml_area(at: AppTest, setup_id: str):
    return next(t for t in at.text_area if t.key.startswith(f"setups_yaml_{setup_id}_"))


def test_setups_page_lists_the_examples_with_their_versions(app_home) -> None:
    at = page("setups")
    table = pd.DataFrame(at.dataframe[0].value)
    assert table["id"].tolist() == EXAMPLE_IDS
    assert table["versions"].tolist() == [1] * 5 and table["active"].tolist() == [1] * 5
    assert at.selectbox(key="setups_id").options == EXAMPLE_IDS


def test_setups_page_shows_validation_error_and_saves(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    good = yaml_area(at, "sma-cross").value
    yaml_area(at, "sma-cross").set_value(good.replace("fast: 10", "fast: 100")).run()
    at.button(key="setups_validate").click().run()
    assert any("must be shorter than slow" in e for e in texts(at.error))
    yaml_area(at, "sma-cross").set_value(good.replace("fast: 10", "fast: 8")).run()
    at.button(key="setups_save").click().run()
    assert any("Saved sma-cross v2" in s for s in texts(at.success))


def test_setups_page_lists_every_problem_on_its_own_line(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    good = yaml_area(at, "sma-cross").value
    bad = good.replace("fast: 10", "fast: -1").replace("timeframe: ", "timeframe: 7x #")
    yaml_area(at, "sma-cross").set_value(bad).run()
    at.button(key="setups_validate").click().run()
    assert not at.exception
    shown = texts(at.error)[0].split("  \n")
    assert len(shown) == 2, shown
    assert "market.timeframe" in shown[0] and "conditions.cross.fast" in shown[1]


def test_setups_page_refuses_a_changed_id(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    good = yaml_area(at, "sma-cross").value
    yaml_area(at, "sma-cross").set_value(good.replace("id: sma-cross",
                                                      "id: pdh-sweep-reversal")).run()
    at.button(key="setups_save").click().run()
    assert not at.exception
    assert any("The id cannot be changed here" in e for e in texts(at.error)), texts(at.error)
    assert len(store().versions("pdh-sweep-reversal")) == 1  # no version written elsewhere
    assert len(store().versions("sma-cross")) == 1
    at.button(key="setups_save_new").click().run()  # that id exists: refused too
    assert any("exists already" in e for e in texts(at.error))
    assert len(store().versions("pdh-sweep-reversal")) == 1


def test_setups_page_saves_a_changed_id_as_a_new_setup_on_request(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    good = yaml_area(at, "sma-cross").value
    yaml_area(at, "sma-cross").set_value(good.replace("id: sma-cross", "id: sma-cross-b")).run()
    at.button(key="setups_validate").click().run()
    assert any("the id is now 'sma-cross-b'" in w for w in texts(at.warning))
    at.button(key="setups_save_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="setups_id").value == "sma-cross-b"
    assert "Created setup sma-cross-b v1." in texts(at.success)
    assert len(store().versions("sma-cross")) == 1 and store().active("sma-cross-b") == 1


def test_setups_page_says_when_a_save_only_reactivates_an_older_version(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    good = yaml_area(at, "sma-cross").value
    yaml_area(at, "sma-cross").set_value(good.replace("fast: 10", "fast: 8")).run()
    at.button(key="setups_save").click().run()
    assert store().active("sma-cross") == 2
    assert "Saved sma-cross v2 and made it active." in texts(at.success)
    assert at.selectbox(key="setups_version_sma-cross").value == 2
    yaml_area(at, "sma-cross").set_value(good).run()  # back to v1's text
    at.button(key="setups_save").click().run()
    assert "This text is v1 already; v1 is now active." in texts(at.success)
    assert store().active("sma-cross") == 1 and len(store().versions("sma-cross")) == 2
    assert at.selectbox(key="setups_version_sma-cross").value == 1  # the page shows what is active


# --- Editor -------------------------------------------------------------------------------

def test_editor_page_shows_the_setup_graph(app_home) -> None:
    at = page("editor")
    assert at.selectbox(key="editor_setup").options == EXAMPLE_IDS
    nodes = at.selectbox(key="editor_node").options
    assert {"signal", "entry", "stop", "target"} <= set(nodes)
    assert not at.warning  # the examples' graphs are complete


def test_editor_page_changes_a_parameter_and_saves(app_home) -> None:
    before = len(store().versions("bos-order-block-retest"))
    at = page("editor")
    at.selectbox(key="editor_setup").set_value("bos-order-block-retest").run()
    at.selectbox(key="editor_node").set_value("target").run()
    field = next(n for n in at.number_input if "r_multiple" in n.key)
    field.set_value(3.0).run()
    at.button(key="editor_apply").click().run()
    at.button(key="editor_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    versions = store().versions("bos-order-block-retest")
    assert len(versions) == before + 1
    assert versions[-1].setup.plan.target.r_multiple == 3.0
    saved = f"Saved bos-order-block-retest v{len(versions)}."
    assert any(saved in s.value for s in at.success)
    at.run()  # the confirmation outlives the reruns that follow (e.g. the canvas reporting)
    assert any(saved in s.value for s in at.success)
    at.button(key="editor_save").click().run()  # the same rule again: no new version
    assert len(store().versions("bos-order-block-retest")) == len(versions)
    assert any("No change" in s.value for s in at.success)


def test_editor_page_refuses_a_non_number_in_a_number_field(app_home) -> None:
    at = page("editor")
    at.selectbox(key="editor_setup").set_value("bos-order-block-retest").run()
    at.selectbox(key="editor_node").set_value("target").run()
    field = next(t for t in at.text_input if "_percent_" in t.key)  # optional: empty = off
    field.set_value("abc").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "percent: 'abc' is not a number (leave it empty to switch it off)" in texts(at.error)
    assert at.button(key="editor_apply").disabled


# --- Backtest -----------------------------------------------------------------------------

def test_backtest_page_preselects_the_active_version(app_home) -> None:
    s = store()
    text = s.load("sma-cross").text
    s.save(text.replace("fee_bps: 0.0", "fee_bps: 9.0"))  # v2, fee 9 ...
    s.activate("sma-cross", 1)  # ... but v1 (fee 0) is the active one
    at = page("backtest")
    at.selectbox(key="backtest_setup").set_value("sma-cross").run()
    version = next(b for b in at.selectbox if b.label == "Version")
    assert version.value == 1 and version.options == ["v1 (active)", "v2"]
    assert next(n for n in at.number_input if n.label.startswith("Fee")).value == 0.0


def test_backtest_page_defaults_follow_the_chosen_setup_at_once(app_home) -> None:
    s = store()
    s.save(s.load("sma-cross").text.replace("fee_bps: 0.0", "fee_bps: 9.0")
           .replace("percent: 1.0", "percent: 1.5"))
    at = page("backtest")
    at.selectbox(key="backtest_setup").set_value("pdh-sweep-reversal").run()
    assert next(n for n in at.number_input if n.label.startswith("Fee")).value == 5.0
    at.selectbox(key="backtest_setup").set_value("sma-cross").run()
    version = next(b for b in at.selectbox if b.label == "Version")
    assert version.value == 2 and version.options == ["v1", "v2 (active)"]
    fields = {n.label: n.value for n in at.number_input}
    assert fields["Fee (bps per side)"] == 9.0 and fields["Risk % / units / cash"] == 1.5


def test_backtest_page_runs_in_the_app_without_a_daemon(app_home) -> None:
    at = page("backtest")
    assert "Run a backtest to see its result here." in texts(at.info)
    at.selectbox(key="backtest_setup").set_value("pdh-sweep-reversal").run()
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric][:2] == ["Trades", "Win rate"]
    assert at.subheader[0].value.startswith("pdh-sweep-reversal @ v1 — BTC/USDT 5m")


# --- Runs and Journal ---------------------------------------------------------------------

def test_runs_page_says_there_are_no_runs_yet(app_home) -> None:
    assert "No runs yet: run a backtest first." in texts(page("runs").info)


def test_runs_page_lists_and_compares_a_run(run_home, monkeypatch) -> None:
    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    at = page("runs")
    assert len(at.dataframe[0].value) == 1 and at.code[0].value == run_id
    assert at.multiselect(key="runs_compare").value == [run_id]
    compared = at.dataframe[1].value
    name = at.dataframe[0].value["name"].iloc[0]
    assert list(compared.columns) == [name] and "Trades" in compared.index


def test_journal_page_breaks_a_run_down(run_home, monkeypatch) -> None:
    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    at = page("journal")
    assert at.selectbox(key="journal_run").value == run_id
    # only the open tab is built: the trades table, no breakdowns yet
    assert not [m for m in texts(at.markdown) if m.startswith("**By ")]
    assert len(at.get("plotly_chart")) == 0
    at.session_state["journal_tabs"] = "Analytics"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m for m in texts(at.markdown) if m.startswith("**By ")] == [
        f"**By {by}**" for by in BREAKDOWNS]
    assert len(at.dataframe) == len(BREAKDOWNS)  # the analytics tab alone
    assert len(at.get("plotly_chart")) == 2  # R histogram, MFE/MAE


# --- Settings -----------------------------------------------------------------------------

def test_settings_page_shows_the_folders(app_home) -> None:
    at = page("settings")
    folders = pd.DataFrame(at.dataframe[1].value).set_index("what")["path"].to_dict()
    assert folders["ITA home"] == str(app_home)
