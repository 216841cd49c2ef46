"""The pages' tables speak the trader's language: long/short, labelled columns in a fixed
order, times in the display zone without an offset, prices to the symbol's decimals, "—" for a
missing value, labelled counters."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app._pages import page


def table_with(at: AppTest, column: str):
    return next(d for d in at.dataframe if column in d.value.columns)


def headers(element) -> dict[str, str]:
    """Column name -> the header the page shows (from the column configuration)."""
    config = json.loads(element.proto.columns or "{}")
    return {name: spec.get("label") for name, spec in config.items()}


@pytest.fixture()
def runs_home(run_home, monkeypatch):
    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    monkeypatch.delenv("ITA_DISPLAY_TZ", raising=False)
    return home, run_id


def test_backtest_trades_table_shows_sides_local_times_and_labels(runs_home, monkeypatch
                                                                  ) -> None:
    monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Athens")
    at = page("backtest")
    trades = table_with(at, "entry_price")
    shown = trades.value
    assert set(shown["direction"]) <= {"long", "short"} and len(shown)
    assert shown["entry_time"].dt.tz is None  # no "+00:00" on the page
    names = headers(trades)
    assert names["direction"] == "Side" and names["entry_time"] == "Entry (Europe/Athens)"
    assert names["r_net"] == "R (net)"
    assert "r_multiple" not in names and "reasons" not in shown.columns
    assert list(shown.columns[:4]) == ["direction", "signal_time", "entry_time", "entry_price"]
    config = json.loads(trades.proto.columns)
    assert config["entry_price"]["type_config"]["format"] == "%,.2f"  # BTC/USDT: cents
    assert trades.proto.placeholder == "—"
    from engine.adapters.runs import RunStore

    raw = RunStore.from_settings().frame(runs_home[1], "trades")
    first = raw["entry_time"].iloc[0].tz_convert("Europe/Athens").tz_localize(None)
    assert shown["entry_time"].iloc[0] == first.floor("min")


def test_backtest_counters_and_metrics_have_labels_in_order(runs_home) -> None:
    at = page("backtest")
    metrics = next(d for d in at.dataframe if "this run" in d.value.columns).value
    assert list(metrics.index[:3]) == ["Trades", "Win rate", "Expectancy R (net)"]
    assert not [label for label in metrics.index if "_" in label]
    assert metrics.loc["Win rate", "this run"].endswith("%")
    counters = next(d for d in at.dataframe if "count" in d.value.columns).value
    assert "Skipped: already in a trade" in counters.index
    assert "Entry opened beyond the stop" in counters.index
    assert not [label for label in counters.index if "_" in label]


def test_runs_page_lists_short_ids_and_labelled_columns(runs_home) -> None:
    from engine.adapters.runs import short_id

    home, run_id = runs_home
    at = page("runs")
    runs = at.dataframe[0]
    assert at.code[0].value == run_id
    assert any(f"Short id **{short_id(run_id)}**" in c.value for c in at.caption)
    names = headers(runs)
    assert names["win_rate"] == "Win rate" and names["name"] == "Run"
    assert runs.value["win_rate"].iloc[0] == pytest.approx(
        json.loads((home / "runs" / run_id / "summary.json").read_text())["metrics"]["win_rate"]
        * 100)


def test_journal_breakdowns_show_words(runs_home) -> None:
    at = page("journal")
    by_direction = next(d for d in at.dataframe if "direction" in d.value.columns).value
    assert set(by_direction["direction"]) <= {"long", "short"}
    by_reason = next(d for d in at.dataframe if "exit_reason" in d.value.columns).value
    assert "end" not in set(by_reason["exit_reason"])  # "end of data"


def test_setups_signals_table_shows_sides(app_home) -> None:
    at = page("setups")
    at.segmented_control(key="setups_view").set_value("Chart").run()
    signals = table_with(at, "known_at")
    assert set(signals.value["direction"]) <= {"long", "short"}
    assert headers(signals)["known_at"] == "Known at (UTC)"
    assert isinstance(signals.value["known_at"].iloc[0], pd.Timestamp)
