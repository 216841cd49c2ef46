"""`ita report run|period` from the command line."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from engine.adapters.runs import RunStore, short_id
from engine.cli import app
from engine.reports.period import run_report


def test_report_run_prints_the_numbers_and_the_seeded_sample(run, tmp_path) -> None:
    result = CliRunner().invoke(app, ["report", "run", short_id(run.run_id), "--sample", "3",
                                      "--seed", "5", "--charts", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "random-sample check: 3 of" in result.output and "seed 5" in result.output
    assert "Win rate" in result.output
    sample = run_report(RunStore.from_settings(), run.run_id, sample=3, seed=5).sample
    for time in sample["entry_time"]:
        assert pd.Timestamp(time).strftime("%Y-%m-%d %H:%M") in result.output
    written = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert written == [f"sample-{n}-seed5.png" for n in (1, 2, 3)]


def test_report_period_writes_csv_and_html(run, tmp_path) -> None:
    csv, page = tmp_path / "p.csv", tmp_path / "p.html"
    result = CliRunner().invoke(app, ["report", "period", "--from", "2023-03-01", "--to",
                                      "2023-03-21", "--setup", "sma-cross", "--csv", str(csv),
                                      "--html", str(page)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv)
    assert list(table["setup_id"]) == ["sma-cross"]
    assert table.loc[0, "backtest_period_trades"] == run.summary["metrics"]["trades"]
    assert "No live trades with a known outcome" in result.output
    assert page.read_text().startswith("<!doctype html>")


def test_report_period_names_a_bad_day(run) -> None:
    result = CliRunner().invoke(app, ["report", "period", "--from", "March", "--to",
                                      "2023-03-21"])
    assert result.exit_code != 0
    assert "--from 'March': write a day as YYYY-MM-DD" in str(result.exception)
