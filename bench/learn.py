"""Learning (issue 13). The dataset of each example setup (signals, features from the bars up
to each signal, every signal simulated alone with 1m bars under higher-timeframe ones) on one
year of 1m candles, resampled to the setup's timeframe. Target: < 2 s. Then, on the largest of
those datasets (the SMA crossover: about 20,000 signals): walk-forward evaluation (5 purged
folds, 200 trees) and training of the final model (target < 30 s together), and what a live
alert asks of the champion — one signal's probability, its explanation and its 10 most similar
past signals (target < 20 ms, median over 200 signals)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench._common import Result, fresh, measure, synthetic_candles
from engine.candles import resample
from engine.learn.dataset import make_dataset
from engine.learn.explain import SimilarIndex, explain, similar
from engine.learn.model import evaluate, train
from engine.setups import parse_setup

TITLE = "Learning (issue 13)"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "setups").glob("*.yaml"))
WARMUP, REPEAT = 1, 3
TIMING = f"{WARMUP} warm-up call, then the best of {REPEAT}; the 1m bars are shared, not copied."


def run() -> list[Result]:
    year = synthetic_candles()
    results, datasets = [], []
    for path in EXAMPLES:
        setup = parse_setup(path.read_text())
        one_minute = setup.market.timeframe == "1m"
        candles = year if one_minute else resample(year, setup.market.timeframe)
        lower = None if one_minute else year

        def dataset_of(given, setup=setup, lower=lower):
            return make_dataset(setup, given, symbol="SYN/USD", version=1, lower_candles=lower)

        seconds = measure(dataset_of, make_input=fresh(candles), warmup=WARMUP, repeat=REPEAT)
        built = dataset_of(candles)
        datasets.append(built)
        results.append(Result(
            "learn", f"dataset {setup.id} ({setup.market.timeframe}, {len(candles):,} bars)",
            seconds, target=2.0,
            note=f"{len(built.frame):,} rows of {built.meta['signals']:,} signals, "
                 f"{len(built.features)} features"))
    results += _model_results(max(datasets, key=lambda built: len(built.frame)))
    return results


def _model_results(dataset) -> list[Result]:
    started = time.perf_counter()
    evaluation = evaluate(dataset, folds=5, trees=200)
    model = train(dataset, trees=200)
    trained = time.perf_counter() - started
    name = dataset.meta.get("setup_id", "setup")
    results = [Result("learn", f"walk-forward evaluation + training ({name}, "
                               f"{len(dataset.frame):,} signals)", trained, target=30.0,
                      note=f"5 purged folds x 200 trees, then the final model; "
                           f"{evaluation.verdict}")]
    index = SimilarIndex(dataset)
    rows = dataset.frame.iloc[np.linspace(len(dataset.frame) // 2, len(dataset.frame) - 1,
                                          200).astype(int)]
    times = []
    for position in range(len(rows)):
        row = rows.iloc[[position]]
        started = time.perf_counter()
        explain(model, row)
        similar(index, row, k=10)
        times.append(time.perf_counter() - started)
    results.append(Result("learn", "one live signal: probability, explanation, 10 similar",
                          float(np.median(times)), target=0.020,
                          note=f"median of 200; p95 {np.percentile(times, 95) * 1e3:.1f} ms"))
    return results
