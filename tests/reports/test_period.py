"""A run's report and a setup version over a period: the run's own numbers, the sample its
exact trades."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.metrics import breakdown, compute_metrics
from engine.reports.period import HEADLINE, SAMPLE_COLUMNS, period_metrics, run_report, setup_report

PNG = b"\x89PNG\r\n\x1a\n"


def test_run_report_numbers_are_compute_metrics_on_the_same_trades(run) -> None:
    runs = RunStore.from_settings()
    report = run_report(runs, run.run_id)
    trades, equity = runs.frame(run.run_id, "trades"), runs.frame(run.run_id, "equity")
    candles = CandleStore.from_settings().read("BTC/USDT", run.summary["timeframe"])
    candles = candles.loc[run.summary["data_start"]:run.summary["data_end"]]
    again = compute_metrics(trades, equity, timeframe=run.summary["timeframe"],
                            candles=candles, initial_equity=run.summary["initial_equity"])
    assert report.metrics["trades"] > 20
    for name in HEADLINE:
        assert report.metrics[name] == pytest.approx(again[name]), name
    for by, table in report.breakdowns.items():
        pd.testing.assert_frame_equal(table, breakdown(trades, by))


def test_a_period_over_the_whole_run_has_the_runs_numbers(run) -> None:
    runs = RunStore.from_settings()
    whole = setup_report(runs, "sma-cross", run.summary["setup_version"],
                         start="2023-03-01", end="2023-03-22")
    assert whole is not None and whole.run_ids == [run.run_id]
    for name in HEADLINE:
        assert whole.metrics[name] == pytest.approx(run.summary["metrics"][name]), name


def test_a_shorter_period_counts_the_trades_entered_in_it(run) -> None:
    runs = RunStore.from_settings()
    trades, equity = runs.frame(run.run_id, "trades"), runs.frame(run.run_id, "equity")
    start, end = pd.Timestamp("2023-03-06", tz="UTC"), pd.Timestamp("2023-03-13", tz="UTC")
    metrics, chosen, curve = period_metrics(trades, equity, timeframe="5m", start=start, end=end)
    inside = trades[(trades["entry_time"] >= start) & (trades["entry_time"] < end)]
    assert 0 < metrics["trades"] == len(inside) == len(chosen) < len(trades)
    assert curve.index.min() >= start and curve.index.max() < end
    # the drawdown is measured from the week's own peak, never deeper than the run's
    assert 0 <= metrics["max_drawdown"] <= run.summary["metrics"]["max_drawdown"] + 1e-9


def test_the_random_sample_is_the_runs_trades_exactly(run) -> None:
    runs = RunStore.from_settings()
    trades = runs.frame(run.run_id, "trades")
    report = run_report(runs, run.run_id, sample=4, seed=11)
    rows = report.sample_rows()
    assert len(rows) == 4 and list(rows.columns) == list(SAMPLE_COLUMNS)
    for index, row in rows.iterrows():
        original = trades.loc[index]
        for column in SAMPLE_COLUMNS:
            assert row[column] == original[column], column
    matched = trades.merge(rows, on=list(SAMPLE_COLUMNS))
    assert len(matched) == 4  # the same times and prices exist in the run's trades
    same = run_report(runs, run.run_id, sample=4, seed=11).sample_rows()
    pd.testing.assert_frame_equal(rows, same)  # seeded: reproducible
    other = run_report(runs, run.run_id, sample=4, seed=12).sample_rows()
    assert not rows.index.equals(other.index)


def test_images_are_pngs(run) -> None:
    report = run_report(RunStore.from_settings(), run.run_id, sample=2, seed=3)
    pictures = [report.equity_png(), report.r_histogram_png(), *report.sample_pngs()]
    assert len(pictures) == 4
    assert all(p.startswith(PNG) and len(p) > 5_000 for p in pictures)


def test_no_run_of_the_version_in_the_period_is_none(run) -> None:
    assert setup_report(RunStore.from_settings(), "sma-cross", run.summary["setup_version"],
                        start="2024-01-01", end="2024-02-01") is None
