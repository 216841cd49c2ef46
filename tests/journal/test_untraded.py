"""Signals that did not become trades are keyed like trades, so the journal holds notes on
them too."""

from __future__ import annotations

import pandas as pd

from engine.journal import TradeKey, entry_id, journal_frame, new_entry, untraded_signals


def test_untraded_signals_are_those_without_a_trade_of_the_same_time_and_side() -> None:
    times = pd.to_datetime(["2023-03-01 10:00", "2023-03-01 10:05", "2023-03-01 10:10"],
                           utc=True)
    signals = pd.DataFrame({"known_at": times, "direction": [1, -1, 1], "symbol": "BTC/USDT",
                            "entry": [1.0, 2.0, 3.0], "setup_id": "s", "setup_version": 2,
                            "reasons": "[]"})
    trades = pd.DataFrame({"signal_time": [times[0], times[1]], "direction": [1, 1]})
    untraded = untraded_signals(signals, trades)
    assert untraded["entry"].tolist() == [2.0, 3.0]  # 10:05 short had no trade: same time,
    assert (untraded["signal_time"] == untraded["known_at"]).all()  # other side
    assert "reasons" not in untraded

    key = TradeKey("s", 2, "BTC/USDT", times[2], 1)
    entry = new_entry(key).model_copy(update={"note": "missed it"})
    joined = journal_frame(untraded, {entry_id(key): entry})
    assert joined["note"].tolist() == ["", "missed it"]


def test_without_trades_every_signal_is_untraded_and_without_signals_none() -> None:
    times = pd.to_datetime(["2023-03-01 10:00"], utc=True)
    signals = pd.DataFrame({"known_at": times, "direction": [1]})
    assert len(untraded_signals(signals, pd.DataFrame())) == 1
    assert untraded_signals(signals.iloc[:0], pd.DataFrame()).empty
