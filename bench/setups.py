"""Each example setup compiled and run end to end (detection + combination + plan) on one
year of 1m candles, resampled to the setup's timeframe where it is higher. Target: < 200 ms."""

from __future__ import annotations

from pathlib import Path

from bench._common import Result, fresh, measure, synthetic_candles
from engine.candles import resample
from engine.setups import compile_setup, parse_setup

TITLE = "Setups compiled end to end (issue 3)"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "setups").glob("*.yaml"))
WARMUP, REPEAT = 1, 7
TIMING = f"{WARMUP} warm-up call, then the best of {REPEAT}."


def run() -> list[Result]:
    year = synthetic_candles()
    results = []
    for path in EXAMPLES:
        setup = parse_setup(path.read_text())
        candles = year if setup.market.timeframe == "1m" else resample(
            year, setup.market.timeframe)
        compiled = compile_setup(setup)

        def signals_of(given, compiled=compiled):
            return compiled(given, symbol="SYN/USD")

        seconds = measure(signals_of, make_input=fresh(candles), warmup=WARMUP, repeat=REPEAT)
        signals = len(signals_of(candles))
        results.append(Result("setups", f"{setup.id} ({setup.market.timeframe}, "
                                        f"{len(candles):,} bars)", seconds, target=0.200,
                              note=f"{signals:,} signals"))
    return results
