"""The Setups and Backtest charts jump to a selected signal or trade (the chart is the
`plotly_view` component: AppTest sees its arguments, the figure and the focused plan)."""

from __future__ import annotations

import json

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine.charts import FOCUS_PAD, RIGHT_OFFSET
from tests.app._pages import page


def chart_args(at: AppTest, key: str) -> dict:
    """The arguments of the chart component drawn in the container `key`."""
    charts = [c for c in at.get("component_instance") if f"{key}_view" in c.proto.id]
    assert len(charts) == 1, [c.proto.id for c in at.get("component_instance")]
    assert charts[0].proto.component_name == "app.plotly_view.plotly_view"
    return json.loads(charts[0].proto.json_args)


def figure(at: AppTest, key: str) -> dict:
    return chart_args(at, key)["figure"]


def x_range(spec: dict) -> list[pd.Timestamp]:
    return [pd.Timestamp(x) for x in spec["layout"]["xaxis"]["range"]]


def test_selecting_a_trade_row_zooms_the_run_chart_to_its_bars(run_home, monkeypatch) -> None:
    home, run_id = run_home
    monkeypatch.setenv("ITA_HOME", str(home))
    from engine.adapters.runs import RunStore

    trades = RunStore(home / "runs").frame(run_id, "trades")
    at = page("backtest")
    last = pd.Timestamp(RunStore(home / "runs").summary(run_id)["data_end"]).tz_convert(None)
    spec = figure(at, "backtest_run_chart")  # the whole run, no gap after its end
    assert "shown as 3m" in spec["layout"]["title"]["text"]  # 7 days of 1m bars
    assert x_range(spec)[1] == last - pd.Timedelta("2min") + RIGHT_OFFSET * pd.Timedelta("3min")
    assert chart_args(at, "backtest_run_chart")["plan"] is None

    at.session_state["backtest_trades_rows"] = {"selection": {"rows": [2], "columns": [],
                                                              "cells": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    bar = pd.Timedelta("1min")  # sma-cross trades 1m bars
    trade = trades.iloc[2]
    expected = [(trade["entry_time"] - FOCUS_PAD * bar).tz_localize(None),
                (trade["exit_time"] + FOCUS_PAD * bar).tz_localize(None)]
    assert x_range(figure(at, "backtest_run_chart")) == expected
    plan = chart_args(at, "backtest_run_chart")["plan"]  # kept in the y axis while visible
    assert plan["prices"] == [trade["entry_price"], trade["stop_price"], trade["target_price"]]
    assert pd.Timestamp(plan["x0"]) == trade["entry_time"].tz_localize(None)

    at.button(key="backtest_trades_next").click().run()  # Next: the fourth trade
    trade = trades.iloc[3]
    assert x_range(figure(at, "backtest_run_chart"))[0] == (
        trade["entry_time"] - FOCUS_PAD * bar).tz_localize(None)


def test_the_setups_chart_is_built_only_when_shown_and_jumps_to_a_signal(app_home) -> None:
    at = page("setups")
    assert not at.get("component_instance")  # the YAML view does not pay for the chart
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    at.segmented_control(key="setups_view").set_value("Chart").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "shown as 15m" in figure(at, "setups_chart")["layout"]["title"]["text"]
    signals = at.dataframe[-1].value
    at.button(key="setups_signals_next").click().run()  # the first signal
    start = pd.Timestamp(signals["known_at"].iloc[0])  # the table shows local (UTC) times
    assert x_range(figure(at, "setups_chart"))[0] == start - FOCUS_PAD * pd.Timedelta("1min")
