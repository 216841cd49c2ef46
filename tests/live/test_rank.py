"""Ranking live alerts: statistics from real backtest runs, shrinkage, no history, the risk
suggestion and its warnings, the order of several alerts on one bar."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.adapters.runs import RunStore
from engine.adapters.store import CandleStore
from engine.backtest.metrics import breakdown
from engine.backtest.run import run_backtest
from engine.demo import run_demo
from engine.live.evaluate import LiveSignal
from engine.live.rank import (
    NO_HISTORY,
    PRIOR_TRADES,
    Rank,
    SetupStats,
    order_alerts,
    rank,
    shrink,
)
from engine.settings import Settings
from engine.setups.schema import Costs
from engine.setups.store import SetupStore


def make_signal(**changes) -> LiveSignal:
    """A long BTC/USDT 5m signal on Sunday 19 March 2023 08:20 UTC (London session)."""
    row = {"known_at": pd.Timestamp("2023-03-19 08:20", tz="UTC"), "symbol": "BTC/USDT",
           "direction": 1, "entry_type": "limit", "entry": 26997.1,
           "stop": 26841.48873835648, "target": 27308.32252328704, "r_planned": 2.0,
           "expiry_bars": 12, "time_exit_bars": 0, "breakeven_r": np.nan,
           "partial_r": np.nan, "partial_fraction": 0.0,
           "setup_id": "london-asia-sweep-fvg", "setup_version": 1,
           "reasons": json.dumps([
               {"condition": "asia_low_sweep", "kind": "sweep", "direction": 1,
                "at": "2023-03-19T06:45:00Z", "known_at": "2023-03-19T06:45:00Z",
                "top": 26917.17, "bottom": 26917.17},
               {"condition": "bull_fvg", "kind": "fvg", "direction": 1,
                "at": "2023-03-19T08:15:00Z", "known_at": "2023-03-19T08:20:00Z",
                "top": 26997.1, "bottom": 26979.91}])}
    row.update(changes)
    return LiveSignal.from_row(row, timeframe="5m", source="binanceus")


# --- from real runs -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A demo home with two runs of sma-cross v1 over the same range and one
    of a v2 (another target)."""
    root = tmp_path_factory.mktemp("rank-home")
    run_demo(Settings(home=root))
    stores = {"candle_store": CandleStore(root / "data" / "candles"),
              "setup_store": SetupStore(root / "setups"), "run_store": RunStore(root / "runs")}
    first = run_backtest("sma-cross@1", start="2023-03-01", end="2023-03-22", **stores)
    run_backtest("sma-cross@1", start="2023-03-01", end="2023-03-22", **stores)  # run again
    text = stores["setup_store"].load("sma-cross@1").text
    stores["setup_store"].save(text.replace("target: {percent: 2.0}",
                                            "target: {percent: 1.0}"))
    run_backtest("sma-cross@2", start="2023-03-01", end="2023-03-22", **stores)
    return root, first


def test_stats_from_runs_follow_the_metrics_convention(home) -> None:
    root, first = home
    stats = SetupStats.from_runs(root, "sma-cross", 1)
    metrics = first.summary["metrics"]
    overall = stats.overall()
    assert stats.runs == 2
    # both runs hold the same trades: each counted once
    assert overall.trades == metrics["wins"] + metrics["losses"] > 0
    assert overall.expectancy_r == pytest.approx(metrics["expectancy_r_net"])
    assert overall.win_rate == pytest.approx(metrics["win_rate"])
    # the session bucket counts what the backtest's own breakdown counts
    by_session = breakdown(first.result.trades, "session")
    london = stats.bucket("London", (stats.trades["session"] == "london").to_numpy())
    assert london.trades == by_session.loc["london", "trades"]
    # v2 is another rule: its runs never mix into v1's history
    v2 = SetupStats.from_runs(root, "sma-cross", 2)
    assert v2.runs == 1 and v2.overall().expectancy_r != overall.expectancy_r


def test_rank_from_real_runs_speaks_in_numbers(home) -> None:
    root, _ = home
    stats = SetupStats.from_runs(root, "sma-cross", 1)
    ranked = rank(make_signal(), stats, account_size=10_000, risk_pct=0.5,
                  costs=Costs(fee_bps=5, slippage_bps=2))
    overall = stats.overall()
    assert ranked.trades == overall.trades
    sentences = ranked.strengths + ranked.weaknesses
    assert any(s.startswith(f"Overall: {overall.expectancy_r:+.2f} R over {overall.trades} "
                            "trades") for s in sentences), sentences
    assert any(s.startswith("London session: ") for s in sentences), sentences
    assert NO_HISTORY not in sentences
    assert ranked.probability is None


def test_no_runs_means_no_history_yet(tmp_path) -> None:
    stats = SetupStats.from_runs(tmp_path, "sma-cross", 1)
    assert not stats.has_history and stats.runs == 0
    ranked = rank(make_signal(), stats, account_size=10_000, risk_pct=1.0, costs=None)
    assert ranked.score == 0.0 and ranked.trades == 0
    assert ranked.strengths == () and ranked.weaknesses == (NO_HISTORY,)
    assert ranked.size == pytest.approx(100 / (26997.1 - 26841.48873835648))


# --- the score ------------------------------------------------------------------------------


def trades(rows: list[tuple[str, int, float]], *, risk: float = 100.0) -> pd.DataFrame:
    """Trades of (signal time UTC, direction, R): P&L = R x risk, closed by the rules."""
    return pd.DataFrame({
        "symbol": "BTC/USDT", "direction": [d for _, d, _ in rows],
        "signal_time": pd.DatetimeIndex([t for t, _, _ in rows], tz="UTC"),
        "pnl": [r * risk for _, _, r in rows], "risk": risk, "exit_reason": "target"})


def repeat(time: str, direction: int, r: float, count: int) -> list:
    start = pd.Timestamp(time)
    return [(start + pd.Timedelta(weeks=i), direction, r) for i in range(count)]


def test_score_shrinks_by_sample_size() -> None:
    signal = make_signal()  # a long, Sunday 08:20 UTC: London
    few = SetupStats.from_trades(trades(repeat("2023-01-01 08:20", 1, 3.0, 3)),
                                 setup_id="s", version=1)
    many = SetupStats.from_trades(trades(repeat("2023-01-01 08:20", 1, 0.5, 60)),
                                  setup_id="s", version=1)
    costs = Costs(fee_bps=0, slippage_bps=0)
    lucky = rank(signal, few, account_size=1e4, risk_pct=1, costs=costs)
    proven = rank(signal, many, account_size=1e4, risk_pct=1, costs=costs)
    # every bucket holds all trades here (adding nothing): the overall shrunk toward 0 R
    assert proven.score == pytest.approx(60 * 0.5 / (60 + PRIOR_TRADES)) == shrink(0.5, 60, 0)
    assert lucky.score == pytest.approx(3 * 3.0 / (3 + PRIOR_TRADES))
    assert proven.score > lucky.score  # three lucky trades never outrank sixty good ones
    assert "Overall: only 3 trades, too few to judge" in lucky.weaknesses
    # a bucket holding every trade (the longs of a long-only history) repeats the overall
    assert proven.strengths == ("Overall: +0.50 R over 60 trades, 100% won",)


def test_buckets_move_the_score_by_their_own_evidence() -> None:
    london_long = repeat("2023-01-01 08:20", 1, 1.0, 40)  # Sundays, London, long: +1 R
    asia_short = repeat("2023-01-03 02:00", -1, -1.0, 40)  # Tuesdays, Asia, short: -1 R
    stats = SetupStats.from_trades(trades(london_long + asia_short), setup_id="s", version=1)
    good = rank(make_signal(), stats, account_size=1e4, risk_pct=1, costs=None)
    bad = rank(make_signal(known_at=pd.Timestamp("2023-03-21 02:00", tz="UTC"), direction=-1,
                           stop=27100.0, target=26800.0),
               stats, account_size=1e4, risk_pct=1, costs=None)
    assert good.score > 0 > bad.score
    assert "London session: +1.00 R over 40 trades, 100% won" in good.strengths
    assert "Sundays: +1.00 R over 40 trades, 100% won" in good.strengths
    assert "Shorts: -1.00 R over 40 trades, 0% won" in bad.weaknesses
    assert "Asia session: -1.00 R over 40 trades, 0% won" in bad.weaknesses
    # no edge overall is a weakness, said once; the best bucket comes first
    assert good.weaknesses == ("Overall: +0.00 R over 80 trades, 50% won",)
    assert bad.strengths == ()


def test_weekday_is_read_in_the_traders_zone() -> None:
    # Sunday 22:30 UTC is Monday 01:30 in Athens
    rows = trades(repeat("2023-01-01 22:30", 1, 1.0, 10))
    utc = SetupStats.from_trades(rows, setup_id="s", version=1)
    athens = SetupStats.from_trades(rows, setup_id="s", version=1, tz="Europe/Athens")
    assert set(utc.trades["weekday"]) == {"Sunday"}
    assert set(athens.trades["weekday"]) == {"Monday"}


def test_trades_closed_by_the_data_end_are_left_out() -> None:
    rows = trades(repeat("2023-01-01 08:20", 1, 1.0, 10))
    rows.loc[:4, "exit_reason"] = "end"
    rows.loc[:4, "pnl"] = -500.0
    stats = SetupStats.from_trades(rows, setup_id="s", version=1)
    assert stats.overall().trades == 5 and stats.overall().expectancy_r == 1.0


# --- size and warnings ----------------------------------------------------------------------


def empty() -> SetupStats:
    return SetupStats.from_trades(None, setup_id="s", version=1)


def test_position_size_for_the_account() -> None:
    signal = make_signal(entry=100.0, stop=98.0, target=104.0)
    ranked = rank(signal, empty(), account_size=10_000, risk_pct=1.0, costs=None)
    assert ranked.risk_money == 100.0 and ranked.size == 50.0
    assert ranked.warnings == ()
    short = rank(make_signal(direction=-1, entry=100.0, stop=104.0, target=92.0), empty(),
                 account_size=10_000, risk_pct=2.0, costs=None)
    assert short.size == 50.0


def test_warning_when_the_stop_is_within_three_round_trips() -> None:
    costs = Costs(fee_bps=5, slippage_bps=2)  # round trip 14 bps: 0.14 at 100
    tight = rank(make_signal(entry=100.0, stop=99.7, target=100.6), empty(),
                 account_size=100, risk_pct=1.0, costs=costs)
    assert [w for w in tight.warnings if "round-trip costs" in w] == [
        "stop 0.30 away is only 2.1x the round-trip costs (0.14): fees and slippage take "
        "47% of 1 R"]
    wide = rank(make_signal(entry=100.0, stop=99.5, target=101.0), empty(),
                account_size=100, risk_pct=1.0, costs=costs)
    assert not [w for w in wide.warnings if "round-trip" in w]


def test_warning_when_the_position_needs_leverage() -> None:
    ranked = rank(make_signal(entry=100.0, stop=99.5, target=101.0), empty(),
                  account_size=1_000, risk_pct=1.0, costs=None)  # 20 units = 2,000
    assert ranked.warnings == ("the position (2,000.00) is 2.0x the account: it needs "
                               "leverage",)


# --- several alerts on one bar --------------------------------------------------------------


def test_order_alerts_best_first() -> None:
    a, b, c = (make_signal(setup_id=name) for name in ("a", "b", "c"))
    ranked = [(a, Rank(score=0.1, trades=10)), (b, Rank(score=0.4, trades=5)),
              (c, Rank(score=0.1, trades=50))]
    assert [s.setup_id for s, _ in order_alerts(ranked)] == ["b", "c", "a"]
    assert [s.setup_id for s, _ in order_alerts(reversed(ranked))] == ["b", "c", "a"]
