"""Scale-out on Dask (issue 16): the SMA sweep of 100 and 1,000 variants on a year of 1m on a
warm `LocalCluster` of 1 and of 2 worker processes (127.0.0.1), the cluster's start-up
reported separately, the cost of one task on a warm pool, and the crossover: the smallest
sweep that is faster on the 2-worker pool than in this process (`distributed.DASK_FROM`).

A warm pool is a started cluster whose workers already hold the candles (shipped by an
earlier sweep on the same series: `distributed.shipped`): every timed sweep gets a fresh copy
of the candles, fingerprints it inside the timer and ships only its variants. The first sweep
on candles new to the pool (shipped inside the timer) is its own row."""

from __future__ import annotations

import itertools
import time

from bench._common import Result, fresh, fresh_copy, measure, quick, synthetic_candles
from bench.backtest import NO_COSTS, SMA, SWEEP, SWEEP_1000, UNIT
from engine.backtest import distributed
from engine.backtest.distributed import connect
from engine.backtest.lean import LeanRunner, LeanSpec
from engine.backtest.optimise import sweep, sweep_variants
from engine.setups import apply_parameters

TITLE = "Scale-out on Dask (issue 16)"
TIMING = ("warm pools: each cluster is started once, outside the timers (its start-up is its "
          "own row); every sweep: 1 warm-up call (which ships the candles to the workers), "
          "then the best of 2 (1 of 1 in --quick) on a fresh copy of the same candles, "
          "fingerprinted inside the timer; the in-process baselines in the same run")
SMALL = {"conditions.cross.fast": [5, 10, 15], "conditions.cross.slow": [20, 40, 60, 90]}


def _noop(x):
    return x


def _sweeper(values: dict, client, workers: int = 1):
    def run(candles) -> None:
        sweep(SMA, candles, symbol="S", values=values, costs=NO_COSTS, sizing=UNIT,
              min_trades=1, workers=workers, client=client)
    return run


def _new_candles(candles):
    """`make_input` of candles the pool has never seen: a fresh copy, every price scaled by a
    factor of its own (a new fingerprint, the same bars)."""
    factors = itertools.count(1)

    def make():
        copy = fresh_copy(candles)
        copy[["open", "high", "low", "close"]] *= 1.0 + next(factors) * 1e-6
        return copy
    return make


def _variant_split(candles) -> tuple[dict[str, float], float]:
    """Seconds per variant of the 100-variant sweep, in this process, step by step: the
    parameters applied, the signals (detections shared as in a sweep), the simulation kernel
    and the objective's metrics (the best of 3 passes, each with a fresh runner); and the CPU
    seconds per variant of that best pass (`time.process_time`: on a loaded machine the
    yardstick that other processes do not move)."""
    steps = dict.fromkeys(("parameters", "signals", "simulation", "metrics"), float("inf"))
    cpu = float("inf")
    variants = sweep_variants(SMA, SWEEP)
    for _ in range(3):
        runner = LeanRunner(LeanSpec(SMA, fresh_copy(candles), "S", "expectancy_r", 1, NO_COSTS,
                                     UNIT))
        spent = dict.fromkeys(steps, 0.0)
        cpu_start = time.process_time()
        for params in variants:
            start = time.perf_counter()
            setup = apply_parameters(runner.base, params)
            signalled = time.perf_counter()
            arrays = runner.signals(setup)
            simulated = time.perf_counter()
            out = runner.simulation(setup, arrays)
            scored = time.perf_counter()
            runner.score(setup, out, names=runner.wanted)
            end = time.perf_counter()
            for name, seconds in zip(spent, (signalled - start, simulated - signalled,
                                             scored - simulated, end - scored), strict=True):
                spent[name] += seconds / len(variants)
        cpu = min(cpu, (time.process_time() - cpu_start) / len(variants))
        steps = {name: min(steps[name], spent[name]) for name in steps}
    return steps, cpu


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


def _pool(workers: int, year, repeat: int) -> dict:
    """Start-up, per-task cost and the sweeps on a warm pool of `workers` processes."""
    timed = {}
    start = time.perf_counter()
    with connect("local", workers=workers) as client:
        timed["start"] = time.perf_counter() - start
        timed["task"] = _task_overhead(client)
        for name, values in (("100", SWEEP), ("1000", SWEEP_1000)):
            timed[name] = measure(_sweeper(values, client), make_input=fresh(year), warmup=1,
                                  repeat=repeat)
        timed["new"] = measure(_sweeper(SWEEP, client), make_input=_new_candles(year),
                               warmup=0, repeat=repeat)
        if workers == 2:
            timed["crossover"] = _crossover(client, year)
        distributed.forget_shipped(client)
    return timed


def run() -> list[Result]:
    year = synthetic_candles()
    repeat = 1 if quick() else 2
    saved, distributed.DASK_FROM = distributed.DASK_FROM, 0  # every sweep on the pool
    try:
        one, two = _pool(1, year, repeat), _pool(2, year, repeat)
    finally:
        distributed.DASK_FROM = saved
    split, cpu = _variant_split(year)
    here = {name: measure(_sweeper(values, None, workers), make_input=fresh(year), warmup=1,
                          repeat=repeat)
            for name, values, workers in (("100", SWEEP, 1), ("100 forked", SWEEP, 2),
                                          ("1000 forked", SWEEP_1000, 2))}
    return [
        Result("scale", "LocalCluster start-up, 2 worker processes", two["start"],
               note=f"1 worker: {one['start'] * 1000:.0f} ms"),
        Result("scale", "one task on a warm 2-worker pool (200 no-op tasks at once)",
               two["task"], note=f"1 worker: {one['task'] * 1000:.2f} ms"),
        Result("scale", "sweep of 100 variants, 1y 1m, warm 2-worker pool (candles held)",
               two["100"], target=0.5, peer="1 worker", peer_seconds=one["100"],
               note=f"in this process alone: {here['100']:.2f} s; on 2 cores (a forked worker), "
                    f"start-up included: {here['100 forked']:.2f} s"),
        Result("scale", "sweep of 1,000 variants, 1y 1m, warm 2-worker pool (candles held)",
               two["1000"], target=4.0, peer="1 worker", peer_seconds=one["1000"],
               note="on 2 cores (a forked worker), start-up included: "
                    f"{here['1000 forked']:.2f} s"),
        Result("scale", "sweep of 100 variants on candles new to the warm 2-worker pool "
               "(shipped inside the timer)", two["new"], peer="1 worker",
               peer_seconds=one["new"]),
        Result("scale", "one variant of the 100-variant sweep, 1y 1m, in this process",
               sum(split.values()),
               note=", ".join(f"{name} {seconds * 1000:.2f} ms" for name, seconds in
                              split.items()) + f"; CPU {cpu * 1000:.2f} ms a variant"),
        Result("scale", "crossover: a sweep is faster on the 2-worker pool from", 0.0,
               note=two["crossover"]),
    ]
