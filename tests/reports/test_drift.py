"""The period report: backtest and live side by side, the drift and when it is more than noise;
CSV and HTML written atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.adapters.runs import RunStore
from engine.reports.drift import bootstrap_interval, judge, period_report, period_words
from engine.reports.period import setup_report
from engine.settings import get_settings
from tests.reports._journal import record_live

WEEK = (pd.Timestamp("2026-03-16", tz="UTC"), pd.Timestamp("2026-03-23", tz="UTC"))


def test_judge_calls_live_worse_only_beyond_the_bootstrap_interval() -> None:
    worse = judge(0.5, [-1, -1, -1, 0.5, -1, -1, -1, -0.5])
    assert worse[0] == pytest.approx(np.mean([-1, -1, -1, 0.5, -1, -1, -1, -0.5]) - 0.5)
    assert worse[2].startswith("Live is worse than the backtest by 1.25 R per trade, more "
                               "than noise")
    assert worse[1][1] < 0.5
    noisy = judge(0.5, [2, -1, 2, -1, 2, -1, -1, -1])  # mean +0.125, a wide interval
    assert noisy[0] == pytest.approx(-0.375)
    assert noisy[2].startswith("Live is within noise of the backtest")
    assert judge(0.5, [-1, -1, -1])[2].startswith("Too few live trades to judge")
    assert judge(None, [1.0])[2].startswith("No backtest run")
    assert judge(0.3, [])[2].startswith("No live trades")
    assert judge(-0.8, [1, 1.5, 2, 0.5, 1, 1])[2].startswith("Live is better")


def test_bootstrap_interval_is_seeded_and_holds_the_mean() -> None:
    r = np.array([1.0, -1, 2, -1, -1, 0.5])
    low, high = bootstrap_interval(r)
    assert low < r.mean() < high
    assert bootstrap_interval(r) == (low, high)
    assert bootstrap_interval([1.0]) is None


def test_period_report_sets_live_beside_the_backtest(home, run) -> None:
    version = run.summary["setup_version"]
    live_r = [-1.0, -1.0, 0.4, -1.0, -1.0, -1.0, -0.2, -1.0]
    record_live(home, [*live_r, None], version=version)
    record_live(home, [-1.0], version=version, day="2026-03-25")  # after the week
    record_live(home, [2.0, 2.0], version=version, day="2026-03-18", decision="Skipped")
    report = period_report(get_settings(), start=WEEK[0], end=WEEK[1])
    line = next(x for x in report.lines if (x.setup_id, x.version) == ("sma-cross", version))
    assert line.run_id == run.run_id
    assert line.live["signals"] == 11 and line.live["taken"] == 9
    assert line.live["skipped"] == 2 and line.live["outcomes"] == 8
    assert line.live["total_r"] == pytest.approx(sum(live_r))
    backtest = run.summary["metrics"]["expectancy_r_net"]
    assert line.backtest["expectancy_r_net"] == backtest
    assert line.drift == pytest.approx(np.mean(live_r) - backtest)
    assert line.backtest_period is None  # the run's data (March 2023) is not in this week
    assert line.verdict.startswith("Live is worse than the backtest")
    others = [x for x in report.lines if x.setup_id != "sma-cross"]
    assert others and all(x.live["signals"] == 0 for x in others)  # the other active setups
    assert all(x.verdict == "No live trades with a known outcome in this period."
               for x in others if x.backtest is not None)
    with_live = setup_report(RunStore.from_settings(), "sma-cross", version, start=WEEK[0],
                             end=WEEK[1], home=home)
    assert with_live is None  # the run's bars are in March 2023: no backtest this week
    march = setup_report(RunStore.from_settings(), "sma-cross", version, start="2023-03-01",
                         end="2026-04-01", home=home)
    assert march.live["outcomes"] == 9 and march.live["taken"] == 10
    assert march.live_verdict.startswith("Live is worse than the backtest")
    only = period_report(get_settings(), start=WEEK[0], end=WEEK[1], setup="sma-cross")
    assert [x.setup_id for x in only.lines] == ["sma-cross"]


def test_csv_and_html_are_written_whole_and_atomically(home, run, tmp_path, monkeypatch
                                                       ) -> None:
    report = period_report(get_settings(), start=WEEK[0], end=WEEK[1], setup="sma-cross")
    csv = report.write_csv(tmp_path / "period.csv")
    table = pd.read_csv(csv)
    assert table.loc[0, "setup_id"] == "sma-cross"
    assert table.loc[0, "run_id"] == run.run_id
    assert table.loc[0, "backtest_expectancy_r_net"] == pytest.approx(
        run.summary["metrics"]["expectancy_r_net"])
    page = report.write_html(tmp_path / "period.html").read_text()
    assert "Backtest (whole run)" in page and "Live (this period)" in page
    assert "data:image/png;base64," in page and "http" not in page.replace(
        "http-equiv", "")  # opens offline
    before = csv.read_bytes()

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("engine._io.os.replace", crash)
    with pytest.raises(OSError):
        report.write_csv(csv)
    assert csv.read_bytes() == before  # the old file whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["period.csv", "period.html"]


def test_the_period_is_named_as_a_reader_says_it() -> None:
    start, end = pd.Timestamp("2023-03-01", tz="UTC"), pd.Timestamp("2023-03-22", tz="UTC")
    assert period_words(start, end, "UTC") == ("2023-03-01", "2023-03-21")
    assert period_words(start, end, "Europe/Berlin") == ("2023-03-01 01:00",
                                                         "2023-03-22 01:00 (excluded)")
