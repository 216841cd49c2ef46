"""The backtest report as a Notion page: a run, or a setup version over a period.

`publish_backtest_report(home, settings, report)` writes one `engine.reports.period.TradeReport`
through `reports.publish_report` (one live page per report key: publishing again replaces the
page). The CLI (`ita notion report`), the app's Runs page and the ``notion_report`` job call it.

The page, top to bottom:

1. what it covers (setup version, symbol, timeframe, span, runs, the zone times are shown in);
2. the **headline numbers**: one row per metric with its gross and its net value side by side
   and what it is computed from (`HEADLINE_ROWS`: win rate and profit factor count net P&L of
   the trades the rules closed; the R numbers say gross or net in their column);
3. the equity curve and the R histogram, uploaded with the file upload API;
4. the breakdowns by session, weekday and month (`TradeReport.breakdowns`);
5. the **random-sample check**: N trades drawn with the seed shown (the same seed draws the
   same trades), each with its entry and exit times (to the second, in the zone) and prices as
   the run recorded them — never rounded — and a chart of the trade on its candles.

The page's key (`key_of`) is ``run:<run id>`` for a run and
``setup:<id>@v<n>:<first day>..<end day>`` for a version over a period.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine.adapters.notion import blocks
from engine.adapters.notion.config import NotionSettings, require_enabled
from engine.adapters.notion.reports import publish_report
from engine.backtest import presentation as view
from engine.errors import TemporaryError

if TYPE_CHECKING:
    from engine.adapters.notion.gateway import NotionGateway

# (label, gross metric, net metric, kind, what it is computed from)
HEADLINE_ROWS: tuple[tuple[str, str | None, str | None, str, str], ...] = (
    ("Trades", None, "trades", "count", "every trade, closed by the rules or not"),
    ("Win rate", None, "win_rate", "ratio", "trades closed by the rules; a win has net P&L > 0"),
    ("Average planned R:R", None, "avg_planned_rr", "number", "every trade's plan (target/stop)"),
    ("Average R", "avg_r_gross", "avg_r_net", "r",
     "plain mean per trade; gross before fees and slippage, net after"),
    ("Expectancy R", "expectancy_r_gross", "expectancy_r_net", "r",
     "summed P&L over summed risk (money-weighted); gross before costs, net after"),
    ("Profit factor", None, "profit_factor", "number", "net P&L: won money over lost money"),
    ("Max drawdown", None, "max_drawdown", "number", "the net equity curve, peak to trough"),
    ("Max drawdown %", None, "max_drawdown_pct", "pct", "the net equity curve, peak to trough"),
    ("Closed at data end", None, "closed_at_data_end", "count",
     "trades the backtest closed at the data's end (not counted in the results)"),
)
SAMPLE_HEADER = ("#", "direction", "entry time", "entry price", "exit time", "exit price",
                 "exit reason", "R net", "R gross")

def key_of(report) -> str:
    """The stable key of a `TradeReport`: a whole run's (`run_report` titles end with
    ``run <short id>``), else the setup version's over the report's span."""
    from engine.adapters.runs import short_id

    if len(report.run_ids) == 1 and report.title.endswith(f"run {short_id(report.run_ids[0])}"):
        return f"run:{report.run_ids[0]}"
    return (f"setup:{report.setup_id}@v{report.setup_version}:"
            f"{_utc(report.start):%Y-%m-%d}..{_utc(report.end):%Y-%m-%d}")


def _utc(moment) -> pd.Timestamp:
    moment = pd.Timestamp(moment)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


# --- cells ---------------------------------------------------------------------------------
def exact_time(value, tz=None) -> str:
    """A time to the second in zone `tz` (the page's header names the zone)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return f"{_utc(value).tz_convert(view.zone(tz)):%Y-%m-%d %H:%M:%S}"


def exact_price(value, decimals: int) -> str:
    """The price as filled: to the instrument's decimals when that is the same number (up to
    the float's own noise, 1e-12 relative), else with every digit that matters."""
    if value is None or value != value:
        return ""
    value = float(value)
    shown = f"{value:.{decimals}f}"
    if abs(float(shown) - value) <= 1e-12 * max(abs(value), 1.0):
        return shown
    return repr(round(value, 12))


def headline_rows(metrics: dict) -> list[list[str]]:
    """Metric | gross | net | computed from."""
    rows = []
    for label, gross, net, kind, source in HEADLINE_ROWS:
        if net not in metrics and gross not in metrics:
            continue
        rows.append([label, view.format_value(metrics.get(gross), kind) if gross else "",
                     view.format_value(metrics.get(net), kind) if net else "", source])
    return rows


def sample_table_rows(report) -> list[list[str]]:
    """The random-sample check's rows: the run's trade rows, times and prices exact."""
    sample = report.sample
    if sample.empty:
        return []
    prices = pd.concat([report.trades["entry_price"], report.trades["exit_price"]])
    decimals = view.price_decimals(prices)
    rows = []
    for number, (_, trade) in enumerate(sample.iterrows(), start=1):
        rows.append([str(number), "long" if trade["direction"] > 0 else "short",
                     exact_time(trade["entry_time"], report.tz),
                     exact_price(trade["entry_price"], decimals),
                     exact_time(trade["exit_time"], report.tz),
                     exact_price(trade["exit_price"], decimals), str(trade.get("exit_reason", "")),
                     view.format_value(trade.get("r_net", trade.get("r_multiple")), "r"),
                     view.format_value(trade.get("r_gross"), "r")])
    return rows


def _breakdown_rows(table: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    columns = [c for c in ("trades", "win_rate", "total_r", "avg_r", "avg_r_gross", "pnl",
                           "profit_factor") if c in table]
    kinds = {"trades": "count", "win_rate": "ratio", "total_r": "r", "avg_r": "r",
             "avg_r_gross": "r", "pnl": "number", "profit_factor": "number"}
    header = ["", *[{"avg_r": "avg R net", "avg_r_gross": "avg R gross", "total_r": "total R net",
                     "win_rate": "win rate", "profit_factor": "profit factor"}.get(c, c)
                    for c in columns]]
    rows = [[str(index), *[view.format_value(row[c], kinds[c]) for c in columns]]
            for index, row in table.iterrows()]
    return header, rows


# --- the page ------------------------------------------------------------------------------
def report_blocks(report, notion: NotionGateway, folder: Path) -> list[dict[str, Any]]:
    """The page's blocks; images are written to `folder` and uploaded."""
    tz = report.tz
    zone = view.zone_name(tz)

    def picture(name: str, png: bytes, caption: str) -> dict[str, Any]:
        path = folder / name
        path.write_bytes(png)
        return blocks.image(notion.upload_image(path), caption)

    out = [*blocks.paragraphs(
        f"{report.setup_id} v{report.setup_version} · {report.symbol} {report.timeframe} · "
        f"{exact_time(report.start, tz)} → {exact_time(report.end, tz)} · run(s) "
        f"{', '.join(report.run_ids)} · times in {zone}"),
        blocks.heading("Headline numbers"),
        blocks.table(["metric", "gross", "net", "computed from"], headline_rows(report.metrics)),
        picture("equity.png", report.equity_png(), "Equity (net), drawdown shaded"),
        picture("r-histogram.png", report.r_histogram_png(), "R per trade (net)")]
    for by, table in report.breakdowns.items():
        header, rows = _breakdown_rows(table)
        out += [blocks.heading(f"By {by}", 3), *blocks.tables(header, rows)]
    rows = sample_table_rows(report)
    out += [blocks.heading("Random-sample check"), *blocks.paragraphs(
        f"{len(rows)} of {len(report.trades)} trades drawn at random with seed {report.seed} "
        f"(the same seed draws the same trades: `ita report run … --seed {report.seed}`). "
        f"Times in {zone}; prices exactly as the backtest filled them. Check each on its chart.")]
    if rows:
        out += blocks.tables(SAMPLE_HEADER, rows)  # 99 rows a table: --sample goes to 100
    for row, png in zip(rows, report.sample_pngs(), strict=False):
        out.append(picture(f"sample-{row[0]}.png", png,
                           f"#{row[0]} {row[1]}: in {row[2]} @ {row[3]}, out {row[4]} @ "
                           f"{row[5]} ({zone})"))
    return out


def publish_backtest_report(home: str | Path, settings: NotionSettings, report) -> str:
    """Write `report` (a `TradeReport`) as its page under "ITA reports"; returns the page id.
    Publishing the same run (or the same version over the same period) replaces its page."""
    require_enabled(settings)

    def build(notion: NotionGateway) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="ita-notion-") as folder:
            return report_blocks(report, notion, Path(folder))

    try:
        return publish_report(home, settings, key_of(report), page_title(report), build)
    except TemporaryError as error:  # a report is not queued: say so, not "will retry"
        said = str(error).removesuffix("; will retry later")
        raise TemporaryError(f"{said}: the report was not sent (a page sent before is "
                             "unchanged); send it again later") from None


def page_title(report) -> str:
    """``Backtest · <the report's title>``; a period says its last day included."""
    key = key_of(report)
    if key.startswith("run:"):
        return f"Backtest · {report.title}"
    from engine.reports.drift import period_words

    first, last = period_words(_utc(report.start), _utc(report.end), report.tz)
    return (f"Backtest · {report.setup_id} v{report.setup_version} {report.symbol} "
            f"{report.timeframe} · {first} → {last}")


def build_report(settings, *, run_id: str | None = None, setup: str | None = None,
                 start=None, end=None, sample: int = 5, seed: int = 0):
    """The `TradeReport` for a run, or for ``setup`` (``id`` or ``id@version``; default the
    active version) over ``[start, end)``; times in the trader's display zone."""
    from engine.adapters.runs import RunStore
    from engine.errors import ConfigurationError, DataError
    from engine.reports.period import run_report, setup_report
    from engine.setups.store import SetupStore, split_ref

    runs = RunStore.from_settings(settings)
    tz = settings.display_zone
    if run_id is not None:
        return run_report(runs, run_id, sample=sample, seed=seed, tz=tz)
    if setup is None or start is None or end is None:
        raise ConfigurationError("name a run, or a setup with --from and --to")
    setup_id, version = split_ref(setup)
    if version is None:
        version = SetupStore.from_settings(settings).active(setup_id)
    report = setup_report(runs, setup_id, int(version), start=start, end=end, sample=sample,
                          seed=seed, tz=tz, home=settings.home)
    if report is None:
        from engine.reports.drift import period_words

        first, last = period_words(_utc(start), _utc(end), tz)
        raise DataError(f"no backtest run of {setup_id} v{version} covers {first} → {last}: "
                        f"run `ita backtest {setup_id}` first")
    return report
