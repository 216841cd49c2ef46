"""The Research page: a search is submitted as a daemon job and its status shown; a finished
job's files are rendered (trials table, heatmap, walk-forward charts) after any restart; a
chosen row is saved as a new setup version."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.research import run_sweep, run_walkforward
from engine.jobs import kinds
from engine.jobs.bus import JobBus
from engine.setups.store import SetupStore
from tests.app._pages import page, texts

SMALL = {"setup": "sma-cross@1", "symbol": "BTC/USDT", "start": "2023-03-01",
         "end": "2023-03-03", "min_trades": 1}
FOUR = {"conditions.cross.fast": {"low": 5, "high": 10, "step": 5},
        "conditions.cross.slow": {"low": 20, "high": 30, "step": 10}}




def test_research_page_submits_a_job_with_edited_ranges_and_shows_its_status(app_home) -> None:
    at = page("research")
    at.selectbox(key="research_setup").set_value("sma-cross").run()
    assert at.data_editor(key="research_ranges_sma-cross_1").value["parameter"].tolist() == [
        "conditions.cross.fast", "conditions.cross.slow"]
    at.number_input(key="research_trials_optimise").set_value(7)
    next(b for b in at.button if b.label == "Run Optuna search").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    job = at.session_state["research_job"]
    status = JobBus.from_settings().status(job)
    assert status["state"] == "queued" and status["kind"] == "optimise"
    assert status["params"]["trials"] == 7 and status["params"]["setup"] == "sma-cross@1"
    assert status["params"]["ranges"]["conditions.cross.slow"] == {"low": 20.0, "high": 60.0,
                                                                  "step": 10.0}
    assert any("No engine daemon is running" in w for w in texts(at.warning))
    progress = at.get("progress")
    assert progress and f"Optuna search {job}: queued" in progress[0].proto.text
    assert any(b.label == "Cancel" for b in at.button)
    next(b for b in at.button if b.label == "Cancel").click()
    at.run()
    assert JobBus.from_settings().status(job)["cancel_requested"]


@pytest.fixture()
def finished_sweep(app_home) -> str:
    job = "20230301T000000000000-sweep-abcdef"
    run_sweep(kinds.SweepParams(**SMALL, workers=1, ranges=FOUR), lambda f, m: None,
              job_id=job)
    return job


def on_sma_cross():
    at = page("research")
    at.selectbox(key="research_setup").set_value("sma-cross").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_research_page_renders_a_finished_sweep_and_saves_a_row(finished_sweep) -> None:
    at = on_sma_cross()
    assert texts(at.info) == []
    table = pd.DataFrame(at.dataframe[-1].value)
    assert len(table) == 4 and {"trades", "value"} <= set(table)
    assert any(m.label == "Variants" and m.value == "4" for m in at.metric)
    assert at.get("plotly_chart")  # the heatmap of the two parameters
    row = at.selectbox(key=f"research_row_{finished_sweep}")
    chosen = table.iloc[1]
    row.set_value(1)
    next(b for b in at.button if b.label == "Save as new version").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    store = SetupStore.from_settings()
    assert [v.version for v in store.versions("sma-cross")] == [1, 2]
    saved = store.load("sma-cross@2").setup.conditions["cross"]
    assert (saved.fast, saved.slow) == (chosen["conditions.cross.fast"],
                                       chosen["conditions.cross.slow"])
    assert any("Saved as sma-cross v2" in s for s in texts(at.success))


def test_research_page_renders_a_finished_walkforward(app_home) -> None:
    job = "20230301T000000000000-walkforward-abcdef"
    run_walkforward(kinds.WalkforwardParams(**SMALL, ranges=FOUR, trials=3, train_bars=1000,
                                            test_bars=500), lambda f, m: None, job_id=job)
    at = on_sma_cross()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Windows"] == "3"
    assert len(at.get("plotly_chart")) == 2  # windows in/out of sample, equity
    windows = pd.DataFrame(at.dataframe[-1].value)
    assert {"in_sample", "out_of_sample", "param:conditions.cross.fast"} <= set(windows)


def test_a_result_is_shown_only_under_its_own_setup_and_names_its_version(finished_sweep
                                                                          ) -> None:
    at = page("research")
    assert at.selectbox(key="research_setup").value != "sma-cross"
    assert not at.metric and not at.get("plotly_chart")  # not sma-cross's result under it
    assert any("No results of " in i for i in texts(at.info))
    at.selectbox(key="research_setup").set_value("sma-cross").run()
    assert [h.value for h in at.subheader] == ["Result: sma-cross v1 · Grid sweep · BTC/USDT"]
    assert not at.warning
    from engine.setups.store import SetupStore

    store = SetupStore.from_settings()
    store.save(store.load("sma-cross@1").text.replace("fast: 10", "fast: 12"))
    at.run()  # the page now lists v2 (active)
    at.selectbox(key="research_version_sma-cross").set_value(2).run()
    assert any("This result is of sma-cross v1; the form above is on v2" in w
               for w in texts(at.warning))


def test_the_forms_choices_survive_switching_method_setup_and_page(app_home) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/research.py").run()
    at.selectbox(key="research_setup").set_value("sma-cross").run()
    at.selectbox(key="research_objective").set_value("sharpe")
    at.number_input(key="research_trials_optimise").set_value(80)
    at.session_state["research_ranges_sma-cross_1"] = {
        "edited_rows": {1: {"high": 45.0}}, "added_rows": [], "deleted_rows": []}
    next(b for b in at.button if b.label == "Run Optuna search").click()
    at.run()
    at.segmented_control(key="research_method").set_value("walkforward").run()
    at.selectbox(key="research_setup").set_value("pdh-sweep-reversal").run()
    at.switch_page("views/runs.py").run()  # another page, then back
    assert not at.exception and at.title[0].value == "Runs"
    at.switch_page("views/research.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="research_setup").value == "pdh-sweep-reversal"
    at.selectbox(key="research_setup").set_value("sma-cross").run()
    at.segmented_control(key="research_method").set_value("optimise").run()
    assert at.selectbox(key="research_objective").value == "sharpe"
    assert at.number_input(key="research_trials_optimise").value == 80
    ranges = at.data_editor(key="research_ranges_sma-cross_1").value
    assert ranges.loc[1, "high"] == 45.0
