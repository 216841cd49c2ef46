"""The Runs and Journal pages as a trader uses them: name, note and delete a run (asked
first); journal a trade with tags, find it with the tag filter and on the P&L calendar."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.app._pages import page


def act(done) -> AppTest:
    """Run the script after an interaction (`done` is the widget acted on, or the AppTest)."""
    at = done.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture()
def own_runs(run_home, tmp_path, monkeypatch):
    """A copy of the home with one run, plus a second copy of that run under an older id."""
    source, run_id = run_home
    home = tmp_path / "home"
    shutil.copytree(source, home)
    older = "20230101T000000000Z-sma-cross-v1"
    shutil.copytree(home / "runs" / run_id, home / "runs" / older)
    monkeypatch.setenv("ITA_HOME", str(home))
    return home, run_id, older


def test_runs_shows_names_key_metrics_and_the_full_id(own_runs) -> None:
    home, run_id, older = own_runs
    at = page("runs")
    table = at.dataframe[0].value
    assert list(table.columns)[:3] == ["name", "trades", "win_rate"]
    assert len(table) == 2
    assert table["name"].str.startswith("sma-cross@1 · BTC/USDT 1m · 2023-03-01→03-07").all()
    assert at.multiselect(key="runs_compare").value == [run_id, older]
    compared = at.dataframe[1].value
    assert list(compared.index) == ["Trades", "Win rate", "Expectancy R (net)", "Profit factor",
                                    "Return", "Max drawdown"]
    assert compared.shape[1] == 2
    equity = at.get("plotly_chart")[0].proto.spec
    assert '"type":"date"' in equity.replace(" ", "") and "start = 100" in equity
    assert at.code[0].value == run_id


def test_runs_note_is_saved_beside_the_run(own_runs) -> None:
    home, run_id, _ = own_runs
    at = page("runs")
    at.text_area(key=f"runs_note_{run_id}").input("Fees too high for this one")
    act(at.button(key="runs_save_note").click())
    assert (home / "runs" / run_id / "note.md").read_text() == "Fees too high for this one\n"
    assert "Note saved." in [s.value for s in at.success]
    assert act(at).text_area(key=f"runs_note_{run_id}").value == "Fees too high for this one"


def test_runs_delete_asks_first_and_cancel_keeps_the_run(own_runs) -> None:
    home, run_id, older = own_runs
    at = page("runs")
    act(at.button(key="runs_delete").click())
    assert any(w.value.startswith("Delete sma-cross@1 · ") for w in at.warning)
    assert (home / "runs" / run_id).exists()
    act(at.button(key="runs_delete_no").click())
    assert not at.warning and (home / "runs" / run_id).exists()
    act(at.button(key="runs_delete").click())
    act(at.button(key="runs_delete_yes").click())
    assert not (home / "runs" / run_id).exists() and (home / "runs" / older).exists()
    assert any(s.value.startswith("Deleted sma-cross@1 · ") for s in at.success)
    assert len(at.dataframe[0].value) == 1 and at.code[0].value == older
    assert at.multiselect(key="runs_compare").value == [older]
    assert at.selectbox(key="runs_manage").value == older


def test_journal_a_trade_filter_by_tag_and_find_it_on_the_calendar(own_runs) -> None:
    home, run_id, _ = own_runs
    at = page("journal")
    assert at.selectbox(key="journal_run").value == run_id
    trades = at.dataframe[0].value
    assert len(trades) > 3
    act(at.selectbox(key="journal_trade").set_value(2))
    note_box = [t for t in at.text_area if t.key.startswith("journal_note_")][0]
    entry_id = note_box.key.removeprefix("journal_note_")
    note_box.input("Clean sweep of the Asia low")
    [t for t in at.text_input if t.key.startswith("journal_tags_")][0].input("A+, asia-sweep")
    act(at.button(key="journal_save").click())
    journal = home / "shared_kb" / "analysts" / "analyst" / "journal"
    assert (journal / f"{entry_id}.yaml").exists()
    assert any(s.value.startswith("Saved to your journal") for s in at.success)

    act(at.multiselect(key="journal_filter_tags").select("a+"))
    listed = at.dataframe[0].value
    assert len(listed) == 1
    assert listed["note"].tolist() == ["Clean sweep of the Asia low"]
    assert list(listed["tags"].iloc[0]) == ["a+", "asia-sweep"]
    r = float(listed["r_net"].iloc[0])
    at.session_state["journal_tabs"] = "P&L calendar"
    act(at)
    calendar = next(d for d in at.dataframe if "Monday" in d.value.columns).value
    filled = [c for c in calendar.to_numpy().ravel() if "R" in str(c)]
    assert len(filled) == 1 and f"{r:+.2f} R" in filled[0]
    assert any(m.label == "Days traded" and m.value == "1" for m in at.metric)


def test_journal_compares_two_versions_of_a_setup(own_runs) -> None:
    home, run_id, older = own_runs
    import json

    summary_path = home / "runs" / older / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["setup_version"] = 2
    summary_path.write_text(json.dumps(summary))
    at = page("journal")
    assert at.selectbox(key="journal_version").value == 2
    at.session_state["journal_tabs"] = "Version against version"
    at.run()
    assert at.selectbox(key="journal_version_a").value == 1
    assert at.selectbox(key="journal_version_b").value == 2
    compared = at.dataframe[-1].value
    assert [c.split(" · ")[0] for c in compared.columns] == ["v1", "v2"]
    assert "Expectancy R (net)" in compared.index


def test_calendar_colour_follows_the_money_like_the_green_red_day_count() -> None:
    from app.runs_ui import calendar_colours

    assert "39,174,96" in calendar_colours("10  -10.13 R  +29.95")  # made money: green
    assert "192,57,43" in calendar_colours("7  +0.20 R  -15.45")
    assert calendar_colours("8") == "" and calendar_colours("") == ""


def test_runs_table_fits_a_1280_px_window_and_the_rest_is_in_the_details(own_runs) -> None:
    import json

    home, run_id, older = own_runs
    at = page("runs")
    runs = at.dataframe[0]
    assert list(runs.value.columns) == ["name", "trades", "win_rate", "expectancy_r",
                                        "total_return_pct", "max_drawdown_pct"]
    config = json.loads(runs.proto.columns)
    widths = [config[c]["width"] for c in runs.value.columns]
    # 1280 px minus the sidebar (~300) and the page's side padding (~2 × 80) leaves ~820
    assert all(isinstance(w, int) for w in widths) and sum(widths) <= 800, widths
    assert config["name"]["pinned"] is True
    assert config["max_drawdown_pct"]["label"] == "Max DD"
    at.selectbox(key="runs_manage").set_value(older)
    act(at)
    assert at.code[0].value == older
    details = [d.value for d in at.dataframe if list(d.value.columns) == [
        at.selectbox(key="runs_manage").format_func(older)]]
    assert details and {"Profit factor", "Sharpe", "Fees"} <= set(details[0].index)
