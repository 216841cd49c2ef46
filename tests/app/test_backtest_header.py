"""The Backtest page's header names the range that ran in the trader's zone, like every
other time on the page."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from app.backtest_form import run_header

SUMMARY = {"setup_id": "sma-cross", "setup_version": 2, "symbol": "BTC/USDT", "timeframe": "5m",
           "data_start": "2023-03-01T00:00:00+00:00", "data_end": "2023-03-07T23:55:00+00:00"}


def test_the_header_is_in_utc_by_default() -> None:
    assert run_header(SUMMARY) == ("sma-cross @ v2 — BTC/USDT 5m, "
                                   "2023-03-01 00:00 → 2023-03-07 23:55 UTC")


def test_the_header_is_in_the_display_zone_and_names_it() -> None:
    assert run_header(SUMMARY, ZoneInfo("Europe/Berlin")) == (
        "sma-cross @ v2 — BTC/USDT 5m, 2023-03-01 01:00 → 2023-03-08 00:55 Europe/Berlin")
