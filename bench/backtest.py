"""The backtester on one year of 1m candles. Targets (issue 16): a whole backtest of the
SMA(10/30) crossover with a 1 % stop and 2 % target (signals + simulation + metrics, the
traded signals explained, as the app's Backtest page computes it before the run is written)
<= 20 ms, and so on the lean path sweeps and trials use; >= 50x faster than backtesting.py,
and its simulation alone >= 4x faster than vectorbt's from_signals at its best (tz-naive
index), with the same trades in all three; 100 parameter variants <= 0.5 s and 1,000 <= 4 s
on 2 cores; a 200-trial Optuna study on the year < 10 s."""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench._common import Result, fresh, fresh_copy, measure, synthetic_candles
from engine.backtest.lean import LeanRunner, LeanSpec
from engine.backtest.metrics import compute_metrics
from engine.backtest.optimise import optimise, sweep
from engine.backtest.simulate import Costs, Sizing, simulate
from engine.setups import compile_setup, parse_setup

TITLE = "Backtester (issue 4)"
ROOT = Path(__file__).resolve().parents[1]
SMA = parse_setup((ROOT / "examples" / "setups" / "sma-cross.yaml").read_text())
NO_COSTS = Costs(0.0, 0.0)
UNIT = Sizing("fixed_size", 1.0)
WARMUP = 1
BT_REPEAT = 5  # ITA's whole backtests and backtesting.py (~4 s a call)
SIM_REPEAT = 10  # ITA's simulation and vectorbt's
TIMING = (f"every comparison, both sides: {WARMUP} warm-up call, then the best of {BT_REPEAT} "
          f"(with backtesting.py) or {SIM_REPEAT} (with vectorbt); the 100-variant sweeps: one "
          f"call after {WARMUP} warm-up; the 1,000-variant sweep and the Optuna study: one "
          "call, no warm-up. vectorbt gets a tz-naive "
          "frame with its entries and exits computed outside the timer; backtesting.py gets "
          "ITA's frame and renames its columns inside the timer (about 1 ms of its seconds).")


def _ita(candles, *, explain: bool = True):
    """The whole backtest as `engine.backtest.run` computes it: the traded signals explained
    (``explain``), or none (as optimisers run it)."""
    compiled = compile_setup(SMA)
    if explain:
        signals, explainer = compiled.explained_later(candles, symbol="SYN/USD")
        result = simulate(candles, signals, costs=NO_COSTS, sizing=UNIT, initial_equity=1e6,
                          explain=explainer.at_bars)
    else:
        signals = compiled(candles, symbol="SYN/USD", explain=False)
        result = simulate(candles, signals, costs=NO_COSTS, sizing=UNIT, initial_equity=1e6)
    compute_metrics(result.trades, result.equity, timeframe="1m", candles=candles,
                    initial_equity=1e6)
    return result


def _with_signals(make_candles):
    """`make_input` for the simulation alone: fresh candles and the setup's signals on them."""
    def make():
        candles = make_candles()
        return candles, compile_setup(SMA)(candles, symbol="SYN/USD")
    return make


def _simulate(given):
    candles, signals = given
    return simulate(candles, signals, costs=NO_COSTS, sizing=UNIT, initial_equity=1e6)


def _vectorbt_input(candles: pd.DataFrame) -> dict:
    """vectorbt's arguments with ITA's conventions: the order goes to the next bar's open,
    signals during a trade are ignored, stops are set from the fill price."""
    naive = fresh_copy(candles.set_axis(candles.index.tz_localize(None)))
    close = naive["close"]
    fast, slow = close.rolling(10).mean(), close.rolling(30).mean()
    longs = ((fast > slow) & (fast.shift() <= slow.shift())).shift(1, fill_value=False)
    shorts = ((fast < slow) & (fast.shift() >= slow.shift())).shift(1, fill_value=False)
    return dict(close=close, entries=longs, short_entries=shorts, price=naive["open"],
                open=naive["open"], high=naive["high"], low=naive["low"])


def _vectorbt(candles, ours: pd.DataFrame) -> tuple[float, int, bool]:
    """vectorbt's time, its trade count and whether every trade equals ITA's (times exactly,
    prices to 1e-6)."""
    import vectorbt as vbt  # imported before the timer starts

    def run(given):
        return vbt.Portfolio.from_signals(
            **given, sl_stop=0.01, tp_stop=0.02, stop_entry_price="fillprice",
            upon_opposite_entry="ignore", size=1.0, init_cash=1e6, freq="1min")

    seconds = measure(run, make_input=lambda: _vectorbt_input(candles), warmup=WARMUP,
                      repeat=SIM_REPEAT)
    theirs = run(_vectorbt_input(candles)).trades.records_readable
    same = len(theirs) == len(ours) and all(
        (theirs[a].to_numpy() == ours[b].dt.tz_localize(None).to_numpy()).all()
        for a, b in (("Entry Timestamp", "entry_time"), ("Exit Timestamp", "exit_time"))
    ) and all(np.allclose(theirs[a].to_numpy(), ours[b].to_numpy(), rtol=0, atol=1e-6)
              for a, b in (("Avg Entry Price", "entry_price"), ("Avg Exit Price", "exit_price")))
    return seconds, len(theirs), same


def _backtesting_py(candles) -> tuple[float, int]:
    """backtesting.py's time and its trade count."""
    import backtesting  # noqa: F401  (imported before the timer starts)

    from tests.backtest._peer import run_backtesting_py

    seconds = measure(run_backtesting_py, make_input=fresh(candles), warmup=WARMUP,
                      repeat=BT_REPEAT)
    trades, _ = run_backtesting_py(fresh_copy(candles))
    return seconds, len(trades)


SWEEP = {"conditions.cross.fast": list(range(5, 25, 2)),
         "conditions.cross.slow": list(range(30, 80, 5))}
SWEEP_1000 = {"conditions.cross.fast": list(range(5, 45)),
              "conditions.cross.slow": list(range(50, 300, 10))}


def _sweeper(values: dict, workers: int | None):
    def run(candles) -> None:
        table = sweep(SMA, candles, symbol="S", values=values, costs=NO_COSTS, sizing=UNIT,
                      min_trades=1, workers=workers)
        assert len(table) == len(values["conditions.cross.fast"]) * len(
            values["conditions.cross.slow"])
    return run


def _lean(candles) -> None:
    """One whole backtest on the lean path, as a sweep variant or an optimiser trial runs it:
    signals as arrays, the simulation kernel, the objective metrics (no frames)."""
    LeanRunner(LeanSpec(SMA, candles, "S", "expectancy_r", 1, NO_COSTS, UNIT,
                        initial_equity=1e6)).evaluate(SMA)


MEMORY_SYMBOLS = 10
MEMORY_LIMIT = 2 * 1024**3  # bytes: 2 GiB
MEMORY_SWEEP = {"conditions.cross.fast": [5, 8, 11, 14, 17],
                "conditions.cross.slow": [30, 40, 50, 60, 70]}


@dataclasses.dataclass(frozen=True)
class MemoryResult(Result):
    """A row whose target is memory: met when the peak stays within `limit` bytes."""

    peak: int = 0
    limit: int = MEMORY_LIMIT

    @property
    def met(self) -> bool | None:
        return self.peak <= self.limit


def _pss(pid: int | str) -> int:
    """Proportional set size of a process in bytes (its own pages, plus its share of pages it
    shares with others, e.g. a forked worker's share of the candles); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _children() -> list[str]:
    pids: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += (task / "children").read_text().split()
        except OSError:
            pass
    return pids


class _PeakSampler(threading.Thread):
    """Samples, every few milliseconds, the memory this process and its workers hold together
    (the sum of their proportional set sizes: shared pages counted once) and keeps the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.peak = max(self.peak, _pss("self") + sum(map(_pss, _children())))
            self.stopping.wait(0.05)

    def __enter__(self) -> _PeakSampler:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.join()


def memory_probe() -> dict:
    """Run in a fresh process (`_memory`): hold a year of 1m for `MEMORY_SYMBOLS` symbols
    (synthetic copies of one market, each shifted in price) and sweep each of them on 2 cores
    (this process and a forked worker), all frames alive together. Peak memory: the largest
    sum of the proportional set sizes of this process and its workers, sampled every 50 ms
    (``peak``); and an upper bound that cannot miss a short peak between samples: this
    process's peak resident set plus 2 x the largest worker's (which counts the pages a
    worker shares with this process again)."""
    base = synthetic_candles()
    markets = {}
    for i in range(MEMORY_SYMBOLS):
        shifted = fresh_copy(base)
        shifted[["open", "high", "low", "close"]] *= 1.0 + 0.37 * i
        markets[f"SYN{i}/USD"] = shifted
    start = time.perf_counter()
    rows = 0
    with _PeakSampler() as sampler:
        for symbol, candles in markets.items():
            rows += len(sweep(SMA, candles, symbol=symbol, values=MEMORY_SWEEP,
                              costs=NO_COSTS, sizing=UNIT, min_trades=1, workers=2))
    seconds = time.perf_counter() - start
    kib = 1024  # ru_maxrss is in KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * kib
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * kib
    return {"seconds": seconds, "variants": rows, "bars": len(base), "own": own,
            "worker": worker, "bound": own + 2 * worker, "peak": sampler.peak}


def _memory() -> MemoryResult:
    """`memory_probe` in a fresh interpreter, so that nothing measured before it (peers, other
    sections) counts in its peak."""
    code = "import json; from bench.backtest import memory_probe; print(json.dumps(memory_probe()))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    mib = 1024**2
    return MemoryResult(
        "backtest", f"memory: {MEMORY_SYMBOLS} symbols x {probe['bars']:,} 1m bars held at "
        f"once, each swept ({probe['variants']:,} variants in all, 2 workers)",
        probe["seconds"], peak=probe["peak"],
        note=f"peak memory {probe['peak'] / mib:,.0f} MiB (target ≤ {MEMORY_LIMIT / mib:,.0f} "
             f"MiB; sum of proportional set sizes, sampled every 50 ms); upper bound "
             f"{probe['bound'] / mib:,.0f} MiB (peak RSS: this process "
             f"{probe['own'] / mib:,.0f} MiB + 2 workers x {probe['worker'] / mib:,.0f} MiB, "
             "which count the shared candles again)")


def _study(candles) -> None:
    optimise(SMA, candles, symbol="BTC/USDT", n_trials=200, min_trades=5, n_jobs=2)


def run() -> list[Result]:
    year = synthetic_candles()
    ours = measure(_ita, make_input=fresh(year), warmup=WARMUP, repeat=BT_REPEAT)
    lean = measure(lambda candles: _ita(candles, explain=False), make_input=fresh(year),
                   warmup=WARMUP, repeat=BT_REPEAT)
    sim = measure(_simulate, make_input=_with_signals(fresh(year)), warmup=WARMUP,
                  repeat=SIM_REPEAT)
    reference = _ita(year).trades  # the trades both peers are compared with
    trades = len(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt_seconds, bt_trades = _backtesting_py(year)
        vbt_seconds, vbt_trades, vbt_same = _vectorbt(year, reference)
    whole_lean = measure(_lean, make_input=fresh(year), warmup=WARMUP, repeat=BT_REPEAT)
    swept = measure(_sweeper(SWEEP, 2), make_input=fresh(year), warmup=WARMUP, repeat=1)
    swept_one = measure(_sweeper(SWEEP, 1), make_input=fresh(year), warmup=WARMUP, repeat=1)
    swept_1000 = measure(_sweeper(SWEEP_1000, 2), make_input=fresh(year), warmup=0, repeat=1)
    study = measure(_study, make_input=fresh(year), warmup=0, repeat=1)
    memory = _memory()
    return [
        Result("backtest", "SMA 10/30, 1 %/2 %: signals + simulation + metrics + the traded "
               "signals' explanations, 1y 1m (the whole backtest, as the Backtest page "
               "computes it)", ours,
               target=0.020, peer="backtesting.py",
               peer_seconds=bt_seconds,
               note=f"trades: ITA {trades:,}, backtesting.py {bt_trades:,}", min_ratio=50),
        Result("backtest", "same, signals without explanations (as optimisers run it)", lean,
               target=0.020, peer="backtesting.py", peer_seconds=bt_seconds, min_ratio=50),
        Result("backtest", "simulation only, from the same signals", sim,
               peer="vectorbt from_signals (tz-naive index, entries given)",
               peer_seconds=vbt_seconds,
               note=f"vectorbt {vbt_trades:,} trades, "
                    f"{'identical to' if vbt_same else '**not** identical to'} ITA's "
                    "(next-open fills, signals in a trade ignored, stops from the fill)",
               min_ratio=4),
        Result("backtest", "same, on the lean path (signals as arrays + simulation kernel + "
               "objective metrics), as sweeps and trials run it", whole_lean, target=0.020),
        Result("backtest", "sweep of 100 parameter variants, 1y 1m", swept, target=0.5,
               peer="the same sweep in 1 process", peer_seconds=swept_one,
               note="`engine.backtest.optimise.sweep` on the lean path on 2 cores: this "
                    "process and 1 forked worker (start-up included)"),
        Result("backtest", "sweep of 1,000 parameter variants, 1y 1m", swept_1000, target=4.0,
               note="this process and 1 forked worker, chunks of up to 250 variants"),
        Result("backtest", "Optuna study, 200 trials, 1y 1m (2 jobs)", study, target=10.0),
        memory,
    ]
