"""What became of each live signal: traded alone, the way the backtester would have traded it.

`resolve_outcomes` takes every journal signal whose outcome is unknown and runs it through
`engine.backtest.alone.simulate_alone` — the backtest's own kernel — over the stored candles
from the signal's bar on, with its setup version's costs and the stored 1m bars to resolve a
bar that touches both stop and target (as `run_backtest` does). It records what is known:

| simulate_alone says                          | journal outcome (`SignalJournal.set_outcome`)  |
| -------------------------------------------- | ---------------------------------------------- |
| trade, exit stop / target / time / breakeven | that reason, ``r_net`` as ``outcome_r``, the   |
|                                              | exit bar as ``outcome_at``                      |
| trade, exit ``end`` (still open at the data  | nothing: unknown until a rule closes it        |
| end)                                         |                                                |
| unfilled_or_invalid, the order's last        | ``unfilled``, no R, that last working bar      |
| working bar closed                           |                                                |
| an order still working, no bar to fill on    | nothing: unknown                               |

Conventions (each one tested in tests/live/test_outcomes*.py):

- **Closed bars only.** An outcome is known at the close of its exit bar, never earlier: bars
  whose close is after `now` are left out, and a trade whose exit bar is not in the data yet
  stays unknown (cut the candles one bar before the exit: still unknown).
- **The backtest's numbers.** A signal the backtester traded gets the backtest's ``r_net``
  exactly (R does not depend on the position size); one the one-position rule skipped gets
  what it would have made on its own (`simulate_alone`). The trader's decision (Taken /
  Skipped) does not change the outcome: drift reports compare the two.
- **Once.** An outcome is written once and never changed (`set_outcome`); calling this again
  is cheap and records only what became known since.
- **Cheap after every close.** Only unknown signals are read; candles are read once per series
  (source, symbol, timeframe), only from the earliest unknown signal's bar, and simulated once
  per setup version. The live monitor keeps one `OutcomeResolver`: it resolves only the series
  that just closed a bar, from the bars it remembers extended by the monitor's window (the
  store only when the window does not join them; no store at all when the window reaches back
  to the signal's bar). A series that cannot be read (no candles stored, a setup version's
  file gone) is reported in `OutcomeReport.problems` and the other series go on.
- **A live-only caveat.** The 1m bars that settle a bar touching both stop and target are read
  from the store when the monitor has no 1m window of that market; a 1m bar not written yet
  then counts as missing, and the bar is settled stop first, as the backtester does without
  1m bars.

>>> update_outcomes(get_settings())  # doctest: +SKIP
OutcomeReport(checked=12, recorded={'target': 2, 'stop': 3}, still_open=7, problems=())
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.adapters.store import CandleStore
from engine.backtest.alone import simulate_alone
from engine.backtest.simulate import Costs, bar_positions
from engine.candles import COLUMNS as CANDLE_COLUMNS
from engine.candles import timeframe_delta
from engine.errors import ItaError
from engine.live.journal import JournalSignal, SignalJournal, journal_path
from engine.setups.store import SetupStore
from engine.signals import LIMIT, SIGNAL_COLUMNS, conform_signals

log = logging.getLogger("ita.live.outcomes")

LOWER_TIMEFRAME = "1m"  # what resolves a bar touching both stop and target (as run_backtest)


@dataclasses.dataclass(frozen=True)
class OutcomeReport:
    """One pass: unknown signals looked at, outcomes recorded by kind, signals still open
    (a trade not closed, an order still working) and one line per series that failed."""

    checked: int = 0
    recorded: dict[str, int] = dataclasses.field(default_factory=dict)
    still_open: int = 0
    problems: tuple[str, ...] = ()

    @property
    def total_recorded(self) -> int:
        return sum(self.recorded.values())


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A known outcome of one signal, as `SignalJournal.set_outcome` takes it."""

    signal_id: str
    outcome: str
    r: float | None
    at: pd.Timestamp


def resolve_outcomes(journal: SignalJournal, candle_store: CandleStore, setup_store: SetupStore,
                     **options: Any) -> OutcomeReport:
    """One pass of `OutcomeResolver.resolve` (the CLI's catch-up; the monitor keeps one
    resolver, so candles and costs are not read again on every close)."""
    return OutcomeResolver(journal, candle_store, setup_store).resolve(**options)


class OutcomeResolver:
    """Records outcomes into `journal` (see the module docstring). It remembers each series'
    candles from its earliest unknown signal on, extended by the live window's new bars (read
    from the store again when the window does not join them), and each setup version's costs
    (versions never change)."""

    def __init__(self, journal: SignalJournal, candle_store: CandleStore,
                 setup_store: SetupStore) -> None:
        self.journal, self.candle_store, self.setup_store = journal, candle_store, setup_store
        self._costs: dict[tuple[str, int], Costs] = {}
        self._candles: dict[tuple[str, str, str], pd.DataFrame] = {}

    def resolve(self, *, now: pd.Timestamp | None = None, since: Any = None,
                recent: Mapping[Any, pd.DataFrame] | None = None,
                only: Iterable[Any] | None = None) -> OutcomeReport:
        """Record the outcome of every unknown journal signal (bar at or after `since`) that
        is known by `now` (default: the wall clock). `recent`: closed bars newer than the store
        may hold yet ({FeedKey: frame}, e.g. the live monitor's windows; the store is written
        behind the monitor's loop). `only`: just the signals of these series (FeedKeys: those
        that just closed a bar; nothing new can be known for the others)."""
        now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
        fresh = {_series(k): frame for k, frame in (recent or {}).items()}
        wanted = None if only is None else {_series(k) for k in only}
        series: dict[tuple[str, str, str], list[JournalSignal]] = defaultdict(list)
        for signal in self.journal.unresolved(since=since):
            key = (signal.source, signal.symbol, signal.timeframe)
            if wanted is None or key in wanted:
                series[key].append(signal)
        for key in set(self._candles) - set(series):
            del self._candles[key]  # nothing unknown left there
        recorded: Counter[str] = Counter()
        problems: list[str] = []
        for key, signals in series.items():
            found = self._series_outcomes(key, signals, now, fresh.get(key),
                                          fresh.get((*key[:2], LOWER_TIMEFRAME)), problems)
            for outcome in found:
                try:
                    if self.journal.set_outcome(outcome.signal_id, outcome.outcome, outcome.r,
                                                outcome.at):
                        recorded[outcome.outcome] += 1
                except ItaError as error:  # a different outcome already recorded: kept
                    problems.append(str(error))
                    log.warning("%s", error)
        checked = sum(len(signals) for signals in series.values())
        return OutcomeReport(checked=checked, recorded=dict(recorded),
                             still_open=checked - sum(recorded.values()),
                             problems=tuple(problems))

    def _series_outcomes(self, key: tuple[str, str, str], signals: list[JournalSignal],
                         now: pd.Timestamp, fresh: pd.DataFrame | None,
                         fresh_lower: pd.DataFrame | None,
                         problems: list[str]) -> list[Outcome]:
        """The known outcomes of one series' unknown signals: one simulation per setup
        version; what fails is added to `problems` (the rest goes on)."""
        source, symbol, timeframe = key
        name = f"{source}:{symbol} {timeframe}"
        try:
            candles = self._series_candles(key, min(s.known_at for s in signals), now, fresh)
        except ItaError as error:
            return _problem(problems, name, error)
        if candles.empty:
            return []
        lower = _lower_candles(self.candle_store, source, symbol, timeframe, candles,
                               fresh=fresh_lower)
        versions: dict[tuple[str, int], list[JournalSignal]] = defaultdict(list)
        for signal in signals:
            versions[(signal.setup_id, int(signal.setup_version))].append(signal)
        found: list[Outcome] = []
        for version, group in versions.items():
            try:
                found += known_outcomes(candles, group, costs=self._version_costs(version),
                                        lower_candles=lower)
            except ItaError as error:
                _problem(problems, f"{name}, {version[0]} v{version[1]}", error)
        return found

    def _version_costs(self, version: tuple[str, int]) -> Costs:
        if version not in self._costs:
            setup = self.setup_store.load(version[0], version[1]).setup
            self._costs[version] = Costs(setup.costs.fee_bps, setup.costs.slippage_bps)
        return self._costs[version]

    def _series_candles(self, key: tuple[str, str, str], start: pd.Timestamp,
                        now: pd.Timestamp, fresh: pd.DataFrame | None) -> pd.DataFrame:
        """The series' closed bars from `start`: the remembered ones extended by `fresh` when
        they join without a hole, else read again (`closed_candles`)."""
        step = timeframe_delta(key[2])
        cached = self._candles.get(key)
        if (cached is not None and len(cached) and cached.index[0] <= start
                and fresh is not None and len(fresh) and fresh.index[0] <= cached.index[-1] + step):
            newer = fresh.loc[fresh.index > cached.index[-1], list(CANDLE_COLUMNS)]
            candles = pd.concat([cached, newer]) if len(newer) else cached
        else:
            candles = closed_candles(self.candle_store, *key, start=start, now=now, fresh=fresh)
        candles = candles[(candles.index >= start) & (candles.index + step <= now)]
        self._candles[key] = candles
        return candles


def _series(key: Any) -> tuple[str, str, str]:
    return (key.source, key.symbol, key.timeframe)


def update_outcomes(settings, *, since: Any = None, now: pd.Timestamp | None = None
                    ) -> OutcomeReport:
    """`resolve_outcomes` for the ITA home of `settings` (what ``ita live outcomes`` runs)."""
    with SignalJournal(journal_path(settings.home)) as journal:
        return resolve_outcomes(journal, CandleStore.from_settings(settings),
                                SetupStore.from_settings(settings), now=now, since=since)


def _problem(problems: list[str], name: str, error: ItaError) -> list[Outcome]:
    problems.append(f"{name}: {error}")
    log.warning("outcomes of %s: %s", name, error)
    return []


def closed_candles(candle_store: CandleStore, source: str, symbol: str, timeframe: str, *,
                   start: pd.Timestamp, now: pd.Timestamp,
                   fresh: pd.DataFrame | None = None) -> pd.DataFrame:
    """Stored bars of one series from `start` on, plus the `fresh` bars after them, keeping
    only those closed by `now`."""
    if fresh is not None and len(fresh) and fresh.index[0] <= start:  # no disk read needed
        candles = fresh.loc[fresh.index >= start, list(CANDLE_COLUMNS)]
    else:
        candles = candle_store.read(symbol, timeframe, source=source, start=start)
    if fresh is not None and len(fresh):
        newer = fresh.loc[fresh.index > (candles.index[-1] if len(candles) else start
                                          - pd.Timedelta(1)), list(candles.columns)]
        candles = pd.concat([candles, newer]) if len(candles) else newer
    step = timeframe_delta(timeframe)
    return candles[candles.index + step <= now]


def _lower_candles(candle_store: CandleStore, source: str, symbol: str, timeframe: str,
                   candles: pd.DataFrame, *, fresh: pd.DataFrame | None = None
                   ) -> pd.DataFrame | None:
    """The 1m bars inside `candles`: `fresh` (a live window) when it covers them all, else the
    stored ones (None for a 1m series or when none are stored)."""
    step = timeframe_delta(timeframe)
    if step <= timeframe_delta(LOWER_TIMEFRAME):
        return None
    end = candles.index[-1] + step
    if (fresh is not None and len(fresh) and fresh.index[0] <= candles.index[0]
            and fresh.index[-1] + timeframe_delta(LOWER_TIMEFRAME) >= end):
        return fresh.loc[(fresh.index >= candles.index[0]) & (fresh.index < end),
                         list(CANDLE_COLUMNS)]
    try:
        return candle_store.read(symbol, LOWER_TIMEFRAME, source=source,
                                 start=candles.index[0], end=candles.index[-1] + step)
    except ItaError:
        return None


def known_outcomes(candles: pd.DataFrame, signals: list[JournalSignal], *, costs: Costs,
                   lower_candles: pd.DataFrame | None = None) -> list[Outcome]:
    """The outcomes of `signals` (one setup version, one series) that `candles` (closed bars,
    from the earliest signal's bar on) already decide; the rest are left out."""
    ordered = sorted(signals, key=lambda signal: signal.known_at)
    frame = conform_signals(_signal_frame(ordered))
    alone = simulate_alone(candles, frame, costs=costs, lower_candles=lower_candles)
    bars = bar_positions(candles.index, frame["known_at"])
    last = len(candles) - 1
    found = []
    for i, signal in enumerate(ordered):
        row = alone.iloc[i]
        if row["status"] == "trade" and row["exit_reason"] != "end":
            found.append(Outcome(signal.signal_id, str(row["exit_reason"]),
                                 float(row["r_net"]), pd.Timestamp(row["exit_time"])))
        elif row["status"] == "unfilled_or_invalid":
            working = int(signal.expiry_bars) if signal.entry_type == LIMIT else 1
            final = int(bars[i]) + working  # the order's last working bar
            if final <= last:
                found.append(Outcome(signal.signal_id, "unfilled", None,
                                     candles.index[final]))
    return found


def _signal_frame(signals: list[JournalSignal]) -> pd.DataFrame:
    """The signals (sorted by bar) as a frame already in the contract's dtypes (building it
    column by column is several times cheaper than converting it afterwards)."""
    columns = {}
    for name, dtype in SIGNAL_COLUMNS.items():
        values = [signal.fields[name] for signal in signals]
        if name == "known_at":
            columns[name] = pd.Series(pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns"))
        elif dtype == "object":
            columns[name] = pd.Series(values, dtype=object)
        else:
            columns[name] = pd.Series(np.array(values, dtype=dtype))
    return pd.DataFrame(columns)


__all__ = ["Outcome", "OutcomeReport", "closed_candles", "known_outcomes", "resolve_outcomes",
           "update_outcomes"]
