"""Pieces the Runs and Journal pages share: run names, the key metrics, the equity overlay on
a date axis, the P&L calendar's colours (no business logic: the numbers come from the engine)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app.ui import METRIC_LABELS, metrics_table, table
from engine.backtest import presentation as view

KEY_METRICS = ("trades", "win_rate", "expectancy_r_net", "profit_factor", "total_return_pct",
               "max_drawdown_pct")
MAX_POINTS = 3000


def run_names(runs: pd.DataFrame) -> dict[str, str]:
    """Run id -> readable name (`engine.adapters.runs.run_label`), unique: two runs made in
    the same minute with the same name get the end of their id added."""
    names = dict(zip(runs["run_id"], runs["name"], strict=True))
    counts = pd.Series(list(names.values())).value_counts()
    return {run_id: name if counts[name] == 1 else f"{name} · {run_id[:18]}"
            for run_id, name in names.items()}


# the runs table: the name (setup@version · symbol timeframe · data range · when it ran) and the
# key metrics, in pixel widths that fit a 1280-px window beside the sidebar without scrolling
# sideways; the ids, profit factor and note are in the run's details below the table
OVERVIEW_WIDTHS = {"name": 430, "trades": 60, "win_rate": 72, "expectancy_r": 92,
                   "total_return_pct": 84, "max_drawdown_pct": 62}
OVERVIEW = tuple(OVERVIEW_WIDTHS)
SHORT_HEADERS = {"expectancy_r": "Exp. R (net)", "total_return_pct": "Net return",
                 "max_drawdown_pct": "Max DD"}


def overview(runs: pd.DataFrame) -> dict:
    """`st.dataframe` arguments for the runs table: the readable name first (pinned), then
    the key metrics, each column sized to fit without scrolling sideways."""
    shown = table(runs, view.RUN_COLUMNS, only=OVERVIEW)
    for name, config in shown["column_config"].items():
        config["width"] = OVERVIEW_WIDTHS[name]
        if name in SHORT_HEADERS:
            config["help"] = config.get("label")
            config["label"] = SHORT_HEADERS[name]
    shown["column_config"]["name"]["pinned"] = True
    return shown


def key_metrics(metrics_by_column: dict[str, dict]) -> pd.DataFrame:
    """`metrics_table` cut to the few numbers a trader reads first."""
    table = metrics_table(metrics_by_column)
    return table.reindex([METRIC_LABELS[name][0] for name in KEY_METRICS]).fillna("—")


def equity_overlay(curves: dict[str, pd.Series], *, normalised: bool,
                   height: int = 420) -> go.Figure:
    """Equity curves on one date axis; normalised, each starts at 100 so that runs of
    different sizes compare by their shape. At most `MAX_POINTS` points per curve (the last
    point is always kept)."""
    fig = go.Figure()
    for name, curve in curves.items():
        if curve.empty:
            continue
        step = max(1, len(curve) // MAX_POINTS)
        shown = pd.concat([curve.iloc[::step], curve.iloc[-1:]])
        shown = shown[~shown.index.duplicated(keep="last")]
        if normalised:
            shown = shown / curve.iloc[0] * 100.0
        fig.add_trace(go.Scatter(x=shown.index, y=shown.to_numpy(), mode="lines", name=name))
    fig.update_layout(height=height, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                      legend={"orientation": "h", "y": -0.15},
                      yaxis_title="equity (start = 100)" if normalised else "equity",
                      xaxis={"type": "date"})
    fig.update_yaxes(autorange=True, rangemode="normal")  # the differences, not the zero line
    return fig


def calendar_colours(cell: str) -> str:
    """Green for a day that made money, red for one that lost it, in the calendar grid
    (``"14  +1.20 R  +120.00"``: the colour follows the money, as the green/red day count)."""
    parts = cell.split()
    if len(parts) < 4:
        return ""
    return ("background-color: rgba(39,174,96,0.25)" if not parts[3].startswith("-")
            else "background-color: rgba(192,57,43,0.25)")
