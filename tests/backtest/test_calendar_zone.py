"""Calendar breakdowns (week, month, weekday, hour) are computed in the trader's display zone,
the one every table shows, and say which zone they use."""

from __future__ import annotations

import pandas as pd

from engine.backtest import presentation as view
from engine.backtest.metrics import breakdown
from engine.backtest.report import calendar_figure, monthly_heatmap

BERLIN = "Europe/Berlin"


def trades() -> pd.DataFrame:
    """Two trades whose calendar differs between UTC and Berlin: Sunday 23:30 UTC is Monday
    00:30 in Berlin, and 31 March 23:30 UTC is 1 April 01:30 (summer time)."""
    entry = pd.to_datetime(["2024-03-10 23:30", "2024-03-31 23:30"], utc=True)
    return pd.DataFrame({
        "entry_time": entry, "exit_time": entry + pd.Timedelta("10min"),
        "r_multiple": [2.0, -1.0], "pnl": [20.0, -10.0], "direction": [1, -1],
        "exit_reason": ["target", "stop"],
        "weekday": ["Sunday", "Sunday"], "hour": [23, 23]})  # stored in UTC by the simulator


def test_weekday_hour_month_and_week_follow_the_display_zone() -> None:
    t = trades()
    assert breakdown(t, "weekday", tz=BERLIN).index.tolist() == ["Monday"]
    assert breakdown(t, "hour", tz=BERLIN)["total_r"].to_dict() == {0: 2.0, 1: -1.0}
    assert breakdown(t, "month", tz=BERLIN).index.tolist() == ["2024-03", "2024-04"]
    assert breakdown(t, "week", tz=BERLIN).index.tolist() == ["2024-W11", "2024-W14"]
    assert breakdown(t, "weekday").index.tolist() == ["Sunday"]  # no zone: UTC, as before
    assert breakdown(t, "month").index.tolist() == ["2024-03"]


def test_a_breakdown_and_a_trade_table_name_their_zone() -> None:
    assert view.header(view.breakdown_column("weekday", BERLIN)) == "Weekday (Europe/Berlin)"
    assert view.header(view.breakdown_column("hour", BERLIN)) == "Hour (Europe/Berlin)"
    assert view.header(view.breakdown_column("session", BERLIN)) == "Session"
    t = trades()
    columns = view.shown_columns(t, view.TRADE_COLUMNS)
    shown = view.display_values(t, columns, tz=BERLIN)
    assert shown["weekday"].tolist() == ["Monday", "Monday"]
    assert shown["hour"].tolist() == [0, 1]
    text = view.text_table(t, columns, tz=BERLIN)
    assert text["Weekday (Europe/Berlin)"].tolist() == ["Monday", "Monday"]
    assert text["Hour (Europe/Berlin)"].tolist() == ["0", "1"]


def test_calendar_figures_are_in_the_display_zone_and_say_so() -> None:
    t = trades()
    by_day = calendar_figure(t, "weekday", tz=BERLIN)
    bars = dict(zip(by_day.data[0].x, by_day.data[0].y, strict=True))
    assert bars["Monday"] == 1.0 and bars["Sunday"] == 0.0
    assert "Europe/Berlin" in by_day.layout.xaxis.title.text
    by_hour = calendar_figure(t, "hour", tz=BERLIN)
    assert dict(zip(by_hour.data[0].x, by_hour.data[0].y, strict=True))["23"] == 0.0
    heat = monthly_heatmap(t, tz=BERLIN)
    assert heat.data[0].z[0][2] == 2.0 and heat.data[0].z[0][3] == -1.0  # March, April
    assert "Europe/Berlin" in heat.layout.title.text
