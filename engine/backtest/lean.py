"""The lean backtest path for sweeps and optimiser trials: arrays in, the objective's numbers out.

A variant's signals are taken as arrays (`CompiledSetup.signal_arrays`: no signal frame, no
explanations), simulated by the same kernel as `engine.backtest.simulate` without building the
trade and equity frames, and scored from the kernel's arrays with exactly the formulas of
`engine.backtest.metrics.compute_metrics` (every number equal to the full path's; a test checks
it on grids of variants). Detections are computed once per distinct condition block and shared
by every variant of one `LeanRunner` (variants that differ only in the plan re-use them all).
Full trade records are for the variants a trader keeps: run those through `simulate`.

`run_chunk(spec, variants, candles)` is the task function of a sweep: a plain, picklable function
that a process pool or a Dask worker calls with hundreds of variants at a time; the candles are
checked and turned into arrays once per worker process (the runner of the last spec is kept).

On a cluster the candles travel apart from the spec (`LeanSpec.without_candles`), named by
their fingerprint (`fingerprint`: a digest of their content, index included): a worker keeps the
`KEEP_SERIES` series it prepared most recently under that name (`series_for`), so a later sweep
on the same candles finds them prepared, and candles that changed in any value get a new name
and are prepared afresh. `prepared_count()` says how many series this process prepared.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import threading
import uuid

import numpy as np
import pandas as pd
from numba import njit

from engine.backtest import _kernel as k
from engine.backtest.metrics import outcome_metrics, sharpe_sortino
from engine.backtest.simulate import Costs, Sizing
from engine.candles import CLOSE, HIGH, LOW, OPEN, validate_candles
from engine.errors import DataError, SetupError
from engine.setups import apply_parameters, compile_setup
from engine.setups.compile import FrameCache
from engine.setups.schema import Setup

# the metrics the lean path computes: those the objectives and the sweep table read
LEAN_METRICS = ("trades", "win_rate", "expectancy_r", "profit_factor", "sharpe", "sqn",
                "total_return_pct", "max_drawdown_pct")
SWEEP_METRICS = ("trades", "win_rate", "expectancy_r", "profit_factor", "total_return_pct",
                 "max_drawdown_pct")
_SIZING = {"risk_percent": k.RISK_PERCENT, "fixed_size": k.FIXED_SIZE,
           "fixed_cash": k.FIXED_CASH}
_NO_LOWER = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))


@dataclasses.dataclass
class LeanSpec:
    """Everything a chunk of variants is scored with besides their parameters (picklable: a
    worker gets it once). `key` names this spec in a worker's memo of prepared runners."""

    setup: Setup
    candles: pd.DataFrame
    symbol: str
    objective: str
    min_trades: int
    costs: Costs
    sizing: Sizing
    initial_equity: float = 10_000.0
    key: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    candles_key: str = ""  # `fingerprint(candles)`, set by `series_key` when first needed

    def series_key(self) -> str:
        """The fingerprint of the spec's candles (computed once)."""
        if not self.candles_key:
            self.candles_key = fingerprint(self.candles)
        return self.candles_key

    def without_candles(self) -> LeanSpec:
        """This spec with its candles left out, named by their fingerprint instead: what a
        cluster's task carries (the candles travel once, apart: `run_chunk`'s `candles`)."""
        return dataclasses.replace(self, candles=None, candles_key=self.series_key())


def fingerprint(candles: pd.DataFrame) -> str:
    """A digest of the candles' content, index included (a run summary's ``data_hash``):
    equal for equal candles, whatever the frame object, and new when any value changes."""
    hashed = pd.util.hash_pandas_object(candles, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@njit(cache=True, nogil=True)
def max_drawdown_pct_nb(equity):
    """The deepest drawdown below the running peak in % of the peak, as a positive number:
    the minimum of `_kernel.drawdowns_nb`'s percent curve ``(equity / peak - 1) * 100`` (0
    while the peak is not positive), negated, without building it. The curve is a rounded,
    non-decreasing function of ``equity / peak``, so its minimum is that function of the
    smallest ratio; and under one peak the smallest ratio is the trough's (division by a
    positive number is monotonic, rounding included): one division per peak, not per bar."""
    peak = -np.inf
    trough = np.inf  # the lowest equity since the peak
    low = 1.0
    for i in range(equity.shape[0]):
        value = equity[i]
        if value > peak:
            if peak > 0:
                low = min(low, trough / peak)
            peak = value
            trough = value
        else:
            trough = min(trough, value)
    if peak > 0:
        low = min(low, trough / peak)
    return -((low - 1.0) * 100.0)


class BoundedCache(FrameCache):
    """A detection cache that keeps the `blocks` condition blocks and the `averages` moving
    averages used most recently: a sweep of thousands of variants, each with a block of its
    own, would otherwise keep every bar's detections of every variant in memory. The moving
    averages (a few dozen periods in any sweep, each read by many blocks) get a budget of their
    own, so that the blocks passing through never push them out."""

    blocks = 16
    averages = 96

    def __getitem__(self, key):
        value = super().pop(key)  # most recently used last
        super().__setitem__(key, value)
        return value

    def __setitem__(self, key, value) -> None:
        average = _is_average(key)
        same = [k for k in self if _is_average(k) == average]
        for old in same[:max(0, len(same) + 1 - (self.averages if average else self.blocks))]:
            del self[old]
        super().__setitem__(key, value)


def _is_average(key) -> bool:
    return isinstance(key, tuple) and key[:1] == ("moving average",)


class Series:
    """One candle frame checked once and turned into the price arrays the kernel reads."""

    def __init__(self, candles: pd.DataFrame, setup_id: str) -> None:
        if candles is None or len(candles) == 0:
            raise DataError(f"no candles to test setup {setup_id} on")
        validate_candles(candles)
        self.candles = candles
        self.prices = tuple(np.ascontiguousarray(candles[x].to_numpy(float))
                            for x in (OPEN, HIGH, LOW, CLOSE))
        if k.any_nan_nb(*self.prices):
            raise DataError("candles contain NaN prices; drop or repair those bars first")


class LeanRunner:
    """One candle frame prepared for many variants: the price arrays, checked once, and the
    detection cache the variants share. `series`: the frame already prepared (else
    `spec.candles` is)."""

    def __init__(self, spec: LeanSpec, series: Series | None = None) -> None:
        series = series or Series(spec.candles, spec.setup.id)
        self.spec = spec
        self.candles = series.candles
        self.prices = series.prices
        self.cache = BoundedCache()
        self.cache.validated = True
        # variants are the setup with values applied (`row`): without its `optimise:` section,
        # whose ranges were checked when the setup was, and would be checked again per variant
        self.base = spec.setup.model_copy(update={"optimise": {}})
        self.wanted = frozenset(SWEEP_METRICS) | {spec.objective}
        # Optuna's n_jobs runs trials on threads: one variant at a time uses the cache (the
        # kernels hold the GIL, so nothing runs in parallel that the lock now serialises)
        self._lock = threading.Lock()

    def metrics(self, setup: Setup, *, names=LEAN_METRICS) -> dict:
        """`LEAN_METRICS` of `setup` on the runner's candles, equal to `compute_metrics`' for
        `simulate` of its signals (explained or not) with the spec's costs and sizing; the
        Sharpe ratio only when `names` holds it (it reads every bar of the equity curve).
        The three steps (`signals`, `simulation`, `score`) are timed apart in bench/scale.py."""
        out = self.simulation(setup, self.signals(setup))
        return self.score(setup, out, names=names)

    def signals(self, setup: Setup):
        """`setup`'s signals as arrays (None for none), detections shared through the cache."""
        compiled = compile_setup(setup)
        with self._lock:
            return compiled.signal_arrays(self.candles, cache=self.cache)

    def simulation(self, setup: Setup, arrays) -> tuple:
        """The simulation kernel's arrays for `arrays` (`signals`) under `setup`'s plan."""
        spec, plan = self.spec, setup.plan
        if arrays is None:
            m = 0
            bars, direction, entry, stop, target = (np.empty(0, np.int64), np.empty(0, np.int64),
                                                    np.empty(0), np.empty(0), np.empty(0))
        else:
            m = len(arrays.bars)
            bars, direction = arrays.bars.astype(np.int64), arrays.direction.astype(np.int64)
            entry, stop, target = arrays.entry, arrays.stop, arrays.target
        limit = plan.entry.type == "limit"
        return k.simulate_nb(
            *self.prices, bars, direction, np.full(m, limit), entry, stop, target,
            np.full(m, plan.entry.expiry_bars if limit else 0, np.int64),
            np.full(m, plan.time_exit_bars or 0, np.int64),
            np.full(m, plan.breakeven_at_r or np.nan),
            np.full(m, plan.partial.at_r if plan.partial else np.nan),
            np.full(m, plan.partial.fraction if plan.partial else 0.0),
            spec.costs.fee_bps / 1e4, spec.costs.slippage_bps / 1e4, _SIZING[spec.sizing.kind],
            float(spec.sizing.value), float(spec.sizing.max_leverage), float(spec.initial_equity),
            *_NO_LOWER, True, False, False)

    def score(self, setup: Setup, out: tuple, *, names=LEAN_METRICS) -> dict:
        """The metrics of the kernel's arrays `out` (`simulation`)."""
        return _score(out, setup.market.timeframe, self.spec.initial_equity, "sharpe" in names)

    def evaluate(self, setup: Setup, *, names=LEAN_METRICS) -> tuple[float, dict]:
        """(objective value or -inf with fewer than `min_trades` trades, the metrics `names`
        and the objective), as `engine.backtest.optimise.evaluate` gives them."""
        metrics = self.metrics(setup, names={*names, self.spec.objective})
        value = metrics.get(self.spec.objective)
        if metrics["trades"] < self.spec.min_trades or value is None:
            return float("-inf"), metrics
        return float(value), metrics

    def row(self, params: dict) -> dict:
        """One sweep table row: the parameters, the objective value (None when unscored), the
        sweep metrics and the error that made the variant invalid ("" for none)."""
        try:
            candidate = apply_parameters(self.base, params)
        except SetupError as error:
            return {**params, "value": None, "trades": 0, "error": str(error)}
        value, metrics = self.evaluate(candidate, names=self.wanted)
        return {**params, "value": value if np.isfinite(value) else None,
                **{key: metrics.get(key) for key in SWEEP_METRICS}, "error": ""}


def _score(out, timeframe: str, initial_equity: float, sharpe: bool = True) -> dict:
    """`LEAN_METRICS` from the kernel's arrays, through `compute_metrics`' own formulas
    (`outcome_metrics`, `sharpe_sortino`); the Sharpe ratio None unless `sharpe`."""
    pnl_all, reason, risk, size, equity = out[6], out[8], out[11], out[5], out[15]
    by_rules = reason != k.END
    pnl = pnl_all[by_rules]
    risked = (risk * size)[by_rules]  # 1 R in money, as `simulate` records it
    final = float(equity[-1]) if len(equity) else initial_equity
    sharpe = sharpe_sortino(equity, timeframe)[0] if sharpe else None
    shared = outcome_metrics(pnl, pnl / risked, risked, final, initial_equity)
    return {
        "trades": len(pnl_all),
        "win_rate": shared["win_rate"],
        "expectancy_r": shared["expectancy_r"],
        "profit_factor": shared["profit_factor"],
        "sharpe": sharpe,
        "sqn": shared["sqn"],
        "total_return_pct": shared["total_return_pct"],
        "max_drawdown_pct": _num(max_drawdown_pct_nb(equity)) if len(equity) else 0.0,
    }


_RUNNERS: dict[str, LeanRunner] = {}  # this process's prepared runner (the last spec only)
KEEP_SERIES = 2  # candle series a worker keeps prepared, by fingerprint (most recent first)
_SERIES: collections.OrderedDict[str, Series] = collections.OrderedDict()
_PREPARED = [0]  # series this process prepared by fingerprint (`series_for`)


def runner_for(spec: LeanSpec, candles: pd.DataFrame | None = None) -> LeanRunner:
    """The runner of `spec` in this process, prepared on first use (candles checked and turned
    into arrays once per worker, detections cached across its chunks). `candles`: the spec's
    candles when they travel apart from it (`LeanSpec.without_candles`), prepared once per
    fingerprint (`series_for`)."""
    runner = _RUNNERS.get(spec.key)
    if runner is None:
        series = None if candles is None else series_for(spec.candles_key, candles,
                                                         spec.setup.id)
        _RUNNERS.clear()
        runner = _RUNNERS[spec.key] = LeanRunner(spec, series)
    return runner


def series_for(key: str, candles: pd.DataFrame, setup_id: str = "") -> Series:
    """The prepared series named `key` (the fingerprint of `candles`): kept from an earlier
    sweep, or prepared now; the `KEEP_SERIES` most recent are kept."""
    series = _SERIES.pop(key, None)
    if series is None:
        series = Series(candles, setup_id)
        _PREPARED[0] += 1
    _SERIES[key] = series
    while len(_SERIES) > KEEP_SERIES:
        _SERIES.popitem(last=False)
    return series


def prepared_count() -> int:
    """How many candle series this process has prepared by fingerprint (a worker's count
    stays put while later sweeps find their candles kept)."""
    return _PREPARED[0]


def forget(spec: LeanSpec) -> None:
    """Drop this process's runner of `spec` and its cached detections."""
    _RUNNERS.pop(spec.key, None)


def run_chunk(spec: LeanSpec, variants: list[dict],
              candles: pd.DataFrame | None = None) -> list[dict]:
    """One sweep row per variant, in order (`LeanRunner.row`): the task a process pool or a
    Dask worker runs (`candles`: see `runner_for`)."""
    runner = runner_for(spec, candles)
    rows = [runner.row(params) for params in variants]
    if len(rows) != len(variants):  # never a silent loss
        raise RuntimeError(f"a chunk of {len(variants)} variants gave {len(rows)} rows")
    return rows


CHUNK = 250  # variants per task at most (few tasks: little pickling; enough for progress)


def chunked(variants: list, workers: int) -> list[list]:
    """`variants` in chunks of at most `CHUNK`, at least four per worker when there are few:
    the tasks of a forked sweep and of a Dask cluster alike."""
    size = max(1, min(CHUNK, -(-len(variants) // (4 * workers))))
    return [variants[i:i + size] for i in range(0, len(variants), size)]


def grouped(variants: list[dict]) -> list[int]:
    """The order in which to run `variants`: by their condition and filter parameters (stable),
    so variants that differ only in the plan, sharing every detection, run one after another
    (and, cut into chunks, land on one worker)."""
    def detection(i: int) -> tuple:
        return tuple(value for path, value in variants[i].items()
                     if path.startswith(("conditions.", "filters.")))
    return sorted(range(len(variants)), key=detection)


def in_order(order: list[int], rows: list[dict]) -> list[dict]:
    """`rows`, run in `order` (`grouped`), put back in the variants' own order; the rows of
    variants that gave none are missing (the caller checks: never a silent loss)."""
    back: list = [None] * len(order)
    for i, row in zip(order, rows, strict=False):
        back[i] = row
    return [row for row in back if row is not None]
