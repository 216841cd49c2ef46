"""A run, or a setup version over a period, as one report object (`TradeReport`).

**Numbers.** A run's headline numbers are its own ``summary.json`` metrics. A setup version over
a period uses its latest backtest run (by creation time) whose data overlaps the period: the
trades entered in ``[start, end)`` and the run's per-bar equity over the same span, whose
drawdown is measured from the span's own peak; both go through
`engine.backtest.metrics.compute_metrics`, the formulas every run uses (over a run's whole span
the numbers are the run's, tested). Only the latest run counts: several runs of one version
over the same bars would count each trade several times.

**Random-sample check.** `TradeReport.sample` draws N trades with
`engine.backtest.report.sample_trades` (the HTML report's draw) and a seed that the report
shows: the same seed gives the same trades. Each sampled row is the run's trade row unchanged
(entry and exit times and prices), each with a chart PNG of its candles (`images.trade_png`).

>>> report = run_report(RunStore.from_settings(), "a1b2c3d4", sample=5, seed=7)  # doctest: +SKIP
>>> report.sample_rows()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from engine.adapters.runs import RunStore, short_id
from engine.backtest import _kernel
from engine.backtest.metrics import breakdown, compute_metrics
from engine.backtest.report import sample_trades
from engine.errors import DataError
from engine.reports import images

# the numbers every report shows, in this order (keys of `compute_metrics`)
HEADLINE = ("trades", "win_rate", "avg_planned_rr", "avg_r_gross", "avg_r_net",
            "expectancy_r_gross", "expectancy_r_net", "profit_factor", "max_drawdown",
            "max_drawdown_pct", "closed_at_data_end", "closed_at_window_end")
REPORT_BREAKDOWNS = ("session", "weekday", "month")
SAMPLE_COLUMNS = ("direction", "entry_time", "entry_price", "stop_price", "target_price",
                  "exit_time", "exit_price", "exit_reason", "r_net", "r_gross")
DEFAULT_SAMPLE = 5


@dataclass(eq=False)
class TradeReport:
    """What a report of trades shows; images are drawn when asked for."""

    title: str
    setup_id: str
    setup_version: int
    symbol: str
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    run_ids: list[str]
    metrics: dict
    trades: pd.DataFrame
    equity: pd.Series
    seed: int = 0
    sample_size: int = DEFAULT_SAMPLE
    tz: object = None
    candles: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)
    live: dict | None = None  # `engine.reports.live.live_numbers` of the version in the period
    live_verdict: str | None = None  # `engine.reports.drift.judge`'s sentence

    @cached_property
    def breakdowns(self) -> dict[str, pd.DataFrame]:
        """Session, weekday and month tables (`engine.backtest.metrics.breakdown`, in `tz`)."""
        return {by: breakdown(self.trades, by, tz=self.tz) for by in REPORT_BREAKDOWNS}

    @cached_property
    def sample(self) -> pd.DataFrame:
        """`sample_size` trades drawn with `seed`: rows of `trades`, unchanged."""
        return sample_trades(self.trades, self.sample_size, seed=self.seed)

    def sample_rows(self) -> pd.DataFrame:
        """The sample's columns a reader checks by eye."""
        return self.sample[[c for c in SAMPLE_COLUMNS if c in self.sample]]

    def sample_pngs(self) -> list[bytes]:
        """One chart per sampled trade; empty when no candles are at hand."""
        if self.candles is None or self.sample.empty:
            return []
        candles = self.candles()
        return [images.trade_png(candles, row, tz=self.tz) for _, row in self.sample.iterrows()]

    def equity_png(self) -> bytes:
        return images.equity_png(self.equity, title=f"Equity · {self.title}", tz=self.tz)

    def r_histogram_png(self) -> bytes:
        return images.r_histogram_png(self.trades.get("r_net", self.trades.get("r_multiple")))


def headline(metrics: dict) -> dict:
    """The `HEADLINE` numbers of a metrics dict (None where a run lacks one)."""
    return {name: metrics.get(name) for name in HEADLINE}


def _candles_of(summary: dict, candle_store):
    def load() -> pd.DataFrame:
        from engine.adapters.store import CandleStore
        from engine.pipeline import load_candles

        store = candle_store or CandleStore.from_settings()
        return load_candles(store, summary["symbol"], summary["timeframe"])
    return load


def run_report(run_store: RunStore, run_id: str, *, sample: int = DEFAULT_SAMPLE,
               seed: int = 0, tz=None, candle_store=None) -> TradeReport:
    """The report of one run: its own metrics, trades and equity."""
    run_id = run_store.resolve(run_id)
    summary = run_store.summary(run_id)
    equity = run_store.frame(run_id, "equity")["equity"]
    return TradeReport(
        title=f"{summary['setup_id']} v{summary['setup_version']} {summary['symbol']} "
              f"{summary['timeframe']} · run {short_id(run_id)}",
        setup_id=summary["setup_id"], setup_version=int(summary["setup_version"]),
        symbol=summary["symbol"], timeframe=summary["timeframe"],
        start=pd.Timestamp(summary["data_start"]), end=pd.Timestamp(summary["data_end"]),
        run_ids=[run_id], metrics=headline(summary["metrics"]),
        trades=run_store.frame(run_id, "trades"), equity=equity, seed=seed, sample_size=sample,
        tz=tz, candles=_candles_of(summary, candle_store))


def latest_run(run_store: RunStore, setup_id: str, version: int, *, start=None, end=None
               ) -> str | None:
    """The newest run of the setup version whose data overlaps ``[start, end)``, or None."""
    runs = run_store.list()
    if runs.empty:
        return None
    mine = runs[(runs["setup_id"] == setup_id) & (runs["setup_version"] == version)]
    if start is not None:
        mine = mine[pd.to_datetime(mine["end"], utc=True) >= _utc(start)]
    if end is not None:
        mine = mine[pd.to_datetime(mine["start"], utc=True) < _utc(end)]
    if mine.empty:
        return None
    return str(mine.sort_values("created_at").iloc[-1]["run_id"])


def _utc(value) -> pd.Timestamp:
    moment = pd.Timestamp(value)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def period_metrics(trades: pd.DataFrame, equity: pd.DataFrame, *, timeframe: str,
                   start=None, end=None) -> tuple[dict, pd.DataFrame, pd.Series]:
    """Headline numbers of the trades entered in ``[start, end)`` with the equity over that span
    (drawdown from the span's own peak), through `compute_metrics`; also the trades and curve."""
    lo = _utc(start) if start is not None else equity.index[0]
    hi = _utc(end) if end is not None else equity.index[-1] + pd.Timedelta(1, "ns")
    entered = pd.to_datetime(trades["entry_time"], utc=True) if len(trades) else None
    chosen = trades[(entered >= lo) & (entered < hi)] if len(trades) else trades
    curve = equity["equity"][(equity.index >= lo) & (equity.index < hi)]
    if curve.empty:
        raise DataError(f"no bars of the run between {lo} and {hi}")
    money, pct = _kernel.drawdowns_nb(curve.to_numpy(float))
    span = pd.DataFrame({"equity": curve, "drawdown": money, "drawdown_pct": pct})
    metrics = compute_metrics(chosen.reset_index(drop=True), span, timeframe=timeframe,
                              candles=pd.DataFrame({"close": curve}),
                              initial_equity=float(curve.iloc[0]))
    return headline(metrics), chosen.reset_index(drop=True), curve


def setup_report(run_store: RunStore, setup_id: str, version: int, *, start, end,
                 sample: int = DEFAULT_SAMPLE, seed: int = 0, tz=None, candle_store=None,
                 home=None) -> TradeReport | None:
    """The setup version over ``[start, end)`` from its latest run there (None: no run); with
    `home`, also its live journal's numbers in the period and the drift sentence against the
    whole run's expectancy (as the period report across setups says it)."""
    run_id = latest_run(run_store, setup_id, version, start=start, end=end)
    if run_id is None:
        return None
    summary = run_store.summary(run_id)
    metrics, trades, curve = period_metrics(
        run_store.frame(run_id, "trades"), run_store.frame(run_id, "equity"),
        timeframe=summary["timeframe"], start=start, end=end)
    return TradeReport(
        title=f"{setup_id} v{version} {summary['symbol']} {summary['timeframe']} · "
              f"{_utc(start):%Y-%m-%d} → {_utc(end):%Y-%m-%d}",
        setup_id=setup_id, setup_version=version, symbol=summary["symbol"],
        timeframe=summary["timeframe"], start=_utc(start), end=_utc(end), run_ids=[run_id],
        metrics=metrics, trades=trades, equity=curve, seed=seed, sample_size=sample, tz=tz,
        candles=_candles_of(summary, candle_store),
        **(_live_part(home, setup_id, version, start, end, summary) if home else {}))


def _live_part(home, setup_id: str, version: int, start, end, summary: dict) -> dict:
    from engine.reports import live
    from engine.reports.drift import judge

    signals = live.in_period(live.journal_frame(home), _utc(start), _utc(end))
    mine = live.by_version(signals).get((setup_id, version), signals.iloc[0:0])
    verdict = judge(summary["metrics"].get("expectancy_r_net"), live.taken_r(mine))[2]
    return {"live": live.live_numbers(mine), "live_verdict": verdict}
