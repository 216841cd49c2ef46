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
from engine.errors import ConfigurationError, DataError, ItaError


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
                    "MFE against MAE", "Monthly result", "Breakdowns", "By setup version",
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
    assert "Win rate" in result.output and "Entry opened beyond the stop" in result.output
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
    html = runner.invoke(app, ["report", "run", run["run_id"], "--html", "--sample", "0"])
    assert html.exit_code == 0, html.output


def test_sweep_cli_ranks_variants(home) -> None:
    result = CliRunner().invoke(app, ["sweep", "sma-cross", "--to", "2023-03-05",
                                      "--workers", "1", "--min-trades", "1", "--top", "3"])
    assert result.exit_code == 0, result.output
    assert "20 variants" in result.output  # 4 fast x 5 slow values


# --- the SQL box and `ita runs query` are read-only over the runs folder --------------------


def _two_runs(root):
    import pandas as pd

    store = RunStore(root)
    for run_id, rs in (("run-a", [1.0, -1.0]), ("run-b", [2.0])):
        trades = pd.DataFrame({"setup_id": "demo", "r_multiple": rs})
        equity = pd.DataFrame({"equity": [100.0, 101.0]})
        store.write(run_id, frames={"trades": trades, "equity": equity},
                    summary={"setup_id": "demo", "metrics": {"trades": len(rs)}})
    return store


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """Two tiny runs, a secret beside the runs folder and one in DuckDB's default temp folder
    (`<cwd>/.tmp`, which DuckDB always allows unless told otherwise)."""
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.txt").write_text("password=hunter2\n")
    pd.DataFrame({"secret": ["hunter2"]}).to_parquet(tmp_path / "secret.parquet")
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.csv").write_text("secret\nhunter2\n")
    return _two_runs(tmp_path / "runs"), tmp_path


def test_normal_queries_over_runs_still_work(sandbox) -> None:
    store, _ = sandbox
    table = store.query("SELECT run_id, count(*) AS n, sum(r_multiple) AS r FROM trades "
                        "GROUP BY run_id ORDER BY run_id")
    assert table.to_dict("list") == {"run_id": ["run-a", "run-b"], "n": [2, 1], "r": [0.0, 2.0]}
    summaries = store.query("SELECT run_id, metrics.trades AS n FROM summaries ORDER BY run_id")
    assert summaries.to_dict("list") == {"run_id": ["run-a", "run-b"], "n": [2, 1]}
    assert set(store.query("FROM equity")["run_id"]) == {"run-a", "run-b"}
    assert "r_multiple" in store.query("DESCRIBE trades")["column_name"].tolist()
    with_cte = store.query("WITH t AS (SELECT * FROM trades) SELECT count(*) AS n FROM t")
    assert with_cte["n"].tolist() == [3]


OUTSIDE = "disabled by configuration"  # DuckDB's refusal of a file outside the runs folder
NOT_SELECT = "only SELECT queries are allowed"
ESCAPES = [
    ("SELECT * FROM read_csv('/etc/passwd')", OUTSIDE),
    ("SELECT * FROM read_text('/etc/passwd')", OUTSIDE),
    ("SELECT * FROM read_text('{home}/secret.txt')", OUTSIDE),
    ("SELECT * FROM read_blob('{home}/secret.txt')", OUTSIDE),
    ("SELECT * FROM read_parquet('{home}/secret.parquet')", OUTSIDE),
    ("SELECT * FROM read_parquet('{runs}/../secret.parquet')", OUTSIDE),
    ("SELECT * FROM read_csv('{home}/.tmp/secret.csv')", OUTSIDE),
    ("SELECT * FROM glob('/etc/*')", OUTSIDE),
    ("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')", OUTSIDE),
    ("COPY trades TO '{home}/stolen.csv'", NOT_SELECT),
    ("COPY trades TO '{runs}/stolen.csv'", NOT_SELECT),
    ("COPY (SELECT 1) TO '{runs}/run-a/trades.parquet' (FORMAT parquet)", NOT_SELECT),
    ("EXPORT DATABASE '{home}/stolen'", NOT_SELECT),
    ("INSTALL httpfs", NOT_SELECT),
    ("LOAD httpfs", NOT_SELECT),
    ("ATTACH '{home}/stolen.duckdb' AS stolen", NOT_SELECT),
    ("SET allowed_directories = ['/']", NOT_SELECT),
    ("RESET allowed_directories", NOT_SELECT),
    ("SET lock_configuration = false", NOT_SELECT),
    ("PRAGMA enable_profiling", NOT_SELECT),
    ("CREATE TABLE stolen AS SELECT * FROM trades", NOT_SELECT),
    ("SELECT 1; COPY trades TO '{runs}/stolen.csv'", "exactly one SELECT"),
    ("SET allowed_directories = ['/']; SELECT * FROM read_text('/etc/passwd')",
     "exactly one SELECT"),
]


@pytest.mark.parametrize(("sql", "reason"), ESCAPES)
def test_sql_box_escapes_are_refused_in_one_line(sandbox, sql, reason) -> None:
    store, home = sandbox
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    with pytest.raises(ItaError, match=reason) as refused:
        store.query(sql.format(home=home, runs=store.root.resolve()))
    message = str(refused.value)
    assert "\n" not in message and "hunter2" not in message
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # nothing written
    assert store.query("SELECT count(*) AS n FROM trades")["n"].tolist() == [3]


def test_the_sandbox_settings_are_locked(sandbox) -> None:
    """The lock holds on its own, not only the SELECT-only check in front of it."""
    from engine.adapters.sql_sandbox import sandboxed_connection

    store, _ = sandbox
    with sandboxed_connection(store.root) as con, pytest.raises(Exception, match="locked"):
        con.execute("SET allowed_directories = ['/']")


def test_runs_query_cli_refuses_an_escape_with_one_red_line(sandbox, monkeypatch, capsys) -> None:
    from engine.cli import main

    store, home = sandbox
    monkeypatch.setenv("ITA_HOME", str(home))
    monkeypatch.setattr("sys.argv", ["ita", "runs", "query", "SELECT * FROM read_text("
                                     f"'{home}/secret.txt')"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "hunter2" not in captured.out + captured.err
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1


def test_runs_page_sql_box_shows_a_refusal(sandbox, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    _, home = sandbox
    monkeypatch.setenv("ITA_HOME", str(home))
    at = AppTest.from_file(str(ROOT / "views" / "runs.py"), default_timeout=60)
    at.run()
    at.text_area(key="runs_sql").set_value("SELECT * FROM read_text('/etc/passwd')")
    at.button(key="runs_query").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] and "root:" not in str([d.value for d in at.dataframe])


def test_a_broken_run_file_is_a_one_line_error(sandbox) -> None:
    store, _ = sandbox
    (store.root / "run-b" / "summary.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read the runs' summary.json files") as broken:
        store.query("SELECT count(*) FROM trades")
    assert "\n" not in str(broken.value)
