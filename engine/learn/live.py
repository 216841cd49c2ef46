"""The champion model on live signals: its calibrated probability, why, and the past signals
most like it, for the live monitor's ranking and the Telegram alert.

`ChampionScorer` is held by the live monitor (`engine.live.monitor`). For one live signal
(setup id and version, symbol, timeframe, ``known_at``, plan) and the candles the monitor found
it on, `ChampionScorer.score` returns a `LiveScore` — the champion's calibrated probability,
its explanation (`engine.learn.explain.explain`: top strengths and weaknesses in words), the
similar-cases summary (`engine.learn.explain.similar` over the model's stored
``dataset.parquet``, only past signals whose outcome was known then) and the expected R the
probability implies — or None when the setup version has no champion.

**Loading.** The champion (card, booster, calibrator, its dataset as a `SimilarIndex` with the
model's feature weights, the features' typical values) is loaded once per setup version and
kept (`warm`: when the monitor starts watching the version, not at its first signal). Each
signal costs one ``stat`` of the champion pointer (``champion.json``): when its inode, mtime
or size change (a promotion: the pointer is replaced atomically) the champion is loaded
again; nothing else is read from disk per signal.

**Features equal the dataset's.** The live features come from the one implementation,
`engine.learn.features.signal_features`, on the bars up to the signal's bar. Some features need
far more history than the monitor's rolling window holds (it keeps what the setup's *rules*
need, `CompiledSetup.lookback`): the ATR rank over 500 bars (plus the ATR's own 560-bar
warm-up), the previous week's high and low (two weeks of bars) and the higher timeframe's
EMA(20) (20 × 21 higher-timeframe bars to forget its seed: 25,200 bars of 1m under a 1h
context). `feature_lookback(setup)` is that length. Rather than widening the monitor's window
(which would slow the evaluation of every setup on every close), the scorer keeps its **own**
history per series: read once from the candle store (`engine.adapters.store`) when the monitor
starts watching a version with a champion (`ChampionScorer.warm`; else at the series' first
signal), then extended from the monitor's window after every close (`observe`: a concat of
the new bars, no disk read), trimmed to `feature_lookback` bars plus the window. Recursive
indicators past their warm-up equal the whole-data values to the last bit
(`engine.setups.lookback`), so the live feature row equals the dataset's row for the same
signal, NaN where it is NaN (tested: tests/live/test_learned_parity.py).

**Expected R.** ``p × r_planned − (1 − p)``: the probability of reaching the target (``r_planned``
R) against losing 1 R otherwise, in R per trade like the backtest score; the alert order uses it
when a champion exists (`engine.live.rank.order_alerts`).

**Never stops an alert.** A champion that cannot be loaded (a corrupt model file, a dataset not
synced yet) or a signal that cannot be scored is logged once (per setup version and champion
pointer) and the alert goes without the probability.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.candles import timeframe_delta
from engine.learn.explain import Explanation, SimilarCases, SimilarIndex, explain, similar
from engine.learn.features import (
    ATR_RANK_WINDOW,
    FEATURE_SET,
    HTF_EMA,
    HTF_SLOPE_BARS,
    RANGE_WINDOW,
    VOLUME_WINDOW,
    higher_timeframe,
    signal_features,
)
from engine.setups.compile import ATR_PERIOD, compile_setup
from engine.setups.lookback import WEEK, ema_bars, wilder_bars

log = logging.getLogger("ita.learn.live")

FEATURE_MARGIN = 10  # bars kept beyond what the features need
SIMILAR_K = 10


def feature_lookback(setup, compiled=None) -> int:
    """Bars up to and including a signal's bar that make its features equal to the
    whole-data ones (module docstring): the most of the rules' lookback, the ATR rank's
    (ATR warm-up + 500 bars), two weeks (the previous week complete) and the higher timeframe's
    EMA warm-up (in base bars), plus a margin."""
    market = setup.market
    timeframe = market.timeframe
    base = timeframe_delta(timeframe)
    htf = higher_timeframe(timeframe, market.context_timeframe)
    per_htf = max(1, math.ceil(timeframe_delta(htf) / base))
    # the EMA's warm-up, its slope's bar, the window's cut first period and the forming one
    htf_bars = (ema_bars(HTF_EMA) + HTF_SLOPE_BARS + 2) * per_htf
    rules = (compiled or compile_setup(setup)).lookback
    return max(rules, wilder_bars(ATR_PERIOD) + ATR_RANK_WINDOW, math.ceil(2 * WEEK / base) + 1,
               htf_bars, RANGE_WINDOW, VOLUME_WINDOW) + FEATURE_MARGIN


@dataclasses.dataclass(frozen=True)
class LiveScore:
    """What the champion says about one live signal."""

    probability: float  # calibrated probability of reaching the target
    expected_r: float  # p × r_planned − (1 − p)
    model_id: str
    auc: float | None  # the champion's walk-forward AUC
    explanation: Explanation
    similar: SimilarCases

    @property
    def strength(self) -> str | None:
        """The model's top strength in words ("gap 1.8× ATR: above this setup's usual
        (+0.06)"), None when nothing raised the probability."""
        return self.explanation.strengths[0].text if self.explanation.strengths else None

    @property
    def weakness(self) -> str | None:
        return self.explanation.weaknesses[0].text if self.explanation.weaknesses else None

    def sentence(self) -> str:
        """``model p 0.64 (champion 3f9a…, AUC 0.61) · 7 of the 10 most similar reached
        target``."""
        auc = f", AUC {self.auc:.2f}" if self.auc is not None else ""
        return (f"model p {self.probability:.2f} (champion {self.model_id}{auc}) · "
                f"{self.similar.summary}")

    def apply(self, rank):
        """`rank` (`engine.live.rank.Rank`) with the model's fields filled in."""
        return dataclasses.replace(
            rank, probability=self.probability, model_expected_r=self.expected_r,
            model_id=self.model_id, model_auc=self.auc, similar=self.similar.summary,
            model_strengths=tuple(r.text for r in self.explanation.strengths[:1]),
            model_weaknesses=tuple(r.text for r in self.explanation.weaknesses[:1]))


@dataclasses.dataclass
class _Champion:
    """One setup version's loaded champion (or, `model` None, the failure to load it)."""

    signature: tuple | None
    card: Any = None
    model: Any = None
    index: SimilarIndex | None = None
    typical: dict[str, float] | None = None


class ChampionScorer:
    """Scores live signals with each setup version's champion (module docstring).

    `store`: the candle store the scorer reads a series' older history from (by default the
    settings' one).

    >>> scorer = ChampionScorer(settings)  # doctest: +SKIP
    >>> scorer.score(signal, window, setup=setup).sentence()  # doctest: +SKIP
    'model p 0.64 (champion 3f9a0c1d, AUC 0.61) · 7 of the 10 most similar reached target'
    """

    def __init__(self, settings, *, store=None) -> None:
        self.settings = settings
        self._store = store
        self._champions: dict[tuple[str, int], _Champion] = {}
        self._compiled: dict[tuple[str, int], Any] = {}
        self._history: dict[tuple[str, str, str], pd.DataFrame] = {}
        self._need: dict[tuple[str, str, str], int] = {}
        self._warned: set[tuple] = set()

    @property
    def store(self):
        if self._store is None:
            from engine.adapters.store import CandleStore

            self._store = CandleStore.from_settings(self.settings)
        return self._store

    # --- the champion --------------------------------------------------------------------------
    def pointer(self, setup_id: str, version: int) -> Path:
        """This analyst's champion pointer of ``setup_id@version``."""
        from engine.ids import checked_id
        from engine.learn.registry import POINTER, RegistryError
        from engine.learn.registry import _version_dir as version_dir

        analyst = checked_id(self.settings.analyst, what="analyst name", error=RegistryError)
        return version_dir(self.settings, analyst, setup_id, int(version)) / POINTER

    def champion(self, setup_id: str, version: int) -> _Champion | None:
        """The loaded champion of the setup version (reloaded when its pointer changed); None
        when there is none. Raises when the champion cannot be loaded (once per pointer)."""
        key = (setup_id, int(version))
        try:
            stat = os.stat(self.pointer(setup_id, version))
            signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            signature = None
        cached = self._champions.get(key)
        if cached is None or cached.signature != signature:
            cached = _Champion(signature)
            self._champions[key] = cached  # a failure below is remembered: no retry per signal
            if signature is not None:
                self._load(cached, setup_id, int(version))
        if cached.model is None:
            if signature is not None:
                raise _NotLoaded(f"{setup_id}@{version}: the champion could not be loaded")
            return None
        return cached

    def _load(self, into: _Champion, setup_id: str, version: int) -> None:
        from engine.learn.dataset import load_dataset
        from engine.learn.explain import feature_weights, typical_values
        from engine.learn.ops import DATASET_FILE
        from engine.learn.registry import RegistryError, champion, load_model

        card = champion(self.settings, setup_id, version)
        if card is None:
            return
        if card.dataset.get("feature_set", FEATURE_SET) != FEATURE_SET:
            raise RegistryError(f"champion {card.model_id} of {setup_id}@{version} uses feature "
                                f"set {card.dataset.get('feature_set')}, not {FEATURE_SET}: "
                                f"retrain it: ita learn train {setup_id}@{version}")
        model, card = load_model(self.settings, card.model_id)
        dataset = load_dataset(card.path / DATASET_FILE)
        typical = typical_values(dataset.frame, model.features)
        index = SimilarIndex(dataset, weights=feature_weights(model, dataset.frame))
        into.card, into.index, into.typical = card, index, typical
        into.model = model  # last: a half-loaded champion is never used

    def warm(self, setup_id: str, version: int, *, setup=None, keys=(),
             now: pd.Timestamp | None = None) -> bool:
        """Load the champion of a setup version ahead of its first signal, and with `setup`
        and `keys` (its series: ``source``, ``symbol``, ``timeframe``) read their bars before
        `now` from the store (the monitor does both when it starts watching a version, so a
        signal's scoring reads nothing from disk); False when there is no champion or it
        cannot be loaded (logged once, as `score` would)."""
        try:
            ready = self.champion(setup_id, version) is not None
            if ready and setup is not None:
                need = feature_lookback(setup, self._compile(setup_id, int(version), setup))
                for key in keys:
                    series = (str(key.source), str(key.symbol), str(key.timeframe))
                    self._need[series] = max(need, self._need.get(series, 0))
                    if series not in self._history:
                        self._history[series] = self._read(
                            series, now if now is not None else pd.Timestamp.now(tz="UTC"),
                            need)
            return ready
        except Exception as error:  # noqa: BLE001 - a broken model never stops an alert
            self._warn((setup_id, int(version), "load", self._signature(setup_id, version)),
                       "%s@%s: champion not used, alerts go without its probability: %s",
                       setup_id, version, error)
            return False

    def _compile(self, setup_id: str, version: int, setup=None):
        compiled = self._compiled.get((setup_id, version))
        if compiled is None:
            if setup is None:
                from engine.setups.store import SetupStore

                setup = SetupStore.from_settings(self.settings).load(setup_id, version).setup
            compiled = compile_setup(setup, version=version)
            self._compiled[(setup_id, version)] = compiled
        return compiled

    # --- scoring -----------------------------------------------------------------------------
    def score(self, signal, candles: pd.DataFrame | None, *, setup=None) -> LiveScore | None:
        """The champion's view of `signal` found on `candles` (the monitor's window, up to at
        least the signal's bar); None without a champion, or when it cannot say (logged once).
        `setup`: the signal's `Setup` (read from the setup store when not given)."""
        setup_id, version = str(signal.setup_id), int(signal.setup_version)
        if not self.warm(setup_id, version):
            return None
        loaded = self._champions[(setup_id, version)]
        try:
            return self._score(loaded, signal, candles, setup)
        except Exception as error:  # noqa: BLE001 - a broken model never stops an alert
            self._warn((setup_id, version, "score", loaded.signature),
                       "%s@%s: champion %s could not score a signal, alerts go without its "
                       "probability: %s", setup_id, version, loaded.card.model_id, error)
            return None

    def _score(self, loaded: _Champion, signal, candles, setup) -> LiveScore:
        from engine.learn.ops import is_pooled

        row = self.feature_row(signal, candles, setup=setup)
        model, card = loaded.model, loaded.card
        for name in model.features:  # a pooled model's setup indicators
            if name not in row.columns:
                row[name] = (1.0 if name == f"setup_{signal.setup_id}" else 0.0) \
                    if name.startswith("setup_") else np.nan
        explanation = explain(model, row, typical=loaded.typical)
        known_at = pd.Timestamp(signal.known_at)
        query = row.assign(setup_id=str(signal.setup_id), known_at=known_at,
                           signal_id=_dataset_id(signal))
        cases = similar(loaded.index, query, k=SIMILAR_K, known_only=True,
                        fallback=is_pooled(card))  # a pooled champion: the pool when too few
        p = explanation.probability
        r_planned = float(signal.r_planned)
        expected = p * r_planned - (1 - p) if math.isfinite(r_planned) else math.nan
        auc = card.metrics.get("auc")
        return LiveScore(probability=p, expected_r=expected, model_id=card.model_id,
                         auc=float(auc) if auc is not None and math.isfinite(auc) else None,
                         explanation=explanation, similar=cases)

    def feature_row(self, signal, candles: pd.DataFrame | None, *, setup=None) -> pd.DataFrame:
        """The signal's features (`signal_features`' columns, one row) as the dataset has them,
        from the scorer's history of the series extended by `candles`."""
        setup_id, version = str(signal.setup_id), int(signal.setup_version)
        compiled = self._compile(setup_id, version, setup)
        need = feature_lookback(compiled.setup, compiled)
        history = self.history(signal, candles, need)
        known_at = pd.Timestamp(signal.known_at)
        end = int(history.index.searchsorted(known_at, side="right"))
        if not end or history.index[end - 1] != known_at:
            raise ValueError(f"no candle at the signal's bar {known_at} of {signal.symbol}")
        frame = history.iloc[max(0, end - need):end]
        signals = pd.DataFrame({
            "known_at": [known_at], "direction": [int(signal.direction)],
            "entry": [float(signal.entry)], "stop": [float(signal.stop)],
            "r_planned": [float(signal.r_planned)], "entry_type": [str(signal.entry_type)]})
        return signal_features(frame, signals, compiled)

    def history(self, signal, candles: pd.DataFrame | None, need: int) -> pd.DataFrame:
        """The series' bars: the scorer's own history (read from the store once) extended by
        `candles`, trimmed to `need` bars plus the latest window."""
        key = (str(signal.source), str(signal.symbol), str(signal.timeframe))
        step = timeframe_delta(signal.timeframe)
        cached = self._history.get(key)
        candles = candles if candles is not None and len(candles) else None
        if candles is None:
            end = pd.Timestamp(signal.known_at) + step
            joined = cached if cached is not None and len(cached) and \
                cached.index[-1] >= pd.Timestamp(signal.known_at) else self._read(key, end, need)
        elif cached is not None and len(cached) and cached.index[0] <= candles.index[0] \
                <= cached.index[-1] + step:
            joined = pd.concat([cached, candles.loc[candles.index > cached.index[-1],
                                                    list(cached.columns)]])
        else:
            older = self._read(key, candles.index[0], need)
            columns = list(older.columns) if len(older) else list(candles.columns)
            joined = pd.concat([older, candles[columns]]) if len(older) else candles
        joined = joined.iloc[-(need + (len(candles) if candles is not None else 0)):]
        self._history[key] = joined
        self._need[key] = need
        return joined

    def observe(self, key, candles: pd.DataFrame) -> None:
        """Extend a scored series' history by the monitor's window after a close (no disk
        read), so it never falls behind the window between two signals; a series no champion
        scores is left alone (one dict look-up)."""
        series = (str(key.source), str(key.symbol), str(key.timeframe))
        cached = self._history.get(series)
        if cached is None or not len(cached) or candles is None or not len(candles):
            return
        last = cached.index[-1]
        if candles.index[-1] <= last or candles.index[0] > last + timeframe_delta(series[2]):
            return  # nothing new, or a gap: the next signal reads the store again
        joined = pd.concat([cached, candles.loc[candles.index > last, list(cached.columns)]])
        self._history[series] = joined.iloc[-max(len(cached), self._need.get(series, 0)):]

    def _read(self, key: tuple[str, str, str], end: pd.Timestamp, need: int) -> pd.DataFrame:
        """`need` stored bars before `end` (exclusive)."""
        source, symbol, timeframe = key
        if not self.store.path(source, symbol, timeframe).exists():
            return pd.DataFrame()
        start = end - timeframe_delta(timeframe) * (need + FEATURE_MARGIN)
        frame = self.store.read(symbol, timeframe, source=source, start=start, end=end)
        return frame[["open", "high", "low", "close", "volume"]].iloc[-need:]

    # --- helpers -----------------------------------------------------------------------------
    def _signature(self, setup_id: str, version: int):
        cached = self._champions.get((setup_id, int(version)))
        return cached.signature if cached is not None else None

    def _warn(self, key: tuple, message: str, *args) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        log.warning(message, *args)


class _NotLoaded(Exception):
    """The champion named by the pointer failed to load (already logged)."""


def _dataset_id(signal) -> str:
    """The dataset's (the journal's) id of the signal, so a past copy of it is never its own
    similar case."""
    from engine.journal import TradeKey, entry_id

    return entry_id(TradeKey(str(signal.setup_id), int(signal.setup_version), str(signal.symbol),
                             pd.Timestamp(signal.known_at), int(signal.direction)))
