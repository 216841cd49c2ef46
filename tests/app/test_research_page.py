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


def test_research_page_renders_a_finished_sweep_and_saves_a_row(finished_sweep) -> None:
    at = page("research")
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
    at = page("research")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Windows"] == "3"
    assert len(at.get("plotly_chart")) == 2  # windows in/out of sample, equity
    windows = pd.DataFrame(at.dataframe[-1].value)
    assert {"in_sample", "out_of_sample", "param:conditions.cross.fast"} <= set(windows)
