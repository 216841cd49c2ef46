"""The memory row of the backtest benchmark measures what it says."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

from bench.backtest import MEMORY_LIMIT, MemoryResult, _PeakSampler, _pss


def _hold(seconds: float) -> None:
    block = np.ones(64 * 1024**2 // 8)  # 64 MiB of the worker's own pages
    time.sleep(seconds)
    del block


def test_the_sampler_counts_a_workers_own_memory() -> None:
    alone = _pss("self")
    assert alone > 0
    context = multiprocessing.get_context("fork")
    with _PeakSampler() as sampler:
        worker = context.Process(target=_hold, args=(0.6,))
        worker.start()
        worker.join()
    assert worker.exitcode == 0
    assert sampler.peak >= alone + 48 * 1024**2


def test_the_row_is_met_by_memory_not_time() -> None:
    within = MemoryResult("backtest", "memory", 99.0, peak=MEMORY_LIMIT)
    beyond = MemoryResult("backtest", "memory", 0.001, peak=MEMORY_LIMIT + 1)
    assert within.met is True and beyond.met is False
