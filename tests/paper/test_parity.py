"""Paper equals backtest: an account fed replayed history in any chunks (one bar at a time
included) books the same trades, fees and balance as one `simulate` of the same signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from engine.backtest.simulate import Costs, Sizing, simulate
from engine.paper.account import Account
from engine.paper.follow import on_bars
from engine.paper.ledger import Ledger
from tests.backtest.test_no_lookahead import ideas, make_signals, random_bars

COSTS, SIZING = Costs(5, 3), Sizing("risk_percent", 2.0)
SAME = ["entry_price", "exit_price", "size", "risk", "pnl", "fees", "slippage", "r_gross",
        "r_net"]


def replay(tmp_path, candles, signals, cuts, *, lower=None, name="acct") -> Ledger:
    """Feed `candles` to a fresh account growing to each of `cuts` (bar counts)."""
    ledger = Ledger(tmp_path / f"{name}.sqlite")
    account = Account(name=name, starting_balance=10_000)
    for cut in cuts:
        shown = candles.iloc[:cut]
        known = signals[signals["known_at"] <= shown.index[-1]]
        on_bars(ledger, account, shown, known, timeframe="15m", costs=COSTS, sizing=SIZING,
                lower_candles=lower)
    return ledger


def assert_same_trades(ledger: Ledger, full, account="acct") -> None:
    paper = ledger.positions(account)
    closed = paper[paper["status"] == "closed"].reset_index(drop=True)
    rules = full.trades[full.trades["exit_reason"] != "end"].reset_index(drop=True)
    assert len(closed) == len(rules)
    if len(rules):
        assert list(closed["exit_reason"]) == list(rules["exit_reason"])
        assert list(pd.to_datetime(closed["entry_time"])) == list(rules["entry_time"])
        assert list(pd.to_datetime(closed["exit_time"])) == list(rules["exit_time"])
        for column in SAME:
            np.testing.assert_allclose(closed[column].to_numpy(float),
                                       rules[column].to_numpy(float), rtol=1e-9, atol=1e-9,
                                       err_msg=column)
    still = paper[paper["status"] == "open"]
    ended = full.trades[full.trades["exit_reason"] == "end"]
    assert len(still) == len(ended)
    if len(ended):
        assert still["entry_price"].iloc[0] == ended["entry_price"].iloc[0]
        # the balance is summed from ledger rows, the backtest's equity carried: sizes may
        # differ in the last bit, never more
        np.testing.assert_allclose(still["size"].iloc[0], ended["size"].iloc[0], rtol=1e-12)
    else:  # flat: the balance is the backtest's final equity
        assert ledger.balance(account, 10_000) == pytest.approx(full.equity["equity"].iloc[-1],
                                                                rel=1e-12)


@settings(max_examples=10, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 40), drawn=ideas,
       chunk=st.integers(1, 7))
def test_paper_equals_backtest_in_any_chunks(tmp_path_factory, seed, n, drawn, chunk) -> None:
    candles = random_bars(seed, n)
    signals = make_signals(candles, drawn)
    full = simulate(candles, signals, costs=COSTS, sizing=SIZING)
    ledger = replay(tmp_path_factory.mktemp("p"), candles, signals,
                    [*range(chunk, n, chunk), n])
    assert_same_trades(ledger, full)


def test_one_bar_at_a_time_over_many_trades(tmp_path) -> None:
    candles = random_bars(7, 160)
    rng = np.random.default_rng(3)
    drawn = [(float(w), int(d), bool(lim), 0.004, 0.01, 0.02, 6, int(t), be, pr)
             for w, d, lim, t, be, pr in zip(
                 rng.random(40), rng.choice([1, -1], 40), rng.random(40) < 0.4,
                 rng.integers(0, 8, 40), rng.choice([np.nan, 0.5], 40),
                 rng.choice([np.nan, 0.7], 40), strict=True)]
    signals = make_signals(candles, drawn)
    full = simulate(candles, signals, costs=COSTS, sizing=SIZING)
    assert (full.trades["exit_reason"] != "end").sum() >= 10
    ledger = replay(tmp_path, candles, signals, range(1, 161))
    assert_same_trades(ledger, full)


def test_processing_the_same_bars_again_adds_nothing(tmp_path) -> None:
    candles = random_bars(11, 120)
    signals = make_signals(candles, [(x / 20, 1 if x % 2 else -1, False, 0.0, 0.01, 0.02, 0, 0,
                                      np.nan, np.nan) for x in range(20)])
    ledger = replay(tmp_path, candles, signals, [60, 120])
    before = ledger.snapshot("acct")
    account = Account(name="acct", starting_balance=10_000)
    for cut in (30, 60, 120, 120):
        result = on_bars(ledger, account, candles.iloc[:cut], signals, timeframe="15m",
                         costs=COSTS, sizing=SIZING)
        assert result.appended == 0
    assert ledger.snapshot("acct") == before
    assert len(before["positions"]) > 4


def test_bars_not_closed_by_now_are_ignored(tmp_path) -> None:
    candles = random_bars(5, 40)
    signals = make_signals(candles, [(0.5, 1, False, 0.0, 0.01, 0.02, 0, 1, np.nan, np.nan)])
    ledger = Ledger(tmp_path / "l.sqlite")
    account = Account(name="acct")
    signal_bar = candles.index[20]
    # at the signal bar's close the order is not filled yet: the next bar is still forming
    now = signal_bar + pd.Timedelta(minutes=15 + 14)
    on_bars(ledger, account, candles, signals, timeframe="15m", costs=COSTS, sizing=SIZING,
            now=now)
    assert ledger.positions("acct").empty
    on_bars(ledger, account, candles, signals, timeframe="15m", costs=COSTS, sizing=SIZING,
            now=now + pd.Timedelta(minutes=1))
    opened = ledger.positions("acct")
    assert len(opened) == 1
    assert pd.Timestamp(opened["entry_time"].iloc[0]) == candles.index[21]
    assert opened["status"].iloc[0] == "closed"  # its time exit: the close of its fill bar


@pytest.mark.parametrize("chunk", [1, 5])
def test_lower_timeframe_resolution_is_the_backtests(tmp_path, chunk) -> None:
    rng = np.random.default_rng(2)
    n = 60
    lower_index = pd.date_range("2024-01-01", periods=n * 15, freq="1min", tz="UTC",
                                name="time")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, len(lower_index))))
    lower = pd.DataFrame({"open": np.r_[100.0, close[:-1]], "close": close,
                          "volume": 1.0}, index=lower_index)
    lower["high"] = lower[["open", "close"]].max(axis=1) * 1.001
    lower["low"] = lower[["open", "close"]].min(axis=1) * 0.999
    lower = lower[["open", "high", "low", "close", "volume"]]
    candles = lower.resample("15min").agg({"open": "first", "high": "max", "low": "min",
                                           "close": "last", "volume": "sum"})
    drawn = [(x / 30, 1 if x % 3 else -1, False, 0.0, 0.006, 0.008, 0, 0, np.nan, np.nan)
             for x in range(30)]
    signals = make_signals(candles, drawn)
    full = simulate(candles, signals, costs=COSTS, sizing=SIZING, lower_candles=lower)
    assert full.counters["ambiguous_lower_tf"] > 0
    ledger = replay(tmp_path, candles, signals, [*range(chunk, n, chunk), n], lower=lower)
    assert_same_trades(ledger, full)


def test_a_position_closed_by_hand_stays_closed_and_later_signals_trade(tmp_path) -> None:
    from engine.paper.follow import close

    candles = random_bars(13, 80)
    # a long with a far stop and target and no time exit stays open; a later signal trades
    far = [(0.1, 1, False, 0.0, 0.5, 0.9, 0, 0, np.nan, np.nan),
           (0.8, -1, False, 0.0, 0.01, 0.02, 0, 2, np.nan, np.nan)]
    signals = make_signals(candles, far)
    ledger = Ledger(tmp_path / "l.sqlite")
    account = Account(name="acct", starting_balance=10_000)

    def feed(cut: int) -> None:
        shown = candles.iloc[:cut]
        on_bars(ledger, account, shown, signals[signals["known_at"] <= shown.index[-1]],
                timeframe="15m", costs=COSTS, sizing=SIZING)

    feed(30)
    opened = ledger.open_positions("acct")
    assert len(opened) == 1
    pid, size, entry = opened["position_id"].iloc[0], opened["size"].iloc[0], \
        opened["entry_price"].iloc[0]
    price = candles["close"].iloc[29]
    pnl = close(ledger, account, pid, price=price, at=candles.index[30], fee_bps=5)
    assert pnl == pytest.approx(size * (price - entry) - size * (entry + price) * 5 / 1e4)
    assert ledger.balance("acct", 10_000) == pytest.approx(10_000 + pnl)
    with pytest.raises(Exception, match="no open position"):
        close(ledger, account, pid, price=price, at=candles.index[31], fee_bps=5)
    for cut in range(31, 81):
        feed(cut)
    positions = ledger.positions("acct")
    assert len(positions) == 2 and positions["exit_reason"].iloc[0] == "manual"  # not re-opened
    # the next signal trades as the backtest from the close on, with the balance it left
    after = simulate(candles.iloc[30:], signals.iloc[1:], costs=COSTS, sizing=SIZING,
                     initial_equity=10_000 + pnl).trades
    assert len(after) == 1
    later = positions.iloc[1]
    assert later["exit_reason"] == after["exit_reason"].iloc[0]
    assert pd.Timestamp(later["entry_time"]) == after["entry_time"].iloc[0]
    assert later["size"] == pytest.approx(after["size"].iloc[0], rel=1e-12)
