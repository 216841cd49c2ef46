"""Learning (issue 13). The dataset of each example setup (signals, features from the bars up
to each signal, every signal simulated alone with 1m bars under higher-timeframe ones) on one
year of 1m candles, resampled to the setup's timeframe. Target: < 2 s."""

from __future__ import annotations

from pathlib import Path

from bench._common import Result, fresh, measure, synthetic_candles
from engine.candles import resample
from engine.learn.dataset import make_dataset
from engine.setups import parse_setup

TITLE = "Learning (issue 13)"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "setups").glob("*.yaml"))
WARMUP, REPEAT = 1, 3
TIMING = f"{WARMUP} warm-up call, then the best of {REPEAT}; the 1m bars are shared, not copied."


def run() -> list[Result]:
    year = synthetic_candles()
    results = []
    for path in EXAMPLES:
        setup = parse_setup(path.read_text())
        one_minute = setup.market.timeframe == "1m"
        candles = year if one_minute else resample(year, setup.market.timeframe)
        lower = None if one_minute else year

        def dataset_of(given, setup=setup, lower=lower):
            return make_dataset(setup, given, symbol="SYN/USD", version=1, lower_candles=lower)

        seconds = measure(dataset_of, make_input=fresh(candles), warmup=WARMUP, repeat=REPEAT)
        built = dataset_of(candles)
        results.append(Result(
            "learn", f"dataset {setup.id} ({setup.market.timeframe}, {len(candles):,} bars)",
            seconds, target=2.0,
            note=f"{len(built.frame):,} rows of {built.meta['signals']:,} signals, "
                 f"{len(built.features)} features"))
    return results
