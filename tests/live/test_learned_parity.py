"""The live path computes a signal's features exactly as the dataset did: build the dataset
over stored history, replay the last part of that history as the monitor sees it (a short
rolling window, the feed writing bars to the store behind it) and compare the feature rows
bit for bit, NaN where NaN."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.candles import resample
from engine.learn.dataset import make_dataset
from engine.learn.live import ChampionScorer, feature_lookback
from engine.live.evaluate import LiveSignal
from engine.live.feeds import FeedKey
from engine.settings import Settings
from engine.setups import compile_setup, parse_setup

GAPS = """schema_version: 1
id: gaps
name: Bullish gaps
market: {symbols: [BTC/USDT], timeframe: 5m}
conditions:
  gap: {detector: fvg, direction: bullish, min_size_atr: 0.3}
signal: gap
direction: long
plan:
  entry: {type: market}
  stop: {percent: 0.5}
  target: {r_multiple: 2.0}
costs: {fee_bps: 0.0, slippage_bps: 0.0}
"""
WINDOW = 60  # what the monitor keeps for this setup: its rules' lookback is short


@pytest.fixture(scope="module")
def candles(demo_candles) -> pd.DataFrame:
    return resample(demo_candles, "5m", source_timeframe="1m")


def test_live_features_equal_the_datasets_bit_for_bit(candles, tmp_path) -> None:
    setup = parse_setup(GAPS)
    dataset = make_dataset(setup, candles, symbol="BTC/USDT", version=1)
    need = feature_lookback(setup)
    assert need > 5000 > WINDOW  # the 1h EMA's warm-up: far more than the monitor's window
    replay = need + 20  # the first replayed bar: the features' history is stored before it
    signals = compile_setup(setup, version=1)(candles, symbol="BTC/USDT")
    signals = signals[signals["known_at"] >= candles.index[replay]]
    expected = dataset.frame.set_index("known_at")
    assert len(set(signals["known_at"]) & set(expected.index)) >= 10

    store = CandleStore(tmp_path / "candles")
    store.upsert(candles.iloc[:replay], source="binance", symbol="BTC/USDT", timeframe="5m")
    written = replay
    scorer = ChampionScorer(Settings(home=tmp_path), store=store)
    compared = 0
    for _, row in signals.iterrows():
        signal = LiveSignal.from_row(row, timeframe="5m", source="binance")
        bar = int(candles.index.get_loc(signal.known_at))
        if bar - written > WINDOW // 2:  # the feed's store writes, behind the live window
            store.upsert(candles.iloc[written:bar - 3], source="binance", symbol="BTC/USDT",
                         timeframe="5m")
            written = bar - 3
        live = scorer.feature_row(signal, candles.iloc[bar + 1 - WINDOW:bar + 1], setup=setup)
        if signal.known_at not in expected.index:
            continue  # no outcome yet at the end of the data: not in the dataset
        want = expected.loc[[signal.known_at], list(dataset.features)].reset_index(drop=True)
        pd.testing.assert_frame_equal(live[list(dataset.features)], want, check_exact=True)
        compared += 1
    assert compared >= 10
    # the scorer kept its own history, bounded: what the features need plus the window
    assert len(scorer._history[("binance", "BTC/USDT", "5m")]) <= need + WINDOW


def test_between_signals_the_history_follows_the_window_with_no_store_read(
        candles, tmp_path, monkeypatch) -> None:
    """The monitor hands the scorer its window after every close (`observe`): signals far
    apart (more than the window) still get the dataset's features, with no store read."""
    setup = parse_setup(GAPS)
    dataset = make_dataset(setup, candles, symbol="BTC/USDT", version=1)
    need = feature_lookback(setup)
    replay = need + 20
    store = CandleStore(tmp_path / "candles")
    store.upsert(candles.iloc[:replay], source="binance", symbol="BTC/USDT", timeframe="5m")
    scorer = ChampionScorer(Settings(home=tmp_path), store=store)
    key = FeedKey("binance", "BTC/USDT", "5m")
    first = SimpleNamespace(source="binance", symbol="BTC/USDT", timeframe="5m",
                            known_at=candles.index[replay - 1])
    scorer.history(first, candles.iloc[replay - WINDOW:replay], need)  # what warm does
    reads = []
    monkeypatch.setattr(scorer, "_read", lambda *args: reads.append(args))
    signals = compile_setup(setup, version=1)(candles, symbol="BTC/USDT")
    by_bar = {t: row for t, row in zip(signals["known_at"], signals.to_dict("records"),
                                       strict=True)}
    expected = dataset.frame.set_index("known_at")
    compared = 0
    for i in range(replay, len(candles)):
        window = candles.iloc[i + 1 - WINDOW:i + 1]
        scorer.observe(key, window)
        row = by_bar.get(candles.index[i])
        if row is None or candles.index[i] not in expected.index or compared % 2:
            compared += row is not None and candles.index[i] in expected.index
            continue  # every other signal skipped: the history must follow without them
        signal = LiveSignal.from_row(row, timeframe="5m", source="binance")
        live = scorer.feature_row(signal, window, setup=setup)
        want = expected.loc[[signal.known_at], list(dataset.features)].reset_index(drop=True)
        pd.testing.assert_frame_equal(live[list(dataset.features)], want, check_exact=True)
        compared += 1
    assert compared >= 10 and not reads
