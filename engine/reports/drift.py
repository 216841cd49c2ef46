"""The period report across setups: per setup version, backtest and live side by side.

For each setup version (the active version of every setup, plus any version with live signals
in the period; ``setup=`` keeps one setup):

- **backtest**: the version's latest run (`period.latest_run`), whole: what the backtest
  promised; and the same run's trades entered in the period, when its data reaches it;
- **live**: the journal's numbers in the period (`engine.reports.live`);
- **drift** = live expectancy − backtest expectancy (net R per trade).

**Noise.** Live results are few and noisy, so a bad week is not yet a broken setup. The report
draws `RESAMPLES` bootstrap resamples of the live trades' R (seeded: the same journal gives
the same interval) and takes the central 90% of their means. Live is called *worse than the
backtest by more than noise* only when the backtest's expectancy lies above that whole interval
(and *better* when below it), and only from `MIN_LIVE_TRADES` live outcomes on; otherwise the
sentence says it is within noise, or too few to judge.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine._io import write_text_atomic
from engine.adapters.runs import RunStore, short_id
from engine.backtest import presentation as view
from engine.reports import images, live
from engine.reports.period import headline, latest_run, period_metrics

LEVEL = 0.90
RESAMPLES = 2000
MIN_LIVE_TRADES = 5


def bootstrap_interval(r, *, level: float = LEVEL, resamples: int = RESAMPLES,
                       seed: int = 0) -> tuple[float, float] | None:
    """The central `level` interval of the mean of `r` over seeded bootstrap resamples."""
    values = np.asarray(r, dtype=float)
    if len(values) < 2:
        return None
    means = np.random.default_rng(seed).choice(values, (resamples, len(values))).mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def judge(backtest_r: float | None, r) -> tuple[float | None, tuple[float, float] | None, str]:
    """(drift, live interval, a plain sentence) of live R `r` against the backtest's
    expectancy `backtest_r`."""
    r = np.asarray(r, dtype=float)
    if backtest_r is None:
        return None, None, "No backtest run of this version: nothing to compare live with."
    if not len(r):
        return None, None, "No live trades with a known outcome in this period."
    mean = float(r.mean())
    drift = mean - backtest_r
    interval = bootstrap_interval(r)
    said = (f"live {mean:+.2f} R against the backtest's {backtest_r:+.2f} R per trade over "
            f"{len(r)} live trade{'s' if len(r) != 1 else ''}")
    if len(r) < MIN_LIVE_TRADES or interval is None:
        return drift, interval, f"Too few live trades to judge: {said}."
    low, high = interval
    band = f"90% interval of live expectancy {low:+.2f} to {high:+.2f} R"
    if backtest_r > high:
        return drift, interval, (f"Live is worse than the backtest by {-drift:.2f} R per "
                                 f"trade, more than noise: {said}; the backtest lies above "
                                 f"the {band}.")
    if backtest_r < low:
        return drift, interval, (f"Live is better than the backtest by {drift:.2f} R per "
                                 f"trade, more than noise: {said}; {band}.")
    return drift, interval, f"Live is within noise of the backtest: {said}; {band}."


@dataclass(eq=False)
class VersionLine:
    """One setup version in the period report."""

    setup_id: str
    version: int
    run_id: str | None
    backtest: dict | None
    backtest_period: dict | None
    live: dict
    live_r: pd.Series = field(repr=False)  # taken trades' R by signal time
    drift: float | None
    interval: tuple[float, float] | None
    verdict: str


@dataclass(eq=False)
class PeriodReport:
    start: pd.Timestamp
    end: pd.Timestamp
    lines: list[VersionLine]
    tz: object = None

    def table(self) -> pd.DataFrame:
        """One row per setup version (the CSV's columns)."""
        rows = []
        for line in self.lines:
            bt, period = line.backtest or {}, line.backtest_period or {}
            low, high = line.interval or (None, None)
            rows.append({
                "setup_id": line.setup_id, "setup_version": line.version,
                "run_id": line.run_id,
                **{f"backtest_{k}": bt.get(k) for k in ("trades", "win_rate", "avg_r_net",
                                                        "expectancy_r_gross",
                                                        "expectancy_r_net", "profit_factor",
                                                        "max_drawdown_pct")},
                "backtest_period_trades": period.get("trades"),
                "backtest_period_expectancy_r_net": period.get("expectancy_r_net"),
                **{f"live_{k}": line.live[k] for k in live.LIVE_NUMBERS},
                "drift_r": line.drift, "live_interval_low": low, "live_interval_high": high,
                "verdict": line.verdict})
        return pd.DataFrame(rows)

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, self.table().to_csv(index=False))
        return path

    def write_html(self, path: str | Path) -> Path:
        path = Path(path)
        write_text_atomic(path, render_html(self))
        return path


def _versions(settings, frame: pd.DataFrame, setup: str | None) -> list[tuple[str, int]]:
    from engine.setups.store import SetupStore

    store = SetupStore.from_settings(settings)
    keys = {(setup_id, store.active(setup_id)) for setup_id in store.ids()}
    keys = {(s, int(v)) for s, v in keys if v is not None} | set(live.by_version(frame))
    return sorted(k for k in keys if setup is None or k[0] == setup)


def period_report(settings, *, start, end, setup: str | None = None, tz=None) -> PeriodReport:
    """Backtest against live for every setup version over ``[start, end)`` (see the module
    docstring); times shown in `tz` (default: the display zone)."""
    start, end = (pd.Timestamp(t) for t in (start, end))
    start, end = (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
                  for t in (start, end))
    runs = RunStore.from_settings(settings)
    signals = live.in_period(live.journal_frame(settings.home), start, end)
    groups = live.by_version(signals)
    lines = []
    for setup_id, version in _versions(settings, signals, setup):
        mine = groups.get((setup_id, version), signals.iloc[0:0])
        lines.append(_line(runs, setup_id, version, mine, start, end))
    return PeriodReport(start, end, lines, tz if tz is not None else settings.display_zone)


def _line(runs: RunStore, setup_id: str, version: int, signals: pd.DataFrame, start, end
          ) -> VersionLine:
    run_id = latest_run(runs, setup_id, version)
    backtest = period = None
    if run_id is not None:
        summary = runs.summary(run_id)
        backtest = headline(summary["metrics"])
        if pd.Timestamp(summary["data_end"]) >= start and pd.Timestamp(
                summary["data_start"]) < end:
            period = period_metrics(runs.frame(run_id, "trades"), runs.frame(run_id, "equity"),
                                    timeframe=summary["timeframe"], start=start, end=end)[0]
    r = live.taken_r(signals)
    drift, interval, verdict = judge(backtest and backtest["expectancy_r_net"], r)
    return VersionLine(setup_id, version, run_id, backtest, period, live.live_numbers(signals),
                       r, drift, interval, verdict)


# --- HTML -----------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222;
padding:0 16px}table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}th{background:#f6f6f6}
td:first-child{text-align:left}p.worse{color:#b91c1c;font-weight:600}p.note{color:#555}
img{max-width:100%;margin:4px 8px 4px 0}"""

ROWS = (("Trades", "trades", "count"), ("Win rate", "win_rate", "ratio"),
        ("Expectancy (net)", "expectancy", "r"), ("Expectancy (gross)", "expectancy_gross", "r"),
        ("Profit factor", "profit_factor", "number"), ("Max drawdown", "max_drawdown_pct", "pct"))


def _side_by_side(line: VersionLine) -> str:
    bt, period, lv = line.backtest or {}, line.backtest_period or {}, line.live
    values = {
        "trades": (bt.get("trades"), period.get("trades"), lv["outcomes"]),
        "win_rate": (bt.get("win_rate"), period.get("win_rate"), lv["win_rate"]),
        "expectancy": (bt.get("expectancy_r_net"), period.get("expectancy_r_net"),
                       lv["expectancy_r"]),
        "expectancy_gross": (bt.get("expectancy_r_gross"), period.get("expectancy_r_gross"),
                             None),
        "profit_factor": (bt.get("profit_factor"), period.get("profit_factor"), None),
        "max_drawdown_pct": (bt.get("max_drawdown_pct"), period.get("max_drawdown_pct"), None),
    }
    body = "".join(
        f"<tr><td>{text}</td>" + "".join(f"<td>{html.escape(view.format_value(v, kind))}</td>"
                                         for v in values[key]) + "</tr>"
        for text, key, kind in ROWS)
    head = ("<tr><th></th><th>Backtest (whole run)</th><th>Backtest (this period)</th>"
            "<th>Live (this period)</th></tr>")
    return f"<table>{head}{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return (f"<img alt='{html.escape(alt)}' "
            f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")


def _section(line: VersionLine, tz, start: pd.Timestamp) -> str:
    lv = line.live
    if line.run_id is None and not lv["signals"]:
        return (f"<h2>{html.escape(line.setup_id)} v{line.version}</h2><p class='note'>No "
                "backtest run and no live signals in this period.</p>")
    run = (f"run {short_id(line.run_id)} ({html.escape(line.run_id)})" if line.run_id
           else "no backtest run")
    css = "worse" if line.verdict.startswith("Live is worse") else "note"
    parts = [f"<h2>{html.escape(line.setup_id)} v{line.version}</h2>",
             f"<p>{run} · live: {lv['signals']} signals, {lv['taken']} taken, "
             f"{lv['skipped']} skipped, {lv['missed']} missed, {lv['outcomes']} with an outcome "
             f"({lv['total_r']:+.2f} R)</p>", _side_by_side(line),
             f"<p class='{css}'>{html.escape(line.verdict)}</p>"]
    if len(line.live_r):
        parts.append(_img(images.r_histogram_png(line.live_r, title="Live R per trade"),
                          "live R"))
        curve = pd.concat([pd.Series([0.0], index=pd.DatetimeIndex([start])),
                           line.live_r.cumsum()])  # from 0 R at the period's start
        parts.append(_img(images.equity_png(curve, tz=tz,
                                            title="Live: cumulative R (by signal time)"),
                          "live cumulative R"))
    return "".join(parts)


def period_words(start: pd.Timestamp, end: pd.Timestamp, tz) -> tuple[str, str]:
    """The period's first and last moment as a reader says them: whole days as their dates,
    the last day included (``2023-03-01``, ``2023-03-21``); else the times, the end excluded."""
    local = [t.tz_convert(view.zone(tz)) for t in (start, end)]
    if all(t == t.normalize() for t in local):
        return f"{local[0]:%Y-%m-%d}", f"{local[1] - pd.Timedelta(days=1):%Y-%m-%d}"
    return view.format_time(start, tz), f"{view.format_time(end, tz)} (excluded)"


def render_html(report: PeriodReport) -> str:
    """The period report as one HTML page: images inline (base64), no network."""
    zone = view.zone_name(report.tz)
    first, last = period_words(report.start, report.end, report.tz)
    sections = "".join(_section(line, report.tz, report.start)
                       for line in report.lines) or "<p>No setups.</p>"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ITA period report {first} → {last}</title><style>{CSS}</style></head><body>
<h1>Period report {html.escape(first)} → {html.escape(last)} ({html.escape(zone)})</h1>
<p class='note'>Drift = live expectancy − backtest expectancy (net R per trade). Live is called
worse than the backtest only when the backtest's expectancy lies above the 90% bootstrap
interval of live expectancy ({RESAMPLES:,} seeded resamples of the live trades' R) and there
are at least {MIN_LIVE_TRADES} live trades with an outcome.</p>
{sections}</body></html>"""
