"""Reports of a run: CSV files and a self-contained HTML page (plotly.js inlined once, no
network), including the random-sample check: N random trades with their chart windows and the
exact entry and exit bars marked, so a person can confirm them by eye.

The sample trades are drawn by the app's own price chart (`engine.charts.PriceChart`, which
has no Streamlit dependency): candles with a volume pane and the trade's position box, one
drawing path for the app and the report. Calendar breakdowns (week, month, weekday, hour) and
the monthly heatmap are computed in the report's time zone, the one its tables show."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine._io import write_text_atomic
from engine.adapters.runs import RunStore, short_id
from engine.backtest import presentation as view
from engine.backtest.metrics import BREAKDOWNS, WEEKDAY_NAMES, breakdown
from engine.settings import get_settings

WINDOW = 40  # bars before entry / after exit in trade charts


def write_csv_report(run_store: RunStore, run_id: str, out_dir: Path | None = None
                     ) -> list[Path]:
    out_dir = Path(out_dir or run_store.root / run_id)
    trades = run_store.frame(run_id, "trades")
    summary = run_store.summary(run_id)
    paths = [out_dir / f"{run_id}-trades.csv", out_dir / f"{run_id}-summary.csv"]
    write_text_atomic(paths[0], trades.to_csv(index=False))
    flat = {**{k: v for k, v in summary.items() if not isinstance(v, dict)},
            **summary.get("metrics", {})}
    write_text_atomic(paths[1], pd.Series(flat).to_csv(header=["value"]))
    return paths


def equity_figure(equity: pd.DataFrame) -> go.Figure:
    step = max(1, len(equity) // 5000)
    e = equity.iloc[::step]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)
    fig.add_scatter(x=e.index, y=e["equity"], name="equity", row=1, col=1)
    fig.add_scatter(x=e.index, y=e["drawdown_pct"], name="drawdown %", fill="tozeroy",
                    line={"color": "#c0392b"}, row=2, col=1)
    fig.update_layout(height=420, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                      title="Equity and drawdown")
    return fig


def r_histogram(trades: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Histogram(x=trades["r_multiple"], nbinsx=40))
    fig.update_layout(height=300, title="R-multiple distribution", xaxis_title="R",
                      margin={"l": 40, "r": 10, "t": 40, "b": 30})
    return fig


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAYS = WEEKDAY_NAMES


def monthly_heatmap(trades: pd.DataFrame, *, tz=None) -> go.Figure:
    """Sum of R per month (columns Jan..Dec) and year (rows, latest on top), by exit time in
    zone `tz` (None: UTC); both axes are categories, each cell shows its value, an empty month
    stays blank."""
    if trades.empty:
        return go.Figure()
    local = pd.to_datetime(trades["exit_time"], utc=True).dt.tz_convert(view.zone(tz))
    t = trades.assign(year=local.dt.year, month=local.dt.month)
    table = t.pivot_table(index="year", columns="month", values="r_multiple", aggfunc="sum")
    table = table.reindex(columns=range(1, 13)).sort_index(ascending=False)
    z = table.to_numpy()
    text = [[f"{v:+.1f}R" if v == v else "" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(MONTHS), y=[str(y) for y in table.index],
                               text=text, texttemplate="%{text}", colorscale="RdYlGn", zmid=0,
                               xgap=2, ygap=2, colorbar={"title": "R"},
                               hovertemplate="%{x} %{y}: %{z:+.2f} R<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(MONTHS))
    fig.update_yaxes(type="category")
    fig.update_layout(height=160 + 40 * len(table),
                      title=f"Monthly result (sum of R, by exit, {view.zone_name(tz)})",
                      margin={"l": 50, "r": 10, "t": 40, "b": 30})
    return fig


def calendar_figure(trades: pd.DataFrame, by: str, *, tz=None) -> go.Figure:
    """Total R per entry weekday (Monday..Sunday) or entry hour (0..23) in zone `tz` (None:
    UTC), in calendar order with every slot shown, with the trade count on hover."""
    order = list(WEEKDAYS) if by == "weekday" else list(range(24))
    table = breakdown(trades, by, tz=tz).reindex(order)
    zone = view.zone_name(tz)
    labels = [str(x) for x in order]
    total = table["total_r"].fillna(0.0).to_numpy()
    fig = go.Figure(go.Bar(x=labels, y=total, customdata=table["trades"].fillna(0).to_numpy(),
                           marker={"color": ["#26a69a" if v >= 0 else "#ef5350"
                                             for v in total]},
                           hovertemplate="%{x}: %{y:+.2f} R in %{customdata:.0f} trades"
                                         "<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels,
                     title=f"entry {by} ({zone})")
    fig.update_layout(height=280, title=f"Total R by {by} ({zone})", yaxis_title="R",
                      margin={"l": 40, "r": 10, "t": 40, "b": 30})
    return fig


def mfe_mae_figure(trades: pd.DataFrame) -> go.Figure:
    """Each trade's best (MFE) and worst (MAE) excursion in R, coloured by its result: where
    winners went against you before working, and how much losers offered first."""
    fig = go.Figure()
    for name, rows, colour in (("winners", trades[trades["pnl"] > 0], "#16a34a"),
                               ("losers", trades[trades["pnl"] <= 0], "#dc2626")):
        fig.add_scatter(x=rows["mae_r"], y=rows["mfe_r"], mode="markers", name=name,
                        marker={"color": colour, "size": 6, "opacity": 0.7},
                        customdata=rows["r_multiple"],
                        hovertemplate="MAE %{x:.2f} R<br>MFE %{y:.2f} R<br>result "
                                      "%{customdata:+.2f} R<extra></extra>")
    fig.update_layout(height=320, title="MFE against MAE (R)", xaxis_title="MAE (R)",
                      yaxis_title="MFE (R)", margin={"l": 40, "r": 10, "t": 40, "b": 30})
    return fig


def trade_figure(candles: pd.DataFrame, trade: pd.Series, *, timeframe: str, tz=None,
                 window: int = WINDOW) -> go.Figure:
    """Candles (`timeframe`) around one trade, `window` bars each side, with its position box
    (entry to target green, entry to stop red, from the entry bar to the exit bar) and its
    entry and exit marked, in zone `tz` (None: UTC), as the app's chart draws it."""
    from engine.charts import PriceChart, trade_boxes

    start = candles.index.searchsorted(trade["entry_time"]) - window
    end = candles.index.searchsorted(trade["exit_time"], side="right") + window
    side = "long" if trade["direction"] > 0 else "short"
    title = (f"{view.format_time(trade['entry_time'], tz)} {side} "
             f"{view.format_value(trade['r_multiple'], 'r')} ({trade['exit_reason']})")
    chart = PriceChart(candles.iloc[max(0, start):end], timeframe, tz=view.zone(tz),
                       title=title, height=420)
    chart.add_position_boxes(trade_boxes(pd.DataFrame([trade]).infer_objects()), name="trade",
                             style="trade")
    return chart.figure


def sample_trades(trades: pd.DataFrame, n: int = 5, *, seed: int = 0) -> pd.DataFrame:
    """N randomly drawn trades (seeded: the same run gives the same sample)."""
    if trades.empty:
        return trades
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(trades), size=min(n, len(trades)), replace=False))
    return trades.iloc[rows]


def _rows_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(text)}</td></tr>"
                   for name, text in rows)
    return f"<table class='m'>{body}</table>"


def _metrics_table(metrics: dict, tz) -> str:
    """Every metric under its label, in `presentation.METRICS` order."""
    return _rows_table([(text, view.format_value(metrics[name], kind, tz=tz))
                        for name, text, kind in view.metric_rows(metrics)])


def _counters_table(summary: dict) -> str:
    counts = view.run_counts(summary)
    return _rows_table([(text, view.format_value(counts[name], "count"))
                        for name, text in view.counter_rows(counts)])


def _frame_table(table: pd.DataFrame, css: str) -> str:
    """A text table (`presentation.text_table`) as HTML, inside a box that scrolls sideways
    when the table is wider than the page."""
    return (f"<div class='scroll'>{table.to_html(index=False, escape=True, classes=css)}"
            "</div>")


def _breakdowns(trades: pd.DataFrame, tz) -> str:
    """Every breakdown as a table; the calendar ones in zone `tz`, which their headers name."""
    parts = []
    for by in BREAKDOWNS:
        table = breakdown(trades, by, tz=tz).rename_axis(by).reset_index()
        columns = [view.breakdown_column(by, tz), *view.BREAKDOWN_COLUMNS]
        parts.append(f"<h3>By {html.escape(view.words(by).lower())}</h3>"
                     + _frame_table(view.text_table(table, columns, tz=tz), "b"))
    return "".join(parts)


def _trades_table(trades: pd.DataFrame, *, decimals: int, tz) -> str:
    columns = view.shown_columns(trades, view.TRADE_COLUMNS, only=view.REPORT_TRADE_COLUMNS)
    table = view.text_table(trades.reset_index(drop=True), columns, decimals=decimals, tz=tz)
    table.insert(0, "#", [str(i + 1) for i in range(len(table))])
    return _frame_table(table, "t")


def _notes(summary: dict) -> str:
    """What a reader of the metrics must know: trades the rules did not close, and entries
    that opened beyond their stop."""
    metrics, counters = summary["metrics"], summary["counters"]
    ends = metrics.get("closed_at_data_end") or 0
    windows = metrics.get("closed_at_window_end") or 0
    notes = []
    if ends or windows:
        notes.append(f"{ends} trade(s) closed by the end of the data and {windows} by a test "
                     "window's end are left out of the wins, losses, win rate, average R, "
                     "expectancy and profit factor; their P&L is in the total profit and return.")
    gapped = counters.get("gapped_past_stop") or 0
    if gapped:
        done = ("were skipped" if summary.get("gap_entry") == "skip" else
                "were filled at the open and stopped out at once (R on the planned risk)")
        notes.append(f"{gapped} entries opened beyond their stop and {done}.")
    return "".join(f"<p class='note'>{html.escape(note)}</p>" for note in notes)


CSS = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;
padding:0 16px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}
table.m th{text-align:left;font-weight:normal}table.m td{font-variant-numeric:tabular-nums}
table.t td,table.b td{white-space:nowrap;font-variant-numeric:tabular-nums}
table.t th,table.b th{white-space:normal;vertical-align:bottom;background:#f6f6f6}
div.scroll{max-width:100%;overflow-x:auto}div.cols{display:flex;flex-wrap:wrap;gap:32px}
p.note{color:#92400e}"""


def write_html_report(run_store: RunStore, run_id: str, candles: pd.DataFrame,
                      out: Path | None = None, *, samples: int = 5, tz=None) -> Path:
    """A single HTML file with every section; opens offline. Written to `out`, or into the
    run's folder as `presentation.report_file_name` (named after the run). Times are shown in
    `tz` (default: the `display_tz` setting), prices to the symbol's decimals."""
    run_id = run_store.resolve(run_id)
    summary = run_store.summary(run_id)
    trades = run_store.frame(run_id, "trades")
    equity = run_store.frame(run_id, "equity")
    tz = view.zone(tz) if tz is not None else get_settings().display_zone
    decimals = view.price_decimals(candles["close"]) if len(candles) else 2
    parts = [equity_figure(equity).to_html(full_html=False, include_plotlyjs=True)]
    if not trades.empty:
        parts += [r_histogram(trades).to_html(full_html=False, include_plotlyjs=False),
                  mfe_mae_figure(trades).to_html(full_html=False, include_plotlyjs=False),
                  monthly_heatmap(trades, tz=tz).to_html(full_html=False,
                                                         include_plotlyjs=False)]
        parts += [calendar_figure(trades, by, tz=tz).to_html(full_html=False,
                                                             include_plotlyjs=False)
                  for by in ("weekday", "hour")]
    sample = sample_trades(trades, samples)
    charts = "".join(trade_figure(candles, row, timeframe=summary["timeframe"], tz=tz)
                     .to_html(full_html=False, include_plotlyjs=False)
                     for _, row in sample.iterrows())
    zone = html.escape(view.zone_name(tz))
    first, last = (view.format_time(summary[k], tz) for k in ("data_start", "data_end"))
    body = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ITA report {html.escape(summary['setup_id'])} v{summary['setup_version']}
{html.escape(summary['symbol'])}</title>
<style>{CSS}</style></head><body>
<h1>{html.escape(summary['setup_id'])} v{summary['setup_version']} on
{html.escape(summary['symbol'])} {html.escape(summary['timeframe'])}</h1>
<p>Run {short_id(run_id)} ({html.escape(run_id)}) · data {first} → {last} {zone}
({summary['data_bars']:,} bars, hash {summary['data_hash']}) · setup hash
{summary['setup_hash']} · ITA {summary['ita_version']}</p>
<div class='cols'><div><h2>Metrics</h2>{_notes(summary)}
{_metrics_table(summary['metrics'], tz)}</div>
<div><h2>Counters</h2>{_counters_table(summary)}</div></div>
<h2>Charts</h2>{''.join(parts)}
<h2>Breakdowns</h2>{_breakdowns(trades, tz)}
<h2>Random-sample check ({len(sample)} trades)</h2>
<p>Each chart shows the trade's position box from its entry bar to its exit bar (entry to
target green, entry to stop red), the entry marked by a triangle and the exit by a cross;
confirm them by eye.</p>{charts}
<h2>Trades ({len(trades):,})</h2>{_trades_table(trades, decimals=decimals, tz=tz)}
</body></html>"""
    out = Path(out or run_store.root / run_id / view.report_file_name(summary))
    write_text_atomic(out, body)
    return out
