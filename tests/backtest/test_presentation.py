"""How numbers, times and names are shown (engine.backtest.presentation): one format for the
app, the HTML report and the CLI."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from engine.backtest import presentation as view
from engine.backtest.metrics import compute_metrics
from engine.backtest.simulate import COUNTERS, simulate
from engine.errors import ConfigurationError
from engine.signals import empty_signals

# keys other slices add (R gross/net, the minimum-stop filter): labelled before they land
COMING_METRICS = ("avg_r_gross", "avg_r_net", "expectancy_r_gross", "expectancy_r_net")
COMING_COUNTERS = ("filtered_stop_too_tight",)
COMING_TRADE_COLUMNS = ("r_gross", "r_net", "entry_session")


# --- tick precision -----------------------------------------------------------------------

@pytest.mark.parametrize(("prices", "decimals"), [
    ([23456.78, 23457.1, 23460.0], 2),
    ([1.08523, 1.0852, 1.08], 5),
    ([15000.0, 15025.0], 0),
    ([0.00001234, 0.00001235], 8),
    ([1 / 3, 2 / 3], view.MAX_DECIMALS),  # no finite precision: capped
    ([np.nan, 101.5, np.inf], 1),
    ([], 2),
])
def test_price_decimals_are_read_from_the_prices(prices, decimals) -> None:
    assert view.price_decimals(prices) == decimals


def test_price_decimals_of_the_demo_candles(demo_candles) -> None:
    assert view.price_decimals(demo_candles["close"]) == 2  # Binance.US BTC/USDT: cents


def test_price_decimals_sample_a_long_series_quickly() -> None:
    closes = np.round(np.random.default_rng(0).uniform(1.0, 2.0, 5_000_000), 5)
    assert view.price_decimals(closes) == 5


# --- formats ------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", [None, float("nan"), np.nan, pd.NaT, pd.NA])
@pytest.mark.parametrize("kind", ["count", "number", "ratio", "pct", "r", "money", "price",
                                  "time", "duration", "side", "choice", "text"])
def test_a_missing_value_is_a_dash(missing, kind) -> None:
    assert view.format_value(missing, kind) == "—"


@pytest.mark.parametrize(("value", "kind", "shown"), [
    (0.48213, "ratio", "48.2%"), (48.213, "pct", "48.2%"), (-3.0, "pct", "-3.0%"),
    (1.2549, "r", "+1.25 R"), (-0.5, "r", "-0.50 R"), (-1234.5, "money", "-1,234.50"),
    (12345, "count", "12,345"), (12345, "number", "12,345"), (1.23456, "number", "1.23"),
    (1, "side", "long"), (-1, "side", "short"), (np.int8(-1), "side", "short"),
    (float("inf"), "number", "—"), ("P1DT4H5M", "duration", "1 d 04:05"),
])
def test_one_format_for_each_kind(value, kind, shown) -> None:
    assert view.format_value(value, kind) == shown


def test_prices_use_the_instruments_decimals() -> None:
    assert view.format_value(23456.7, "price", decimals=2) == "23,456.70"
    assert view.format_value(1.0852, "price", decimals=5) == "1.08520"


def test_times_are_in_the_display_zone_without_an_offset() -> None:
    stamp = pd.Timestamp("2023-03-01 14:05:30", tz="UTC")
    assert view.format_time(stamp) == "2023-03-01 14:05"
    assert view.format_time(stamp, "Europe/Athens") == "2023-03-01 16:05"
    assert view.format_time("2023-07-01 00:00:00+00:00", "America/New_York") == "2023-06-30 20:00"
    assert "+00:00" not in view.format_value(stamp, "time")


@pytest.mark.parametrize(("tz", "name"), [(None, "UTC"), ("utc", "UTC"),
                                          ("Europe/Athens", "Europe/Athens"),
                                          ("+02:00", "UTC+02:00"), ("UTC-5", "UTC-05:00"),
                                          (zoneinfo.ZoneInfo("Asia/Tokyo"), "Asia/Tokyo")])
def test_time_headers_name_the_zone(tz, name) -> None:
    assert view.zone_name(tz) == name
    entry = next(c for c in view.TRADE_COLUMNS if c.name == "entry_time")
    assert view.header(entry, tz) == f"Entry ({name})"


def test_choices_are_words() -> None:
    assert view.format_value("end", "choice", name="exit_reason") == "end of data"
    assert view.format_value("new_york", "choice", name="session") == "New York"
    assert view.format_value("", "choice", name="ambiguous") == "—"


def test_display_values_keep_numbers_and_show_words_and_local_times() -> None:
    trades = pd.DataFrame({
        "direction": np.array([1, -1], dtype=np.int8),
        "entry_time": pd.to_datetime(["2023-03-01 10:00:20", "2023-03-02 23:30:00"], utc=True),
        "r_multiple": [1.5, np.nan], "reasons": ["[]", "[]"], "mystery_column": [1, 2]})
    columns = view.shown_columns(trades, view.TRADE_COLUMNS)
    assert [c.name for c in columns] == ["direction", "entry_time", "r_multiple",
                                         "mystery_column"]  # reasons are for charts only
    shown = view.display_values(trades, columns, tz="Europe/Athens")
    assert shown["direction"].tolist() == ["long", "short"]
    assert shown["entry_time"].dt.tz is None
    assert shown["entry_time"].tolist() == [pd.Timestamp("2023-03-01 12:00"),
                                            pd.Timestamp("2023-03-03 01:30")]
    assert shown["r_multiple"].dtype == float  # still sorts as a number
    text = view.text_table(trades, columns, tz="Europe/Athens")
    assert list(text.columns) == ["Side", "Entry (Europe/Athens)", "R", "Mystery column"]
    assert text.iloc[1].tolist() == ["short", "2023-03-03 01:30", "—", "2"]


# --- labels and order ---------------------------------------------------------------------

def _every_metric_key(demo_candles) -> set[str]:
    candles = demo_candles.iloc[:500]
    result = simulate(candles, empty_signals())
    metrics = compute_metrics(result.trades, result.equity, timeframe="1m", candles=candles,
                              initial_equity=10_000.0)
    return set(metrics), set(result.counters), set(result.trades.columns)


def test_every_metric_counter_and_trade_column_has_a_label(demo_candles) -> None:
    """Fails when the engine writes a metric, counter or trade column nobody labelled."""
    metrics, counters, columns = _every_metric_key(demo_candles)
    assert counters == set(COUNTERS) | {"known_after_data"}
    assert metrics - set(view.METRICS) == set()
    assert counters - set(view.COUNTER_LABELS) == set()
    trade_columns = {c.name for c in view.TRADE_COLUMNS}
    assert columns - trade_columns == {"reasons"}
    assert set(COMING_METRICS) <= set(view.METRICS)
    assert set(COMING_COUNTERS) <= set(view.COUNTER_LABELS)
    assert set(COMING_TRADE_COLUMNS) <= trade_columns
    for name in metrics | counters:
        assert "_" not in view.label(name), name


def test_labels_are_the_traders_words() -> None:
    assert view.label("skipped_in_position") == "Skipped: already in a trade"
    assert view.label("gapped_past_stop") == "Entry opened beyond the stop"
    assert view.label("win_rate") == "Win rate"
    assert view.label("brand_new_key") == "Brand new key"


def test_metrics_come_in_a_fixed_meaningful_order(demo_candles) -> None:
    metrics, _, _ = _every_metric_key(demo_candles)
    shuffled = dict.fromkeys(sorted(metrics, reverse=True), 1.0) | {"zzz_new": 2.0}
    labels = [label for _, label, _ in view.metric_rows(shuffled)]
    assert labels[:10] == ["Trades", "Win rate", "Expectancy R (net)", "Expectancy R (gross)",
                           "Avg R (net)", "Avg R (gross)", "Costs per trade (R)",
                           "Profit factor", "Net profit", "Return"]
    assert "Expectancy R" not in labels  # the old name of the net expectancy, shown only alone
    assert [label for _, label, _ in view.metric_rows({"expectancy_r": 0.1})] == [
        "Expectancy R"]
    assert labels.index("Sharpe") < labels.index("Sortino") < labels.index("Wins")
    assert labels[-1] == "Zzz new"  # a key without a label still shows, last
    counts = view.counter_rows({"gapped_past_stop": 1, "skipped_in_position": 2})
    assert [name for name, _ in counts] == ["skipped_in_position", "gapped_past_stop"]


# --- the report's file name ----------------------------------------------------------------

def test_report_file_name_is_the_run_and_safe() -> None:
    summary = {"setup_id": "sma-cross", "setup_version": 3, "symbol": "BTC/USDT",
               "data_start": "2023-03-01 00:00:00+00:00", "data_end": "2023-03-21 23:59:00+00:00"}
    assert view.report_file_name(summary) == (
        "ita-report-sma-cross@v3-BTC-USDT-2023-03-01-2023-03-21.html")
    odd = view.report_file_name({**summary, "symbol": "../EUR USD\\x:y"})
    assert "/" not in odd and "\\" not in odd and ".." not in odd and " " not in odd
    assert odd.startswith("ita-report-sma-cross@v3-") and odd.endswith(".html")


# --- the display time zone setting ---------------------------------------------------------

def test_display_tz_setting_defaults_to_utc_and_is_validated(monkeypatch) -> None:
    from engine.settings import Settings

    monkeypatch.delenv("ITA_DISPLAY_TZ", raising=False)
    assert Settings().display_zone == dt.UTC
    monkeypatch.setenv("ITA_DISPLAY_TZ", "europe/athens")
    assert Settings().display_zone == zoneinfo.ZoneInfo("Europe/Athens")
    monkeypatch.setenv("ITA_DISPLAY_TZ", "Europe/Athen")
    with pytest.raises(ConfigurationError, match="ITA_DISPLAY_TZ 'Europe/Athen' is not a time "
                                                 "zone — did you mean 'Europe/Athens'"):
        Settings()
