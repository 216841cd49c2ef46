"""Walk-forward: each test window is traded with its history and the out-of-sample signals of
all windows are simulated once, so no window starts cold and no trade is cut at a window's
end."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.backtest.walkforward import walkforward
from engine.errors import SetupError
from engine.setups import apply_parameters, compile_setup, parse_setup

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "setups" / "sma-cross.yaml"
OPEN_AT_END = {"end", "window_end"}


def _setup(**values):
    setup = parse_setup(EXAMPLE.read_text())
    return apply_parameters(setup, values) if values else setup


def _whole_data_signals(setup, candles, windows: pd.DataFrame) -> pd.DataFrame:
    """Per window, the signals a compile of the *whole* data gives with that window's
    parameters, kept where they became known inside the window."""
    parts = []
    for w in windows.itertuples():
        signals = compile_setup(apply_parameters(setup, w.params))(candles, symbol="X")
        inside = signals["known_at"].between(w.test_start, w.test_end)
        parts.append(signals[inside])
    return pd.concat(parts, ignore_index=True)


def test_test_windows_are_traded_with_their_history(demo_candles) -> None:
    """SMA(up to 60) crosses in a window's first bars are the whole-data compile's: the
    indicators warm up on the bars before the window, which the old cold start could not."""
    setup = _setup()
    candles = demo_candles.iloc[:9000]
    result = walkforward(setup, candles, symbol="X", train_bars=3000, test_bars=1500,
                         n_trials=3, min_trades=2)
    expected = _whole_data_signals(setup, candles, result.windows)
    early = [(expected["known_at"] - start).dt.total_seconds().between(0, 60 * 60).any()
             for start in result.windows["test_start"]]
    assert any(early)  # some window has signals in its first 60 bars: the warm-up matters
    # what was traded: those signals, simulated once over the out-of-sample span
    span = candles.loc[result.windows["test_start"].iloc[0]:]
    traded = simulate(span, expected, costs=Costs(0.0, 0.0), sizing=Sizing("risk_percent", 1.0))
    pd.testing.assert_frame_equal(
        result.out_of_sample_trades.drop(columns="window").reset_index(drop=True),
        traded.trades)
    got = result.out_of_sample_signals.drop(columns="window").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)


def test_a_trade_open_at_a_window_end_runs_on_into_the_next_window(demo_candles) -> None:
    """Half-day trades on 1500-bar windows: a trade open at a window's end is managed on the
    next window's bars, and only a trade open at the last bar of the data is `end`."""
    setup = _setup(**{"plan.stop.percent": 0.5, "plan.target.percent": 1.0})
    candles = demo_candles.iloc[:9000]
    result = walkforward(setup, candles, symbol="X", train_bars=3000, test_bars=1500,
                         n_trials=3, min_trades=1)
    trades, windows = result.out_of_sample_trades, result.windows.set_index("window")
    window_end = trades["window"].map(windows["test_end"])
    carried = trades[trades["exit_time"] > window_end]
    assert len(carried) >= 2
    assert set(carried["exit_reason"].iloc[:-1]) & OPEN_AT_END == set()
    at_end = trades[trades["exit_reason"].isin(OPEN_AT_END)]
    assert list(at_end["exit_time"]) == [candles.index[-1]]
    # a trade cut by the end of the data counts neither as a win nor as a loss
    closed = trades[~trades["exit_reason"].isin(OPEN_AT_END)]
    assert at_end["pnl"].iloc[0] > 0  # so counting it would change the win rate
    assert result.out_of_sample["open_at_end"] == 1
    assert result.out_of_sample["win_rate"] == pytest.approx((closed["pnl"] > 0).mean())
    assert result.out_of_sample["trades"] == len(trades)
    assert result.out_of_sample["total_r"] == pytest.approx(trades["r_multiple"].sum())


def test_walkforward_windows_follow_each_other(demo_candles) -> None:
    setup = _setup()
    result = walkforward(setup, demo_candles.iloc[:12000], symbol="X", train_bars=4000,
                         test_bars=2000, n_trials=4, min_trades=2)
    w = result.windows
    assert len(w) == 4
    index = demo_candles.index
    assert list(w["train_start"]) == list(index[[0, 2000, 4000, 6000]])
    assert list(w["test_start"]) == list(index[[4000, 6000, 8000, 10000]])
    assert list(w["test_end"]) == list(index[[5999, 7999, 9999, 11999]])
    per_window = result.out_of_sample_trades.groupby("window").size()
    assert list(w["test_trades"]) == [int(per_window.get(n, 0)) for n in range(4)]
    anchored = walkforward(setup, demo_candles.iloc[:12000], symbol="X", train_bars=4000,
                           test_bars=2000, anchored=True, n_trials=2, min_trades=2)
    assert (anchored.windows["train_start"] == index[0]).all()
    with pytest.raises(SetupError, match="needs at least 4010 bars, the range has 100"):
        walkforward(setup, demo_candles.iloc[:100], symbol="X", train_bars=4000, test_bars=10)


def test_windows_without_a_scored_trial_say_so(demo_candles) -> None:
    """Flat prices never cross: no train window reaches `min_trades`, so no in-sample value
    is reported (not the optimiser's internal -1e12) and nothing is traded."""
    candles = demo_candles.iloc[:3000].copy()
    candles[["open", "high", "low", "close"]] = 100.0
    result = walkforward(_setup(), candles, symbol="X", train_bars=1000, test_bars=500,
                         n_trials=2, min_trades=1)
    assert list(result.windows["in_sample"]) == [None] * 4
    assert list(result.windows["out_of_sample"]) == [None] * 4
    assert result.in_sample_mean is None
    assert result.out_of_sample["trades"] == 0 and result.out_of_sample["win_rate"] is None
