"""Run folders end to end: run_backtest on the demo store, DuckDB over runs, reports, CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from engine.adapters.runs import RunStore
from engine.backtest.report import write_csv_report, write_html_report
from engine.backtest.run import run_backtest
from engine.cli import app
from engine.demo import run_demo
from engine.errors import ConfigurationError, DataError


@pytest.fixture()
def home(ita_home):
    run_demo()
    return ita_home


def test_run_folder_is_complete_and_reproducible(home) -> None:
    result = run_backtest("london-asia-sweep-fvg", start="2023-03-01", end="2023-03-22")
    folder = result.path
    assert sorted(p.name for p in folder.iterdir()) == [
        "equity.parquet", "signals.parquet", "summary.json", "trades.parquet"]
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("setup_id", "setup_version", "setup_hash", "rule_hash", "data_hash",
                "data_start", "data_end", "ita_version", "costs", "sizing", "metrics"):
        assert summary[key] is not None, key
    assert summary["lower_timeframe_resolution"] is True  # 1m under 5m
    again = run_backtest("london-asia-sweep-fvg", start="2023-03-01", end="2023-03-22")
    assert again.summary["metrics"] == summary["metrics"]
    assert again.summary["data_hash"] == summary["data_hash"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_duckdb_over_all_runs_and_reports(home, tmp_path) -> None:
    a = run_backtest("sma-cross")
    run_backtest("bos-order-block-retest")
    runs = RunStore.from_settings()
    table = runs.query("SELECT run_id, count(*) AS n FROM trades GROUP BY run_id ORDER BY n")
    assert len(table) == 2 and table["n"].sum() > 50
    with pytest.raises(DataError, match="query failed"):
        runs.query("SELECT nope FROM trades")
    from engine.adapters.store import CandleStore

    candles = CandleStore.from_settings().read("BTC/USDT", "1m")
    html = write_html_report(runs, a.run_id, candles).read_text()
    for section in ("Metrics", "Equity and drawdown", "R-multiple distribution",
                    "MFE against MAE", "Monthly result", "Breakdowns", "By setup_version",
                    "Random-sample check", "Trades"):
        assert section in html, section
    assert a.summary["metrics"]["closed_at_data_end"] == 1  # the demo ends inside a trade
    assert "1 trade(s) closed by the end of the data and 0 by a test window" in html
    assert 'src="http' not in html  # plotly.js is inlined: the report opens offline
    paths = write_csv_report(runs, a.run_id, tmp_path)
    assert all(p.exists() for p in paths)


def test_no_data_in_range_is_a_clear_message(home) -> None:
    with pytest.raises(DataError, match="no BTC/USDT candles between 2030-01-01"):
        run_backtest("sma-cross", start="2030-01-01", end="2030-02-01")


def test_backtest_and_runs_cli(home) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", "pdh-sweep-reversal", "--from", "2023-03-01"])
    assert result.exit_code == 0, result.output
    assert "win_rate" in result.output and "gapped_past_stop" in result.output
    skip = runner.invoke(app, ["backtest", "pdh-sweep-reversal", "--gap-entry", "skip"])
    assert skip.exit_code == 0, skip.output
    newest = RunStore.from_settings().list().iloc[0]["run_id"]
    assert RunStore.from_settings().summary(newest)["gap_entry"] == "skip"
    bad = runner.invoke(app, ["backtest", "pdh-sweep-reversal", "--gap-entry", "maybe"])
    assert isinstance(bad.exception, ConfigurationError)  # main() prints it as one line
    assert "gap_entry 'maybe': use one of fill, skip" in str(bad.exception)
    assert runner.invoke(app, ["runs", "list"]).exit_code == 0
    query = runner.invoke(app, ["runs", "query", "SELECT DISTINCT setup_id FROM trades"])
    assert query.exit_code == 0 and "pdh-sweep-reversal" in query.output


@pytest.mark.parametrize("setup_id", ["bos-order-block-retest", "london-asia-sweep-fvg",
                                      "ny-fvg-continuation", "pdh-sweep-reversal", "sma-cross"])
def test_every_example_setup_backtests_from_the_cli(home, setup_id) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["backtest", setup_id, "--symbol", "BTC/USD"])
    assert result.exit_code == 0, result.output
    run = RunStore.from_settings().list().iloc[0]
    summary = RunStore.from_settings().summary(run["run_id"])
    assert summary["setup_id"] == setup_id and summary["symbol"] == "BTC/USD"
    assert summary["metrics"]["trades"] > 0
    html = runner.invoke(app, ["report", run["run_id"], "--html"])
    assert html.exit_code == 0, html.output


def test_sweep_cli_ranks_variants(home) -> None:
    result = CliRunner().invoke(app, ["sweep", "sma-cross", "--to", "2023-03-05",
                                      "--workers", "1", "--min-trades", "1", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "20 variants" in result.output  # 4 fast x 5 slow values
