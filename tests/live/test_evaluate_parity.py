"""Live/backtest parity, the issue's tested property: the live path (a rolling window of
`CompiledSetup.lookback` bars, one closed bar at a time) raises exactly the signals that
`compile_setup` finds on the whole data, for every example setup, on the real demo candles.

Two replays per example: bar by bar at the setup's own timeframe over the last bars of the
demo span, and the same rule on 1m bars handed over an hour at a time (a catch-up) from the
first bar where the live window is shorter than the history behind it. Where a setup's lookback
is longer than the 21 demo days (the order block's two 14-day horizons, the 1h EMA(50) filter's
1,021 hours) its windows are the whole prefix.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.candles import resample
from engine.live.evaluate import replay, signals_frame
from engine.setups.compile import compile_setup
from engine.setups.parse import parse_setup

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))
COMPARED = ["known_at", "symbol", "direction", "entry_type", "entry", "stop", "target",
            "r_planned", "expiry_bars", "time_exit_bars", "setup_id", "setup_version",
            "reasons"]
TAIL_BARS = {"1m": 600, "5m": 150, "15m": 300}


@pytest.fixture(scope="module")
def demo_by_timeframe(demo_candles) -> dict[str, pd.DataFrame]:
    return {"1m": demo_candles.iloc[-3 * 1440:],
            "5m": resample(demo_candles, "5m", source_timeframe="1m"),
            "15m": resample(demo_candles, "15m", source_timeframe="1m")}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_bar_by_bar_replay_equals_the_whole_data_signals(path, demo_by_timeframe):
    setup = parse_setup(path.read_text(encoding="utf-8"), source=str(path))
    candles = demo_by_timeframe[setup.market.timeframe]
    start = len(candles) - TAIL_BARS[setup.market.timeframe]

    live = replay(setup, 3, candles, timeframe=setup.market.timeframe, source="binanceus",
                  start=start)

    whole = compile_setup(setup, version=3)(candles, symbol=setup.market.symbols[0])
    whole = whole[whole["known_at"] >= candles.index[start]].reset_index(drop=True)
    got = signals_frame(live)
    assert len(got) == len(whole)
    pd.testing.assert_frame_equal(got[COMPARED].astype(whole[COMPARED].dtypes),
                                  whole[COMPARED], check_exact=True)
    assert set(got["timeframe"]) <= {setup.market.timeframe}
    assert got["signal_id"].is_unique


def _on_1m(path: Path):
    text = path.read_text(encoding="utf-8")
    for timeframe in ("5m", "15m"):
        text = text.replace(f"timeframe: {timeframe}", "timeframe: 1m")
    return parse_setup(text, source=str(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_hourly_catch_up_on_1m_equals_the_whole_data_signals(path, demo_candles):
    setup = _on_1m(path)
    compiled = compile_setup(setup, version=1)
    start = min(compiled.lookback, len(demo_candles) - 1)

    live = replay(setup, 1, demo_candles, timeframe="1m", source="binanceus", start=start,
                  step=60)

    whole = compiled(demo_candles, symbol=setup.market.symbols[0])
    whole = whole[whole["known_at"] >= demo_candles.index[start]].reset_index(drop=True)
    got = signals_frame(live)
    assert len(got) == len(whole)
    pd.testing.assert_frame_equal(got[COMPARED].astype(whole[COMPARED].dtypes),
                                  whole[COMPARED], check_exact=True)


def test_the_catch_up_replays_are_not_vacuous(demo_candles):
    """The 1m sweeps decide real signals on windows shorter than their history (so the
    horizon and the ATR warm-up are what is tested, not a whole-prefix window)."""
    for stem in ("london-asia-sweep-fvg", "pdh-sweep-reversal"):
        setup = _on_1m(next(p for p in EXAMPLES if p.stem == stem))
        compiled = compile_setup(setup)
        assert compiled.lookback < len(demo_candles) - 1000
        signals = compiled(demo_candles, symbol="BTC/USDT")
        assert (signals["known_at"] >= demo_candles.index[compiled.lookback]).any()


def test_a_context_filter_reads_only_closed_hours_on_windows_cut_inside_an_hour(
        demo_by_timeframe):
    """The 1h trend filter with a short EMA, so the live window (1,452 5m bars) is much shorter
    than the history: windows start and end inside an hour, whose partial 1h bars must never
    count, and every bar's signals still equal the whole data's."""
    path = next(p for p in EXAMPLES if p.stem == "ny-fvg-continuation")
    text = path.read_text(encoding="utf-8").replace("period: 50", "period: 5")
    text = text.replace("sessions: [ny_am_kz]", "sessions: [london, new_york]")
    text = text.replace("event: touched", "event: formed")  # no 14-day gap horizon
    setup = parse_setup(text)
    candles = demo_by_timeframe["5m"]
    compiled = compile_setup(setup, version=1)
    assert compiled.lookback == (20 * 6 + 1) * 12
    start = compiled.lookback + 7  # not on an hour

    live = signals_frame(replay(setup, 1, candles, timeframe="5m", source="binanceus",
                                start=start, step=5))

    whole = compiled(candles, symbol="BTC/USDT")
    whole = whole[whole["known_at"] >= candles.index[start]].reset_index(drop=True)
    assert len(whole) >= 3
    pd.testing.assert_frame_equal(live[COMPARED].astype(whole[COMPARED].dtypes),
                                  whole[COMPARED], check_exact=True)
