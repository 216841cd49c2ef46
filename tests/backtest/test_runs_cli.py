"""`ita runs list` at 80 columns shows ids a trader can copy, and every command that takes a
run id takes them; the HTML report is named after the run and reads like a trader's page."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.runs import RunStore, short_id
from engine.backtest.run import run_backtest
from engine.cli import app
from engine.errors import DataError
from tests.conftest import home_env


@pytest.fixture(scope="module")
def runs_home(new_demo_home):
    """A demo home with two runs (module-wide: backtests take seconds)."""
    with home_env(new_demo_home("ita-runs-cli")) as home:
        ids = [run_backtest("london-asia-sweep-fvg", start="2023-03-01", end="2023-03-22").run_id,
               run_backtest("sma-cross", symbol="BTC/USD", end="2023-03-05").run_id]
    return home, ids


@pytest.fixture()
def home(runs_home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(runs_home[0]))
    monkeypatch.delenv("ITA_DISPLAY_TZ", raising=False)
    return runs_home


def invoke(*args: str):
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_runs_list_at_80_columns_shows_whole_short_ids(home) -> None:
    _, ids = home
    output = invoke("runs", "list")
    assert max(len(line) for line in output.splitlines()) <= 80
    lines = output.splitlines()
    for run_id in ids:
        assert any(line.split()[:1] == [short_id(run_id)] for line in lines), output
    assert "london-asia" in output and "BTC/USD" in output
    assert "%" in output and "None" not in output and "nan" not in output


def test_runs_list_wide_shows_full_ids(home) -> None:
    _, ids = home
    output = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["runs", "list", "--wide"]).output
    assert all(run_id in output for run_id in ids)
    assert "+00:00" not in output


def test_short_ids_resolve_everywhere(home, tmp_path) -> None:
    _, ids = home
    store = RunStore.from_settings()
    for run_id in ids:
        assert store.resolve(short_id(run_id)) == run_id
        assert store.resolve(short_id(run_id)[:5]) == run_id  # a unique start is enough
        assert store.resolve(run_id) == run_id
        assert store.summary(short_id(run_id))["run_id"] == run_id
    shown = invoke("runs", "show", short_id(ids[1]))
    assert "sma-cross v1 on BTC/USD" in shown and "Win rate" in shown
    out = tmp_path / "mine.html"
    written = invoke("report", "run", short_id(ids[0]), "--html", "--out", str(out))
    assert "wrote" in written and out.exists()


def test_unknown_and_ambiguous_ids_are_one_line_errors(tmp_path) -> None:
    store = RunStore(tmp_path)
    for run_id in ("20240101T000000000Z-a-v1", "20240101T000000001Z-b-v1"):
        store.write(run_id, frames={"trades": pd.DataFrame({"r": [1.0]})},
                    summary={"setup_id": "demo"})
    with pytest.raises(DataError, match="no run 'ffff0000'"):
        store.summary("ffff0000")
    with pytest.raises(DataError, match="run '2024' is ambiguous: it matches 2 runs"):
        store.frame("2024", "trades")
    assert store.resolve("20240101T000000001") == "20240101T000000001Z-b-v1"


def test_report_is_named_after_the_run(home) -> None:
    root, ids = home
    output = invoke("report", "run", short_id(ids[0]), "--html")
    path = re.search(r"wrote (\S+\.html)", output).group(1)
    assert path.endswith("/ita-report-london-asia-sweep-fvg@v1-BTC-USDT-2023-03-01-"
                         "2023-03-21.html")
    page = Path(path).read_text()
    metrics = page[page.index("<h2>Metrics</h2>"):page.index("<h2>Counters</h2>")]
    labels = re.findall(r"<th>([^<]+)</th>", metrics)
    assert labels[:4] == ["Trades", "Win rate", "Expectancy R (net)", "Expectancy R (gross)"]
    assert not [label for label in labels if "_" in label]
    counters = page[page.index("<h2>Counters</h2>"):page.index("<h2>Charts</h2>")]
    assert "Skipped: already in a trade" in counters and "skipped_in_position" not in counters
    trades = page[page.index("<h2>Trades"):]
    assert "<div class='scroll'>" in trades and "Entry (UTC)" in trades
    assert "+00:00" not in trades and (">long<" in trades or ">short<" in trades)
    assert ">nan<" not in trades.lower() and ">none<" not in trades.lower()
