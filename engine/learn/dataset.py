"""The learning dataset of a setup version: one row per signal with a known outcome.

`build_dataset` (stores) and `make_dataset` (pure: candles in, dataset out) do:

1. the setup's signals on the candles (the compiler the backtester and the live monitor use);
2. features from the bars up to each signal's ``known_at`` only (`engine.learn.features`);
3. labels: each signal simulated **alone** (`engine.backtest.alone`: not filtered by the
   one-position rule) with the setup's costs, exits and 1m bars inside a higher-timeframe bar:
   ``hit_target`` (the target came before the stop: exit reason "target"), ``r_multiple``
   (net R), ``outcome_at`` (the exit bar: like ``known_at``, a bar label whose close made the
   outcome known; purging uses it).

Signals without an outcome are left out and counted in ``meta["dropped"]``: a limit order
that never filled or a stop on the wrong side (``unfilled_or_invalid``), no bar left to fill
(``no_bar_to_fill``), and trades still open at the end of the data (``open_at_end``: their
outcome is not known yet).

``signal_id`` is the journal's entry id of the signal (`engine.journal.entry_id`), so the
analyst's journal joins the rows: ``journal_tags`` and ``journal_mistakes`` (comma-separated,
"" without an entry) are the trader's own labels, kept beside the features, not among them.
So is ``trader_label``: the analyst's labels of the setup (`engine.learn.labels.LabelStore`,
on this symbol and the setup's timeframe) matched to signals as the labels check matches them
(`engine.learn.labels.check_labels`): a label marks the signal nearest its bar when that signal
is within ``LABEL_TOLERANCE_BARS`` bars of it (bars counted along the candles), 1.0 for "setup
here", 0.0 for "not a setup", NaN for a signal no label marks; when two labels reach one
signal, the nearer wins (the earlier on a tie). It is never a feature (a label is written after
the fact); ``meta["labelled"]`` counts the rows it marks.

Saved as Parquet with the meta (and the feature list) in the schema metadata, key
``ita_dataset``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import engine
from engine._io import atomic_path
from engine.adapters.journal import JournalStore
from engine.adapters.store import CandleStore
from engine.backtest.alone import simulate_alone
from engine.backtest.run import _lower_candles, data_hash
from engine.backtest.simulate import Costs
from engine.candles import timeframe_delta
from engine.errors import DataError
from engine.journal import JournalEntry, TradeKey, entry_id
from engine.learn.features import FEATURE_SET, signal_features
from engine.learn.labels import Label, LabelStore
from engine.pipeline import load_candles
from engine.setups.compile import FrameCache, compile_setup
from engine.setups.schema import Setup
from engine.setups.store import SetupStore

LABELS = ("known_at", "outcome_at", "hit_target", "r_multiple", "side", "signal_id", "symbol",
          "setup_id", "setup_version", "journal_tags", "journal_mistakes", "trader_label")
TEXT = ("signal_id", "symbol", "setup_id", "journal_tags", "journal_mistakes")
META_KEY = b"ita_dataset"
LABEL_TOLERANCE_BARS = 3  # the labels check's default (engine.learn.labels.check_labels)


@dataclasses.dataclass(frozen=True)
class Dataset:
    frame: pd.DataFrame  # features, then the LABELS columns; sorted by known_at
    features: tuple[str, ...]
    meta: dict

    @property
    def X(self) -> pd.DataFrame:  # noqa: N802 (the usual name)
        return self.frame.loc[:, list(self.features)]

    @property
    def y(self) -> np.ndarray:
        return self.frame["hit_target"].to_numpy()


def make_dataset(setup: Setup, candles: pd.DataFrame, *, symbol: str, version: int = 0,
                 costs: Costs | None = None, lower_candles: pd.DataFrame | None = None,
                 journal: dict[str, JournalEntry] | None = None,
                 labels: list[Label] | None = None,
                 tolerance_bars: int = LABEL_TOLERANCE_BARS,
                 meta: dict | None = None) -> Dataset:
    """The dataset of `setup` on `candles` (its timeframe); `lower_candles`: 1m bars to
    resolve bars that touch both stop and target, as the backtester does; `journal`: the
    analyst's journal entries by entry id (their tags and mistakes join the rows); `labels`:
    the analyst's labels (those of this setup, symbol and timeframe become ``trader_label``)."""
    costs = costs or Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
    compiled = compile_setup(setup, version=version)
    cache = FrameCache()
    signals = compiled(candles, symbol=symbol, cache=cache, explain=False)
    evaluated = compiled.evaluate(candles, cache=cache)
    features = signal_features(candles, signals, compiled, evaluated)
    outcomes = simulate_alone(candles, signals, costs=costs, lower_candles=lower_candles)
    status = outcomes["status"].to_numpy()
    open_at_end = (status == "trade") & (outcomes["exit_reason"] == "end").to_numpy()
    keep = (status == "trade") & ~open_at_end
    dropped = {name: int((status == name).sum()) for name in
               ("unfilled_or_invalid", "no_bar_to_fill", "known_after_data", "gapped_past_stop")}
    dropped["open_at_end"] = int(open_at_end.sum())
    side = signals["direction"].to_numpy(np.int8)
    known = signals["known_at"]
    ids = np.full(len(signals), "", dtype=object)
    kept = np.flatnonzero(keep)  # the journal's key: a note on a signal finds its row
    for i, stamp in zip(kept, known.iloc[kept], strict=True):
        ids[i] = entry_id(TradeKey(setup.id, version, symbol, stamp, int(side[i])))
    entries = [(journal or {}).get(i) for i in ids]
    table = pd.DataFrame({
        "known_at": known, "outcome_at": outcomes["exit_time"],
        "hit_target": (outcomes["exit_reason"] == "target").to_numpy(np.int64),
        "r_multiple": outcomes["r_net"].to_numpy(np.float64), "side": side,
        "signal_id": pd.Series(ids, dtype=object), "symbol": signals["symbol"].astype(object),
        "setup_id": signals["setup_id"].astype(object),
        "setup_version": signals["setup_version"].to_numpy(np.int32),
        "journal_tags": pd.Series([",".join(e.tags) if e else "" for e in entries],
                                  dtype=object),
        "journal_mistakes": pd.Series([",".join(e.mistakes) if e else "" for e in entries],
                                      dtype=object)})
    mine = [x for x in labels or () if x.setup_id == setup.id and x.symbol == symbol
            and x.timeframe == setup.market.timeframe]
    # among every signal, as the labels check: a label nearest a signal without an outcome
    # marks no row
    table["trader_label"] = trader_labels(candles.index, known, mine, tolerance_bars)
    frame = pd.concat([features, table], axis=1)[keep].reset_index(drop=True)
    info = {
        "setup_id": setup.id, "setup_version": version, "symbol": symbol,
        "timeframe": setup.market.timeframe, "feature_set": FEATURE_SET,
        "data_start": str(candles.index[0]) if len(candles) else None,
        "data_end": str(candles.index[-1]) if len(candles) else None,
        "data_bars": len(candles), "data_hash": data_hash(candles),
        "costs": dataclasses.asdict(costs), "signals": len(signals), "rows": len(frame),
        "positives": int(frame["hit_target"].sum()), "dropped": dropped,
        "labelled": int(frame["trader_label"].notna().sum()),
        "lower_timeframe_resolution": lower_candles is not None,
        "ita_version": engine.__version__, **(meta or {}),
    }
    return Dataset(frame, tuple(features.columns), info)


def trader_labels(index: pd.DatetimeIndex, known_at, labels: list[Label],
                  tolerance_bars: int = LABEL_TOLERANCE_BARS) -> np.ndarray:
    """1.0 / 0.0 / NaN per signal (its ``known_at`` bar label on `index`, sorted): the label
    that marks it, as the module docstring says. Labels outside `index` mark nothing."""
    out = np.full(len(known_at), np.nan)
    if not len(known_at) or not labels or not len(index):
        return out
    bar = index[1] - index[0] if len(index) > 1 else pd.Timedelta(0)
    signal_bars = index.searchsorted(pd.DatetimeIndex(known_at), side="right") - 1
    order = np.argsort(signal_bars, kind="stable")
    ordered = signal_bars[order]
    best: dict[int, tuple] = {}  # signal -> (distance, label time, label number)
    for number, label in enumerate(labels):
        stamp = label.timestamp
        if not index[0] <= stamp < index[-1] + bar:
            continue
        position = int(index.searchsorted(stamp, side="right")) - 1
        i = int(np.searchsorted(ordered, position))
        near = [j for j in (i - 1, i) if 0 <= j < len(ordered)]
        if not near:
            continue
        j = min(near, key=lambda k: (abs(int(ordered[k]) - position), k))
        distance = abs(int(ordered[j]) - position)
        key = (distance, stamp, number)
        if distance <= tolerance_bars and (int(order[j]) not in best or key < best[int(order[j])]):
            best[int(order[j])] = key
    for signal, (_, _, number) in best.items():
        out[signal] = 1.0 if labels[number].label == "setup" else 0.0
    return out


def build_dataset(settings, setup_ref: str, *, symbol: str | None = None, start=None,
                  end=None) -> Dataset:
    """The dataset of a setup version (``"id"`` = active, ``"id@3"``) on stored candles of
    `symbol` (the setup's first by default)."""
    setups = SetupStore.from_settings(settings)
    candle_store = CandleStore.from_settings(settings)
    version = setups.load(setup_ref)
    setup = version.setup
    symbol = symbol or setup.market.symbols[0]
    timeframe = setup.market.timeframe
    candles = load_candles(candle_store, symbol, timeframe, start=start, end=end)
    lower = _lower_candles(candle_store, symbol, timeframe, candles.index[0],
                           candles.index[-1] + timeframe_delta(timeframe))
    journal = JournalStore.from_settings(settings).entries(setup_id=setup.id,
                                                           setup_version=version.version)
    labels = LabelStore.from_settings(settings).labels(setup.id)
    return make_dataset(setup, candles, symbol=symbol, version=version.version,
                        lower_candles=lower, journal=journal, labels=labels,
                        meta={"rule_hash": version.rule_hash, "setup_hash": version.hash,
                              "requested_start": str(start) if start else None,
                              "requested_end": str(end) if end else None})


def pool_datasets(datasets: list[Dataset]) -> Dataset:
    """Several setups' (or symbols') datasets as one, for a setup with too few signals of its
    own: the union of their features (NaN where a setup has no such column, e.g. another
    setup's detections), plus ``setup_<id>`` (0/1) per setup so a model can tell them apart;
    rows sorted by ``known_at`` (stable). ``meta["pooled"]`` keeps each dataset's meta."""
    if not datasets:
        raise DataError("no dataset to pool")
    features: list[str] = []
    for dataset in datasets:
        features += [f for f in dataset.features if f not in features]
    setups = sorted({d.meta.get("setup_id", "") for d in datasets})
    indicators = [f"setup_{setup_id}" for setup_id in setups]
    frames = []
    for dataset in datasets:
        frame = dataset.frame.reindex(columns=[*features, *LABELS])
        frame[features] = frame[features].astype(np.float64)
        for setup_id, column in zip(setups, indicators, strict=True):
            frame[column] = float(dataset.meta.get("setup_id", "") == setup_id)
        frames.append(frame[[*features, *indicators, *LABELS]])
    frame = pd.concat(frames, ignore_index=True).sort_values("known_at", kind="stable")
    meta = {"setup_id": "+".join(setups), "feature_set": FEATURE_SET,
            "rows": len(frame), "positives": int(frame["hit_target"].sum()),
            "pooled": [d.meta for d in datasets]}
    return Dataset(frame.reset_index(drop=True), (*features, *indicators), meta)


def save_dataset(dataset: Dataset, path) -> Path:
    """Write `dataset` to `path` (Parquet, atomically) with its meta and feature list."""
    table = pa.Table.from_pandas(dataset.frame, preserve_index=False)
    extra = json.dumps({"meta": dataset.meta, "features": list(dataset.features)},
                       sort_keys=True, default=str)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           META_KEY: extra.encode()})
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def load_dataset(path) -> Dataset:
    """A dataset written by `save_dataset`; a `DataError` naming the file otherwise."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: not a readable dataset ({exc})") from exc
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise DataError(f"{path}: not an ITA dataset (no {META_KEY.decode()} metadata)")
    extra = json.loads(raw)
    frame = table.to_pandas()
    if "trader_label" not in frame.columns:  # written before labels joined the dataset
        frame["trader_label"] = np.nan
    missing = [c for c in (*extra["features"], *LABELS) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: dataset lacks column(s) {', '.join(missing)}")
    for column in TEXT:  # as built: object columns (pandas 3 reads text back as str)
        frame[column] = frame[column].astype(object)
    return Dataset(frame, tuple(extra["features"]), extra["meta"])
