"""The Runs page's Reports section as a trader uses it: Send to Notion (disabled with the how-to
until Notion is set up; inline, or a `notion_report` job when the daemon runs), the random-sample
check inline (the run's trades, exact), the period report's drift table and downloads."""

from __future__ import annotations

import math
import shutil
import time

import pandas as pd
import pytest

from app.reports_ui import SETUP_HINT, period_bounds, period_files
from engine.adapters.notion.config import ENABLE_HINT, NotionSettings
from engine.adapters.notion.workspace import setup_workspace
from engine.adapters.runs import RunStore
from tests.app._pages import page, texts
from tests.fakes.notion_api import FakeNotion


def frame(at, first_column: str) -> pd.DataFrame:
    """The dataframe whose first column is `first_column` (AppTest keeps no dataframe keys)."""
    [found] = [d.value for d in at.dataframe if list(d.value.columns)[:1] == [first_column]]
    return found


def act(done):
    at = done.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture()
def home(run_home, tmp_path, monkeypatch):
    source, run_id = run_home
    home = tmp_path / "home"
    shutil.copytree(source, home)
    monkeypatch.setenv("ITA_HOME", str(home))
    for name in ("NOTION_TOKEN", "ITA_NOTION_TOKEN", "NOTION_PARENT_PAGE",
                 "ITA_NOTION_PARENT_PAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(NotionSettings, "model_config",
                        {**NotionSettings.model_config, "env_file": None})
    return home, run_id


@pytest.fixture()
def fake(home, monkeypatch):
    with FakeNotion() as server:
        server.parent = server.add_root_page("Trading desk")
        monkeypatch.setenv("NOTION_TOKEN", server.token)
        monkeypatch.setenv("NOTION_PARENT_PAGE", server.parent)
        monkeypatch.setenv("ITA_NOTION_API_URL", server.base_url)
        monkeypatch.setenv("ITA_NOTION_RATE", "100")
        yield server


def test_send_to_notion_is_disabled_with_the_how_to(home):
    at = page("runs")
    button = at.button(key="runs_reports_notion")
    assert button.disabled
    assert ENABLE_HINT in [c.value for c in at.caption]


def test_configured_but_not_set_up_says_run_setup(home, fake):
    at = page("runs")
    assert at.button(key="runs_reports_notion").disabled
    assert SETUP_HINT in [c.value for c in at.caption]


def test_send_to_notion_publishes_the_run(home, fake):
    ita_home, run_id = home
    setup_workspace(ita_home, NotionSettings())
    at = page("runs")
    assert not at.button(key="runs_reports_notion").disabled
    at = act(at.button(key="runs_reports_notion").click())
    [said] = [s for s in texts(at.success) if s.startswith("Sent to Notion")]
    pages = [p for p in fake.pages.values() if "Backtest" in str(p["properties"])]
    assert len(pages) == 1 and pages[0]["id"].replace("-", "") in said
    assert len(fake.uploads) == 2 + 5


def test_with_the_daemon_running_sending_is_a_job(home, fake, monkeypatch):
    ita_home, run_id = home
    setup_workspace(ita_home, NotionSettings())
    monkeypatch.setattr("app.state.engine_state", lambda: {"alive": True})
    at = page("runs")
    at.number_input(key="runs_reports_seed").set_value(3)
    at = act(at.button(key="runs_reports_notion").click())
    from engine.jobs.bus import JobBus
    from engine.jobs.kinds import KINDS

    bus = JobBus.from_settings()
    [job] = [j for j in bus.list() if j["kind"] == "notion_report"]
    assert job["params"] == {"run_id": run_id, "sample": 5, "seed": 3}
    assert not fake.uploads  # nothing sent by the page itself
    kind = KINDS["notion_report"]
    result = kind.run(kind.validate(job["params"]), lambda *_: None, job_id="x")
    assert result["page_id"] in fake.pages and len(fake.uploads) == 7


def test_the_random_sample_check_shows_the_runs_trades(home):
    ita_home, run_id = home
    at = page("runs")
    at.number_input(key="runs_reports_sample").set_value(4)
    at.number_input(key="runs_reports_seed").set_value(9)
    started = time.perf_counter()
    at = act(at.toggle(key="runs_reports_show_sample").set_value(True))
    first = time.perf_counter() - started
    shown = frame(at, "#")
    trades = RunStore.from_settings().frame(run_id, "trades").set_index("entry_time")
    assert len(shown) == 4
    for _, row in shown.iterrows():
        trade = trades.loc[pd.Timestamp(row["entry time"], tz="UTC")]
        assert math.isclose(float(row["entry price"]), trade["entry_price"], rel_tol=1e-12)
        assert math.isclose(float(row["exit price"]), trade["exit_price"], rel_tol=1e-12)
        assert pd.Timestamp(row["exit time"], tz="UTC") == trade["exit_time"]
    assert sorted(i.proto.imgs[0].caption for i in at.get("image")) == ["#1", "#2", "#3", "#4"]
    assert any("seed 9" in c.value for c in at.caption)
    started = time.perf_counter()
    act(at)  # cached: the next rerun does not draw again
    assert time.perf_counter() - started < max(1.0, first)
    print(f"sample check: first {first:.2f}s")


def test_the_period_report_shows_the_drift_and_offers_csv_and_html(home):
    at = page("runs")
    # the period starts as the selected run's days of data
    assert at.date_input(key="runs_reports_from").value == pd.Timestamp("2023-03-01").date()
    assert at.date_input(key="runs_reports_to").value == pd.Timestamp("2023-03-07").date()
    at.date_input(key="runs_reports_from").set_value(pd.Timestamp("2023-03-01").date())
    at.date_input(key="runs_reports_to").set_value(pd.Timestamp("2023-03-07").date())
    at = act(at.toggle(key="runs_reports_show_period").set_value(True))
    drift = frame(at, "setup_id")
    row = drift.set_index("setup_id").loc["sma-cross"]
    assert row["backtest_period_trades"] > 0 and "verdict" in drift
    assert {b.label for b in at.get("download_button")} >= {"CSV", "HTML"}


def test_period_files_are_the_engines_report(home):
    from engine.reports.drift import period_report
    from engine.settings import get_settings

    ita_home, _ = home
    start, end = period_bounds(pd.Timestamp("2023-03-01").date(),
                               pd.Timestamp("2023-03-07").date(), "UTC")
    assert (start, end) == (pd.Timestamp("2023-03-01", tz="UTC"),
                            pd.Timestamp("2023-03-08", tz="UTC"))
    table, csv, html = period_files(str(ita_home), start.isoformat(), end.isoformat(), None,
                                    "stamp")
    expected = period_report(get_settings(), start=start, end=end).table()
    assert csv.decode() == expected.to_csv(index=False)
    assert html.startswith(b"<!doctype html>") and b"Period report 2023-03-01" in html


def test_period_bounds_are_the_traders_days():
    start, end = period_bounds(pd.Timestamp("2024-06-03").date(),
                               pd.Timestamp("2024-06-03").date(), "Europe/Athens")
    assert start == pd.Timestamp("2024-06-02 21:00", tz="UTC")
    assert end == pd.Timestamp("2024-06-03 21:00", tz="UTC")


def test_notion_down_says_so_and_keeps_the_published_page(home, fake):
    ita_home, run_id = home
    setup_workspace(ita_home, NotionSettings())
    at = act(page("runs").button(key="runs_reports_notion").click())
    [published] = [p["id"] for p in fake.pages.values() if "Backtest" in str(p["properties"])]
    fake.fail_next("503", path="/v1/pages")  # a write: notion-client does not retry it
    at = act(at.button(key="runs_reports_notion").click())
    [said] = texts(at.error)
    assert "Notion is busy or down" in said and "will retry" not in said
    assert said.endswith("the report was not sent (a page sent before is unchanged); send it "
                         "again later")
    assert not fake.pages[published]["in_trash"]  # the page a reader has is still there


def test_the_runs_page_builds_no_report_until_asked(home, monkeypatch):
    """The period report reads every run and the journal, the sample check draws charts: the
    Runs page's own reruns (opening it, picking a run, typing a note) do neither."""
    import app.reports_ui as section

    built = []
    real = section.period_files

    def counting(*args):
        built.append(args)
        return real(*args)

    monkeypatch.setattr(section, "period_files", counting)
    monkeypatch.setattr(section, "sample_check", lambda *a: pytest.fail("drawn unasked"))
    at = page("runs")
    _, run_id = home
    at = act(at.text_area(key=f"runs_note_{run_id}").set_value("typing reruns the page"))
    assert built == [] and not [d for d in at.dataframe if "setup_id" in d.value]
    at = act(at.toggle(key="runs_reports_show_period").set_value(True))
    assert len(built) == 1 and frame(at, "setup_id") is not None
