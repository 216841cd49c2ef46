"""The live scorer with a pooled champion (issue 13): a live signal of a setup with too few
signals of its own is scored by the pooled model (its setup column filled in), with the same
probability the Learning page shows for the same signal, and similar cases of its own setup
(the pool's when it has fewer than k earlier ones, said so)."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.adapters.store import CandleStore
from engine.candles import resample
from engine.learn import ops
from engine.learn.dataset import make_dataset
from engine.learn.live import ChampionScorer
from engine.learn.registry import load_model, promote
from engine.live.evaluate import LiveSignal
from engine.settings import Settings
from engine.setups import compile_setup, parse_setup

SMA = """schema_version: 1
id: sma5
name: SMA 3/8 on 5m
market: {symbols: [BTC/USDT], timeframe: 5m}
conditions:
  cross: {detector: ma_cross, kind: sma, fast: 3, slow: 8}
signal: cross
direction: both
plan:
  entry: {type: market}
  stop: {percent: 0.5}
  target: {r_multiple: 2.0}
costs: {fee_bps: 0.0, slippage_bps: 0.0}
"""
RARE = """schema_version: 1
id: rare
name: Rare big gaps
market: {symbols: [BTC/USDT], timeframe: 5m}
conditions:
  gap: {detector: fvg, direction: bullish, min_size_atr: 1.5}
signal: gap
direction: long
plan:
  entry: {type: market}
  stop: {percent: 0.5}
  target: {r_multiple: 2.0}
costs: {fee_bps: 0.0, slippage_bps: 0.0}
"""
WINDOW = 60


@pytest.fixture(scope="module")
def candles(demo_candles) -> pd.DataFrame:
    return resample(demo_candles, "5m", source_timeframe="1m")


def test_a_small_setups_live_signal_is_scored_by_the_pooled_champion(candles, tmp_path):
    settings = Settings(home=tmp_path)
    rare = parse_setup(RARE)
    datasets = {"sma5@1": make_dataset(parse_setup(SMA), candles, symbol="BTC/USDT", version=1),
                "rare@1": make_dataset(rare, candles, symbol="BTC/USDT", version=1)}
    assert len(datasets["rare@1"].frame) < 55 < len(datasets["sma5@1"].frame)
    result = ops.learn_pool(settings, datasets=datasets, folds=3, trees=15)
    mine = result.results["rare@1"]
    assert set(result.results) == {"rare@1"} and mine.trained
    if not mine.decision.promoted:  # on three weeks it may be no better than chance
        promote(settings, mine.card.model_id)

    store = CandleStore(tmp_path / "candles")
    store.upsert(candles, source="binance", symbol="BTC/USDT", timeframe="5m")
    scorer = ChampionScorer(settings, store=store)
    signals = compile_setup(rare, version=1)(candles, symbol="BTC/USDT")
    own = datasets["rare@1"]
    signals = signals[signals["known_at"].isin(set(own.frame["known_at"]))]
    row = signals.iloc[-1]  # its latest signal: 15 earlier ones of its own
    signal = LiveSignal.from_row(row, timeframe="5m", source="binance")
    bar = int(candles.index.get_loc(signal.known_at))
    score = scorer.score(signal, candles.iloc[bar + 1 - WINDOW:bar + 1], setup=rare)
    assert score is not None and score.model_id == mine.card.model_id
    # the same probability the page and `ita learn explain` give for this signal
    model, card = load_model(settings, mine.card.model_id)
    signal_id = str(own.frame.loc[own.frame["known_at"] == signal.known_at, "signal_id"].iloc[0])
    _, explanation, cases = ops.signal_story(model, own, signal_id, pool=ops.pool_of(card))
    assert score.probability == pytest.approx(explanation.probability, abs=1e-9)
    assert len(score.similar.rows) == 10 and set(score.similar.rows["setup_id"]) == {"rare"}
    assert score.similar.summary == cases.summary
    assert "drawn from every setup" not in score.similar.summary
    # its first signal has no earlier one of its own: the pool's, said so
    first = LiveSignal.from_row(signals.iloc[0], timeframe="5m", source="binance")
    bar = int(candles.index.get_loc(first.known_at))
    early = scorer.score(first, candles.iloc[max(0, bar + 1 - WINDOW):bar + 1], setup=rare)
    assert early is not None and "drawn from every setup of the pool" in early.similar.summary
    assert set(early.similar.rows["setup_id"]) <= {"sma5"}
