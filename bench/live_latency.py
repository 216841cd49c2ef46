"""Live alert latency (issue 11): 20 active setups on 10 symbols x 2 timeframes (1m, 5m), the
real monitor, the real ccxt client against the fake Binance and the real python-telegram-bot
client against the fake Bot API (one chat, Telegram's 1 message/s per chat kept), over at
least 200 closes of an accelerated clock: the clock jumps over the monitor's sleeps, so only
its work and its deliberate wait after each close (``live_delay_seconds``) count.

Every setup version has a champion model (issue 13: one small model trained on an earlier
synthetic market, filed under each setup), so each alert carries the model's probability,
reasons and similar cases, as live.

Latency: from the bar's close (the moment the fake exchange serves the bar as closed) to the
fake Telegram accepting the photo (an album's photos are accepted together). Also: one alert
PNG, evaluating one setup on one new bar, and the champion on one live signal.

    python -m bench live_latency
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import Result, quick, synthetic_candles
from engine.candles import resample, timeframe_delta

TITLE = "Live alerts: close to Telegram (issue 11)"
SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOT", "LTC", "BNB", "AVAX", "LINK"]
TIMEFRAMES = ("1m", "5m")
HISTORY = 2_000  # 1m bars before the monitor starts
TIMING = ("one run of the monitor over the closes (the first poll, which loads the warm-up "
          "history, not measured); percentiles over every alert; the PNG: median of 10.")
SETUP = """schema_version: 1
id: {id}
name: SMA {fast}/{slow} on {symbol} {timeframe}
market: {{symbols: [{symbol}/USDT], timeframe: {timeframe}}}
conditions:
  cross: {{detector: ma_cross, kind: sma, fast: {fast}, slow: {slow}}}
signal: cross
direction: both
plan:
  entry: {{type: market}}
  stop: {{percent: 1.0}}
  target: {{percent: 2.0}}
costs: {{fee_bps: 5.0, slippage_bps: 2.0}}
"""


class SkippingClock:
    """Real time, except that a sleep jumps the clock instead of waiting."""

    def __init__(self, start: pd.Timestamp) -> None:
        self.start, self.real0, self.skipped = start, time.monotonic(), 0.0

    def __call__(self) -> pd.Timestamp:
        return self.at(time.monotonic())

    def at(self, monotonic: float) -> pd.Timestamp:
        return self.start + pd.Timedelta(seconds=monotonic - self.real0 + self.skipped)

    def sleep(self, seconds: float) -> None:
        self.skipped += seconds






def _series(closes: int) -> dict:
    bars = HISTORY + closes + 10
    series = {}
    for i, base in enumerate(SYMBOLS):
        one = synthetic_candles(bars, seed=100 + i)
        series[(f"{base}USDT", "1m")] = one
        series[(f"{base}USDT", "5m")] = resample(one, "5m")
    return series


def run() -> list[Result]:
    from engine.live.evaluate import LiveEvaluator
    from engine.live.monitor import LiveMonitor
    from engine.notify.telegram import TelegramChannel
    from engine.settings import Settings
    from engine.setups.store import SetupStore
    from tests.data.fake_exchange import FakeBinance
    from tests.fakes.telegram_api import FakeTelegram

    closes = 30 if quick() else 200
    series = _series(closes)
    first = series[("BTCUSDT", "1m")]
    clock = SkippingClock(first.index[HISTORY] + pd.Timedelta(seconds=1.6))
    with tempfile.TemporaryDirectory() as folder, FakeBinance(
            first, series=series, clock=clock) as market, FakeTelegram() as telegram:
        home = Path(folder)
        setups = SetupStore(home / "setups")
        for base in SYMBOLS:
            for timeframe in TIMEFRAMES:
                setups.save(SETUP.format(id=f"sma-{base.lower()}-{timeframe}", fast=10,
                                         slow=40, symbol=base, timeframe=timeframe))
        settings = Settings(home=home, live_exchange="binance", telegram_chat_id="42")
        _champions(settings, [f"sma-{base.lower()}-{timeframe}" for base in SYMBOLS
                              for timeframe in TIMEFRAMES])
        channel = TelegramChannel("123:abc", ["42"], base_url=telegram.base_url)
        evaluator = _Timed(LiveEvaluator(home))
        exchange = market.client(*SYMBOLS, timeout_ms=5000)
        monitor = LiveMonitor(settings, clock=clock, exchange=exchange, telegram=channel,
                              evaluator=evaluator, sleep=clock.sleep, updates=False)
        scorer = monitor.scorer = _TimedScorer(monitor.scorer)
        latencies, firsts, batches, seen = [], [], [], 0
        end = first.index[HISTORY + closes] + pd.Timedelta(seconds=1)
        try:
            monitor.run_once()  # the first poll: warm-up history (not measured)
            evaluator.reset()
            scorer.reset()
            seen = len(telegram.photos())
            while clock() < end:
                monitor.wait_for_next()
                monitor.run_once()
                photos = telegram.photos()
                batch = [_latency(monitor, photo, clock) for photo in photos[seen:]]
                if batch:  # one close's alerts, best first, in one album
                    latencies += batch
                    firsts.append(batch[0])
                    batches.append(len(batch))
                seen = len(photos)
            png = _png_seconds(monitor)
        finally:
            monitor.close()
    lat = np.array(latencies)
    note = (f"{closes} 1m closes, {len(lat)} alerts, 20 setups on 10 symbols x 1m/5m; "
            f"includes the {settings.live_delay_seconds:g} s wait after each close and "
            "Telegram's 1 msg/s per chat (an album of N counted as N)")
    queue = (f"{len(firsts)} closes with alerts, up to {max(batches, default=0)} on one close, "
             "sent as one album")
    return [
        Result("live_latency", "alert latency p50", float(np.percentile(lat, 50)), note=note),
        Result("live_latency", "alert latency p95", float(np.percentile(lat, 95)), target=2.0),
        Result("live_latency", "alert latency p99", float(np.percentile(lat, 99)), target=3.0),
        Result("live_latency", "best alert of each close p95",
               float(np.percentile(firsts, 95)), note=queue),
        Result("live_latency", "alert PNG (150 bars)", png, target=0.200, note="median of 10"),
        Result("live_latency", "one setup on one new bar", evaluator.per_setup_bar(),
               target=0.005, note=f"{type(evaluator.inner).__name__}, median over "
                                  f"{len(evaluator.seconds)} evaluations"),
        Result("live_latency", "champion on one live signal (features + model)",
               scorer.median(),
               note=f"features over its history, probability, explanation, 10 similar "
                    f"(the model part alone: bench/learn.py); median of "
                    f"{len(scorer.seconds)} ({scorer.scored} with a probability); p95 "
                    f"{scorer.p95() * 1e3:.1f} ms"),
    ]


def _champions(settings, setup_ids: list[str]) -> None:
    """One small model (trained on an earlier synthetic market with the same rule) filed as
    the champion of every setup, with its dataset beside it (for similar cases)."""
    from engine.learn.dataset import make_dataset, save_dataset
    from engine.learn.model import evaluate, train
    from engine.learn.ops import DATASET_FILE
    from engine.learn.registry import promote, save_model
    from engine.setups import parse_setup

    text = SETUP.format(id=setup_ids[0], fast=10, slow=40, symbol="BTC", timeframe="1m")
    candles = synthetic_candles(20_000, seed=7, start="2022-12-01")
    dataset = make_dataset(parse_setup(text), candles, symbol="BTC/USDT", version=1)
    evaluation = evaluate(dataset, folds=3, trees=50)
    model = train(dataset, trees=50, folds=3)
    for setup_id in setup_ids:
        own = dataclasses.replace(dataset, frame=dataset.frame.assign(setup_id=setup_id),
                                  meta={**dataset.meta, "setup_id": setup_id})
        card = save_model(settings, model, evaluation, own.meta)
        save_dataset(own, card.path / DATASET_FILE)
        promote(settings, card.model_id, reason="the benchmark's champion")


class _TimedScorer:
    """The champion scorer, timed per signal."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds, self.scored = inner, [], 0

    def reset(self) -> None:
        self.seconds, self.scored = [], 0

    def warm(self, setup_id: str, version: int, **options) -> bool:
        return self.inner.warm(setup_id, version, **options)

    def observe(self, key, candles) -> None:
        self.inner.observe(key, candles)

    def score(self, signal, candles, **options):
        started = time.perf_counter()
        out = self.inner.score(signal, candles, **options)
        self.seconds.append(time.perf_counter() - started)
        self.scored += out is not None
        return out

    def median(self) -> float:
        return float(np.median(self.seconds)) if self.seconds else float("nan")

    def p95(self) -> float:
        return float(np.percentile(self.seconds, 95)) if self.seconds else float("nan")


class _Timed:
    """The evaluator, timed per call and divided by the setups that watch the series."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, []

    def window_bars(self, key) -> int:
        return self.inner.window_bars(key)

    def reset(self) -> None:
        self.seconds = []

    def on_bars(self, key, window, **options):
        started = time.perf_counter()
        out = self.inner.on_bars(key, window, **options)
        self.seconds.append(time.perf_counter() - started)
        return out

    def per_setup_bar(self) -> float:
        return float(np.median(self.seconds)) if self.seconds else float("nan")


def _latency(monitor, photo, clock) -> float:
    signal = monitor.journal.get(monitor.journal.signal_for_message(photo.chat_id,
                                                                    photo.message_id))
    closed = signal.known_at + timeframe_delta(signal.timeframe)
    return (clock.at(photo.at) - closed).total_seconds()


def _png_seconds(monitor) -> float:
    from engine.live.alert import render_png

    signal = monitor.journal.recent(1)[0]
    key = next(k for k in monitor.windows if k.symbol == signal.symbol
               and k.timeframe == signal.timeframe)
    candles = monitor.windows[key]
    times = []
    for _ in range(10):
        started = time.perf_counter()
        render_png(candles, signal, tz="UTC")
        times.append(time.perf_counter() - started)
    return float(np.median(times))
