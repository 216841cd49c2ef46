"""The live evaluator: each closed bar once and in order, forming bars never, the feed's symbol
and timeframe only, active versions hot-reloaded from the setup store."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from engine.live.evaluate import LiveEvaluator, LiveSignal, signals_frame
from engine.setups.compile import compile_setup
from engine.setups.store import SetupStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"
SMA_CROSS = (EXAMPLES / "sma-cross.yaml").read_text(encoding="utf-8")


@dataclasses.dataclass(frozen=True)
class FeedKey:  # the shape of engine.live.feeds.FeedKey
    source: str
    symbol: str
    timeframe: str


KEY = FeedKey("binanceus", "BTC/USDT", "1m")


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    SetupStore(tmp_path / "setups").seed_examples(EXAMPLES)
    return tmp_path


@pytest.fixture(scope="module")
def day(demo_candles) -> pd.DataFrame:
    return demo_candles.iloc[20_000:21_440]


@pytest.fixture(scope="module")
def whole(day) -> pd.DataFrame:
    """sma-cross v1's signals on the whole day: what the backtest sees."""
    from engine.setups.parse import parse_setup

    return compile_setup(parse_setup(SMA_CROSS), version=1)(day, symbol="BTC/USDT")


def test_signal_id_and_row_round_trip(whole):
    signal = LiveSignal.from_row(whole.iloc[0], timeframe="1m", source="binanceus")
    side = "long" if signal.direction > 0 else "short"
    assert signal.signal_id == (f"sma-cross@v1|binanceus:BTC/USDT|1m|"
                                f"{whole['known_at'].iloc[0]:%Y-%m-%dT%H:%M}Z|{side}")
    assert signal.known_at.tz is not None and signal.entry == whole["entry"].iloc[0]
    from_dict = LiveSignal.from_row(whole.iloc[0].to_dict(), timeframe="1m", source="binanceus")
    assert (from_dict.signal_id, from_dict.stop) == (signal.signal_id, signal.stop)
    frame = signals_frame([signal])
    assert frame["signal_id"].tolist() == [signal.signal_id]


def test_each_bar_once_in_order_and_a_catch_up_emits_every_missed_bar(home, day, whole):
    evaluator = LiveEvaluator(home)
    assert evaluator.window_bars(KEY) == 31  # only sma-cross watches 1m
    seen: list[LiveSignal] = []
    for end in range(100, 700):  # bar by bar
        seen += evaluator.on_bars(KEY, day.iloc[:end + 1])
    assert evaluator.on_bars(KEY, day.iloc[:700]) == []  # the same bar again: nothing
    seen += evaluator.on_bars(KEY, day.iloc[:900])  # 200 bars at once after a gap
    known_at = whole["known_at"]
    expected = whole[(known_at >= day.index[100]) & (known_at <= day.index[899])]
    got = signals_frame(seen)
    assert got["known_at"].tolist() == expected["known_at"].tolist()
    assert got["stop"].tolist() == expected["stop"].tolist()
    assert got["signal_id"].is_unique and got["known_at"].is_monotonic_increasing


def test_the_first_window_counts_only_its_last_bar_as_new(home, day, whole):
    last_signal_bar = day.index.get_loc(whole["known_at"].iloc[5])
    window = day.iloc[:last_signal_bar + 1]
    assert len(LiveEvaluator(home).on_bars(KEY, window)) == 1  # not the five before it
    assert len(LiveEvaluator(home).on_bars(KEY, window, new_bars=len(window))) == 6


def test_a_bar_that_has_not_closed_never_signals(home, day, whole, caplog):
    bar = whole["known_at"].iloc[3]
    window = day.loc[:bar]
    evaluator = LiveEvaluator(home)
    with caplog.at_level(logging.WARNING, logger="engine.live.evaluate"):
        assert evaluator.on_bars(KEY, window, now=bar + pd.Timedelta(seconds=59)) == []
    assert "not closed" in caplog.text
    signals = evaluator.on_bars(KEY, window, now=bar + pd.Timedelta(minutes=1))
    assert [s.known_at for s in signals] == [bar]


def test_only_setups_listing_the_feeds_symbol_and_timeframe(home, day):
    evaluator = LiveEvaluator(home)
    assert evaluator.on_bars(FeedKey("binanceus", "ETH/USDT", "1m"), day) == []
    assert evaluator.window_bars(FeedKey("binanceus", "BTC/USDT", "3m")) == 0
    assert evaluator.window_bars(FeedKey("binanceus", "BTC/USDT", "5m")) > 5000


def test_activating_a_version_takes_effect_on_the_next_bar(home, day, whole):
    store = SetupStore(home / "setups")
    evaluator = LiveEvaluator(home)
    bars = [day.index.get_loc(t) for t in whole["known_at"].iloc[:3]]
    first = evaluator.on_bars(KEY, day.iloc[:bars[0] + 1])
    assert [(s.setup_version, s.stop) for s in first] == [(1, whole["stop"].iloc[0])]

    store.save(SMA_CROSS.replace("stop: {percent: 1.0}", "stop: {percent: 0.5}"))  # v2, active
    second = evaluator.on_bars(KEY, day.iloc[:bars[1] + 1])
    entry = whole["entry"].iloc[1]
    direction = whole["direction"].iloc[1]
    assert [s.setup_version for s in second] == [2]
    assert second[0].stop == pytest.approx(entry * (1 - direction * 0.005))

    store.activate("sma-cross", 1)  # roll back
    third = evaluator.on_bars(KEY, day.iloc[:bars[2] + 1])
    assert [(s.setup_version, s.stop) for s in third] == [(1, whole["stop"].iloc[2])]


def test_a_version_that_cannot_be_loaded_keeps_the_last_good_one(home, day, whole, caplog):
    evaluator = LiveEvaluator(home)
    assert evaluator.active()["sma-cross"] == 1
    folder = home / "setups" / "sma-cross"
    (folder / "v0002.yaml").write_text("id: sma-cross\nmarket: {timeframe: 1m}\n")
    (folder / "active").write_text("2\n")
    os.utime(folder)
    with caplog.at_level(logging.ERROR, logger="engine.live.evaluate"):
        assert evaluator.active()["sma-cross"] == 1
    assert "sma-cross v2 not loaded" in caplog.text
    bar = day.index.get_loc(whole["known_at"].iloc[0])
    assert [s.setup_version for s in evaluator.on_bars(KEY, day.iloc[:bar + 1])] == [1]


def test_setups_on_one_feed_share_their_detections(tmp_path, day, monkeypatch):
    store = SetupStore(tmp_path / "setups")
    for setup_id, target in (("gap-a", 2), ("gap-b", 3)):
        store.save(f"""
id: {setup_id}
name: Gap {target}R
market: {{symbols: [BTC/USDT], timeframe: 1m}}
conditions: {{gap: {{detector: fvg, direction: bullish}}}}
signal: gap
direction: long
plan: {{stop: {{level: gap.bottom}}, target: {{r_multiple: {target}}}}}
""")
    import engine.setups.compile
    from engine.detect import detect_fvg

    calls = []
    real = engine.setups.compile.fvg_detections
    monkeypatch.setattr(engine.setups.compile, "fvg_detections",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    evaluator = LiveEvaluator(tmp_path)
    gaps = detect_fvg(day)
    bar = int(gaps["known_i"][(gaps["direction"] == 1) & (gaps["known_i"] > 50)].iloc[0])
    signals = evaluator.on_bars(KEY, day.iloc[:bar + 1])
    assert len(calls) == 1  # one detection for both setups
    assert [(s.setup_id, s.r_planned) for s in signals] == [("gap-a", 2.0), ("gap-b", 3.0)]


def test_a_window_shorter_than_the_lookback_is_said_once(home, day, caplog):
    evaluator = LiveEvaluator(home)
    with caplog.at_level(logging.WARNING, logger="engine.live.evaluate"):
        for end in range(10, 14):
            evaluator.on_bars(KEY, day.iloc[:end + 1])
        evaluator.on_bars(KEY, day.iloc[:100])
    assert "11 bars of history, 31 needed" in caplog.text
    assert caplog.text.count("bars of history, 31 needed") == 1
