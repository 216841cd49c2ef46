"""Live evaluation (issue 11): one setup on one new bar, and a close where 20 setups on 10
symbols fire together, through `engine.live.evaluate.LiveEvaluator` as the monitor calls it.

Per setup per bar: each example setup alone, at its own timeframe, on synthetic candles; the
window is `window_bars` long (the setup's lookback: up to 14 days of zone horizon), one new bar
per call, as after each close. Median and p95 over the timed bars (target: p95 < 5 ms).

A close: the five examples in four variants each (target 1.5, 2, 2.5 or 3 R: the variants of
one example share their detections) = 20 setups, each on 10 symbols at its timeframe (1m, 5m,
15m): at a 15m close 30 feeds and 200 (setup, symbol) evaluations are due at once. The 1m
steps between two 15m closes are evaluated untimed; the closes are timed, in one process
(`on_closes`, ``workers=1``) and in two worker processes (``workers=2``). Whether two processes
can help depends on a free second core: the note gives the speed-up two processes had on a
pure-Python loop just before (about 2 on a quiet two-core machine). On the shared development
machine (load 5-7 on 2 cores) it was 0.75-1.4, and ``workers=2`` was slower than one process
(IPC and a worker's own scheduling on top of the same CPU share); the monitor keeps one process
unless a machine with a free core measures otherwise.

    python -m bench.live_eval           # prints the rows
    python -m bench.live_eval --quick
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import Result, quick, synthetic_candles
from engine.candles import resample

TITLE = "Live evaluation: one setup on one new bar, and a 20 x 10 close (issue 11)"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "setups").glob("*.yaml"))
SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOT", "LTC", "BNB", "AVAX", "LINK"]
TARGETS = (1.5, 2.0, 2.5, 3.0)
WARMUP_BARS = 20
TIMING = ("per bar: 20 untimed bars, then every bar timed (median, p95); a close: every 15m "
          "close timed after one untimed close.")


def _feed(symbol: str, timeframe: str):
    from engine.live.evaluate import _Feed

    return _Feed("binanceus", symbol, timeframe)


def _history(days: int, seed: int) -> dict[str, pd.DataFrame]:
    one = synthetic_candles(days * 1440, seed=seed, start="2024-01-01")
    return {"1m": one, "5m": resample(one, "5m"), "15m": resample(one, "15m")}


def _cases() -> list[tuple[str, str]]:
    """(name, setup text): each example at its timeframe, and the two sweeps on 1m, whose
    14-day zone horizon makes the longest windows of 1m bars."""
    cases = [(path.stem, path.read_text(encoding="utf-8")) for path in EXAMPLES]
    for stem in ("london-asia-sweep-fvg", "pdh-sweep-reversal"):
        text = (EXAMPLES[0].parent / f"{stem}.yaml").read_text(encoding="utf-8")
        cases.append((f"{stem} on 1m", text.replace("timeframe: 5m", "timeframe: 1m")))
    return cases


def per_setup_bar(bars: int) -> list[Result]:
    """Each case alone: median and p95 of one new bar over `bars` bars (1m: a day, so the
    session bars that evaluate fully are in)."""
    from engine.live.evaluate import LiveEvaluator
    from engine.setups.store import SetupStore

    frames = _history(120, seed=3)
    results = []
    for label, text in _cases():
        with tempfile.TemporaryDirectory() as home:
            store = SetupStore(Path(home) / "setups")
            timeframe = store.save(text).setup.market.timeframe
            evaluator = LiveEvaluator(home)
            key = _feed("BTC/USDT", timeframe)
            candles, size = frames[timeframe], evaluator.window_bars(key)
            count = max(bars, 1440) if timeframe == "1m" and not quick() else bars
            seconds, cpu = [], []
            for end in range(len(candles) - count - WARMUP_BARS, len(candles)):
                window = candles.iloc[end + 1 - size:end + 1]
                started, started_cpu = time.perf_counter(), time.process_time()
                evaluator.on_bars(key, window)
                seconds.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            timed, timed_cpu = np.array(seconds[WARMUP_BARS:]), np.array(cpu[WARMUP_BARS:])
            name = f"{label} ({timeframe}, {size:,}-bar window)"
            results += [
                Result("live_eval", f"{name} median", float(np.median(timed)),
                       note=f"{len(timed)} bars"),
                Result("live_eval", f"{name} p95", float(np.percentile(timed, 95)),
                       target=0.005, note=f"CPU time p95 {np.percentile(timed_cpu, 95) * 1000:.1f}"
                                          " ms (what a quiet machine would show)"),
            ]
    return results


def _close_home(home: Path) -> None:
    from engine.setups.store import SetupStore

    store = SetupStore(home / "setups")
    symbols = ", ".join(f"{s}/USDT" for s in SYMBOLS)
    for path in EXAMPLES:
        text = path.read_text(encoding="utf-8").replace("[BTC/USDT]", f"[{symbols}]")
        for target in TARGETS:
            variant = text.replace(f"id: {path.stem}", f"id: {path.stem}-{target:g}r")
            variant = variant.replace("target: {r_multiple: 2.5}", "target: {r_multiple: 2}")
            variant = variant.replace("target: {r_multiple: 2.0}", "target: {r_multiple: 2}")
            variant = variant.replace("target: {r_multiple: 2}",
                                      f"target: {{r_multiple: {target}}}")
            store.save(variant)


def close_seconds(closes: int, workers: int) -> tuple[list[float], int, int]:
    """Wall seconds of each timed 15m close (every feed at once), evaluations per close, and
    the signals raised over the timed closes."""
    from engine.live.evaluate import LiveEvaluator

    days = 110  # the longest lookback: 104 days of 15m (two 14-day zone horizons, 5,000 bars)
    history = {base: _history(days, seed=200 + i) for i, base in enumerate(SYMBOLS)}
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        _close_home(home)
        evaluator = LiveEvaluator(home, workers=workers)
        keys = [_feed(f"{base}/USDT", tf) for base in SYMBOLS for tf in ("1m", "5m", "15m")]
        sizes = {key: evaluator.window_bars(key) for key in keys}
        evaluations = sum(len(evaluator.setups_for(key)) for key in keys)
        one = history[SYMBOLS[0]]["1m"]
        last_close = one.index[-1].floor("15min")
        first = last_close - pd.Timedelta(minutes=15 * closes)
        seconds, signals = [], 0
        try:
            for now in pd.date_range(first, last_close, freq="1min"):
                windows = {}
                for key in keys:
                    candles = history[key.symbol.split("/")[0]][key.timeframe]
                    end = candles.index.searchsorted(now, side="left")  # bars closed by now
                    if end and (key.timeframe == "1m" or now.minute % int(key.timeframe[:-1])
                                == 0):
                        windows[key] = candles.iloc[max(0, end - sizes[key]):end]
                started = time.perf_counter()
                out = evaluator.on_closes(windows)
                elapsed = time.perf_counter() - started
                if now.minute % 15 == 0 and now > first:
                    seconds.append(elapsed)
                    signals += sum(len(v) for v in out.values())
        finally:
            evaluator.close()
    return seconds, evaluations, signals


def _spin(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i * i
    return total


def headroom() -> float:
    """How much faster two processes run two pure-Python loops than one process does, now:
    about 2 on a quiet two-core machine, about 1 when other work holds the cores."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    loops = 2_000_000
    started = time.perf_counter()
    _spin(loops), _spin(loops)
    alone = time.perf_counter() - started
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_spin, [10, 10]))
        started = time.perf_counter()
        list(pool.map(_spin, [loops, loops]))
        both = time.perf_counter() - started
    return alone / both


def run() -> list[Result]:
    results = per_setup_bar(40 if quick() else 300)
    closes = 2 if quick() else 8
    spare = headroom()
    for workers in (1, 2):
        seconds, evaluations, signals = close_seconds(closes, workers)
        results.append(Result(
            "live_eval", f"a 15m close, 20 setups x 10 symbols, {workers} process(es)",
            float(np.median(seconds)),
            note=f"median of {len(seconds)} closes; {evaluations} evaluations each "
                 f"(30 feeds), {signals} signals; worst {max(seconds) * 1000:.0f} ms; two "
                 f"processes ran a pure loop {spare:.2f}x as fast as one, just before"))
    return results


def main(argv: list[str]) -> int:
    if "--quick" in argv:
        import os

        os.environ["ITA_BENCH_QUICK"] = "1"
    for r in run():
        target = f" (target {r.target * 1000:g} ms: {'met' if r.met else 'MISSED'})" \
            if r.target else ""
        print(f"{r.name}: {r.seconds * 1000:.2f} ms{target} {r.note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
