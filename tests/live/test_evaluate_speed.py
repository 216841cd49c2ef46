"""What makes a live bar cheap, without changing a signal: a close of many feeds evaluated at
once (in one process or in worker processes) gives each feed exactly its `on_bars` signals; a
bar where no setup fires builds no pandas frame; the time-zone offsets of a few new bars equal
the whole-index conversion across a daylight-saving change."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.candles import epoch_minutes, local_minutes
from engine.detect._frame import Detections
from engine.live.evaluate import LiveEvaluator, signals_frame
from engine.setups.store import SetupStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "setups"


@dataclasses.dataclass(frozen=True)
class FeedKey:  # the shape of engine.live.feeds.FeedKey
    source: str
    symbol: str
    timeframe: str


def _home(folder: Path) -> Path:
    store = SetupStore(folder / "setups")
    both = "[BTC/USDT, ETH/USDT]"
    sma = (EXAMPLES / "sma-cross.yaml").read_text(encoding="utf-8")
    store.save(sma.replace("[BTC/USDT]", both))
    store.save(sma.replace("id: sma-cross", "id: sma-fast").replace("fast: 10", "fast: 5")
               .replace("[BTC/USDT]", both))
    pdh = (EXAMPLES / "pdh-sweep-reversal.yaml").read_text(encoding="utf-8")
    store.save(pdh.replace("timeframe: 5m", "timeframe: 1m").replace("[BTC/USDT]", both))
    return folder


def _signal_ids(per_feed: dict) -> dict:
    return {key: [s.signal_id for s in signals] for key, signals in per_feed.items()}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_close_of_many_feeds_gives_each_feed_its_on_bars_signals(tmp_path, demo_candles,
                                                                   workers, monkeypatch):
    # spawned workers re-run the main script: not the page an AppTest earlier in this pytest
    # process may have left as __main__ (the monitor's main, `ita`, is import-safe)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    btc = demo_candles.iloc[:24_000]  # the 1m sweep's whole lookback
    eth = btc * 0.07  # another market: same times, other prices
    candles = {FeedKey("binanceus", "BTC/USDT", "1m"): btc,
               FeedKey("binanceus", "ETH/USDT", "1m"): eth}
    one = LiveEvaluator(_home(tmp_path / "one"))
    many = LiveEvaluator(_home(tmp_path / "many"), workers=workers)
    size = max(one.window_bars(key) for key in candles)
    expected, got = {}, {}
    try:
        for end in range(len(btc) - 90, len(btc)):
            windows = {key: frame.iloc[max(0, end + 1 - size):end + 1]
                       for key, frame in candles.items()}
            for key, window in windows.items():
                expected.setdefault(key, []).extend(one.on_bars(key, window))
            for key, signals in many.on_closes(windows).items():
                got.setdefault(key, []).extend(signals)
    finally:
        many.close()
    assert _signal_ids(got) == _signal_ids(expected)
    assert all(len(signals) >= 3 for signals in expected.values())  # not vacuous
    for key in candles:  # every field, not only the ids
        pd.testing.assert_frame_equal(signals_frame(got[key]), signals_frame(expected[key]))


def test_a_bar_where_nothing_fires_builds_no_frame(tmp_path, demo_candles, monkeypatch):
    store = SetupStore(tmp_path / "setups")
    store.save((EXAMPLES / "sma-cross.yaml").read_text(encoding="utf-8"))
    evaluator = LiveEvaluator(tmp_path)
    key = FeedKey("binanceus", "BTC/USDT", "1m")
    built = []
    real = Detections.frame
    monkeypatch.setattr(Detections, "frame", lambda self: built.append(1) or real(self))
    day = demo_candles.iloc[:1440]
    size = evaluator.window_bars(key)
    quiet = fired = None
    for end in range(size, len(day)):
        before = len(built)
        signals = evaluator.on_bars(key, day.iloc[end + 1 - size:end + 1])
        if not signals and quiet is None:
            quiet = len(built) - before
        if signals and fired is None:
            fired, reasons = len(built) - before, signals[0].reasons
    assert quiet == 0  # no frame when no setup fires: the live monitor's usual bar
    assert fired == 0  # nor when one fires: its reasons read the detections' arrays
    assert "ma_cross" in reasons  # ... and say what fired
    # the count is live: a frame built anywhere is counted
    Detections(day.index[:1], at_i=[0], known_i=[0], kind="x", direction=[1], top=[1.0],
               bottom=[1.0]).frame()
    assert len(built) == 1


def test_the_offsets_of_a_few_new_bars_equal_the_whole_conversion_across_dst():
    # New York's clocks went forward at 07:00 UTC on 12 March 2023; London's on 26 March
    index = pd.date_range("2023-03-11 22:00", "2023-03-12 10:00", freq="5min", tz="UTC")
    for tz in ("America/New_York", "Europe/London", "Asia/Tokyo", "UTC"):
        whole = local_minutes(index, tz)
        for i in range(len(index)):
            assert local_minutes(index[i:i + 1], tz)[0] == whole[i], (tz, index[i])
        few = local_minutes(index[80:84], tz)
        np.testing.assert_array_equal(few, whole[80:84])
    offsets = local_minutes(index, "America/New_York") - epoch_minutes(index)
    assert set(offsets.tolist()) == {-300, -240}  # the change is inside the range
