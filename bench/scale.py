"""Scale-out on Dask (issue 16): the SMA sweep of 100 and 1,000 variants on a year of 1m on a
warm `LocalCluster` of 1 and of 2 worker processes (127.0.0.1), the cluster's start-up
reported separately, the cost of one task on a warm pool, and the crossover: the smallest
sweep that is faster on the 2-worker pool than in this process (`distributed.DASK_FROM`)."""

from __future__ import annotations

import time

from bench._common import Result, fresh, measure, quick, synthetic_candles
from bench.backtest import NO_COSTS, SMA, SWEEP, SWEEP_1000, UNIT
from engine.backtest import distributed
from engine.backtest.distributed import connect
from engine.backtest.optimise import sweep

TITLE = "Scale-out on Dask (issue 16)"
TIMING = ("warm pools: each cluster is started once, outside the timers (its start-up is its "
          "own row); every sweep: 1 warm-up call, then the best of 2 (1 of 1 in --quick), "
          "candles scattered to the workers inside the timer")
SMALL = {"conditions.cross.fast": [5, 10, 15], "conditions.cross.slow": [20, 40, 60, 90]}


def _noop(x):
    return x


def _sweeper(values: dict, client):
    def run(candles) -> None:
        sweep(SMA, candles, symbol="S", values=values, costs=NO_COSTS, sizing=UNIT,
              min_trades=1, workers=1, client=client)
    return run


def _task_overhead(client, tasks: int = 200) -> float:
    """Seconds per task of `tasks` no-op tasks submitted together (round trip included)."""
    client.gather(client.map(_noop, range(20), pure=False))
    start = time.perf_counter()
    client.gather(client.map(_noop, range(tasks), pure=False))
    return (time.perf_counter() - start) / tasks


def _crossover(client, candles) -> str:
    """Variants x bars of the smallest of a few sweeps that is faster on `client`."""
    for bars in (2_000, 20_000, 100_000, len(candles)):
        frame = candles.iloc[:bars]
        here = measure(_sweeper(SMALL, None), make_input=fresh(frame), warmup=1, repeat=2)
        there = measure(_sweeper(SMALL, client), make_input=fresh(frame), warmup=1, repeat=2)
        if there < here:
            return (f"{12 * bars:,} variants x bars (12 variants on {bars:,} bars: "
                    f"{here * 1000:.0f} ms here, {there * 1000:.0f} ms on 2 workers)")
    return ("none: up to 12 variants on a year of 1m, this process alone was faster than the "
            "pool on this 2-core machine")


def run() -> list[Result]:
    year = synthetic_candles()
    repeat = 1 if quick() else 2
    saved, distributed.DASK_FROM = distributed.DASK_FROM, 0  # every sweep on the pool
    results = []
    try:
        timed = {}
        for workers in (1, 2):
            start = time.perf_counter()
            with connect("local", workers=workers) as client:
                timed[("start", workers)] = time.perf_counter() - start
                timed[("task", workers)] = _task_overhead(client)
                for name, values in (("100", SWEEP), ("1000", SWEEP_1000)):
                    timed[(name, workers)] = measure(_sweeper(values, client),
                                                     make_input=fresh(year), warmup=1,
                                                     repeat=repeat)
                if workers == 2:
                    crossover = _crossover(client, year)
        one = measure(_sweeper(SWEEP, None), make_input=fresh(year), warmup=1, repeat=repeat)
    finally:
        distributed.DASK_FROM = saved
    results += [
        Result("scale", "LocalCluster start-up, 2 worker processes", timed[("start", 2)],
               note=f"1 worker: {timed[('start', 1)] * 1000:.0f} ms"),
        Result("scale", "one task on a warm 2-worker pool (200 no-op tasks at once)",
               timed[("task", 2)], note=f"1 worker: {timed[('task', 1)] * 1000:.2f} ms"),
        Result("scale", "sweep of 100 variants, 1y 1m, warm 2-worker pool", timed[("100", 2)],
               target=0.5, peer="1 worker", peer_seconds=timed[("100", 1)],
               note=f"in this process alone: {one:.2f} s"),
        Result("scale", "sweep of 1,000 variants, 1y 1m, warm 2-worker pool",
               timed[("1000", 2)], target=4.0, peer="1 worker",
               peer_seconds=timed[("1000", 1)]),
        Result("scale", "crossover: a sweep is faster on the 2-worker pool from", 0.0,
               note=crossover),
    ]
    return results
