"""The demo replay: what the Live page shows before any monitor has run.

The active version of every setup is replayed through the live path
(`engine.live.evaluate.replay`: `LiveSignal`s with their signal ids, exactly what the monitor
would have raised) over the last `REPLAY_DAYS` days of its stored candles (the demo candles on
a fresh home; the bars before serve as the detectors' history):

- the newest `BAR_BY_BAR` bars one closed bar at a time, as the running monitor sees them;
- the days before, a day of bars at a time, as the monitor catches up after a gap (the same
  signals: the catch-up parity is tested in tests/live/test_evaluate_parity.py). Bar by bar
  all the way costs 5–10 ms a bar per setup: a minute for the example setups' week.

Its latest alerts (`LATEST` per setup and symbol) are written, with their pictures, into a
journal of their own:

    <home>/.ita/demo-live/<fingerprint>/live.sqlite     (never the real journal)
    <home>/.ita/demo-live/<fingerprint>/alerts/<short_key>.png

The folder is built in a hidden temporary folder and renamed when complete, so a reader sees a
whole replay or none; its name is a fingerprint of what the alerts are computed from (the
setups' active versions, the candle files and the pictures' zone), so a changed setup or new
candles give a new replay, and an unchanged home reuses the one on disk (`find_demo_replay`).
The journal's score is the one at build time; the Live page ranks demo alerts from the backtest
runs on disk when it shows them, so a new backtest needs no new replay.

>>> replay = build_demo_replay(home)  # doctest: +SKIP
>>> SignalJournal(replay.journal).recent(3)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from engine._io import atomic_dir
from engine.adapters.store import CandleStore
from engine.backtest.presentation import zone_name
from engine.candles import timeframe_delta
from engine.errors import ItaError
from engine.live.alert import render_png
from engine.live.evaluate import LiveSignal, replay
from engine.live.journal import SignalJournal, short_key
from engine.live.rank import SetupStats, rank
from engine.setups.store import SetupStore, SetupVersion

DEMO_DIR = Path(".ita") / "demo-live"
REPLAY_DAYS = 7  # how far back the replay looks for alerts
BAR_BY_BAR = 60  # the newest bars, evaluated one closed bar at a time
LATEST = 3  # alerts kept per setup and symbol: the newest
FORMAT = 2  # bump when what a replay folder holds changes
ACCOUNT_SIZE, RISK_PCT = 10_000.0, 0.5  # the settings' defaults (ranking's risk suggestion)

Progress = Callable[[str, float], None]  # (what is being done, fraction done)


@dataclasses.dataclass(frozen=True)
class DemoReplay:
    """A finished demo replay: its journal and its pictures' folder."""

    folder: Path

    @property
    def journal(self) -> Path:
        return self.folder / "live.sqlite"

    def picture(self, key: str) -> Path:
        return self.folder / "alerts" / f"{key}.png"


def demo_root(home: str | Path) -> Path:
    return Path(home) / DEMO_DIR


def find_demo_replay(home: str | Path, *, tz="UTC") -> DemoReplay | None:
    """The demo replay of `home` on disk, when one was built from what the home holds now
    (cheap: loads the active setups and lists the candle files); else None."""
    folder = _folder(Path(home), tz)[0]
    return DemoReplay(folder) if (folder / "live.sqlite").exists() else None


def build_demo_replay(home: str | Path, *, latest: int = LATEST, tz="UTC",
                      progress: Progress | None = None) -> DemoReplay:
    """The demo replay of `home` (the `latest` alerts of each active setup and symbol),
    computed now unless an identical one is on disk. `tz` (a zone name or tzinfo) is the
    pictures' time axis; `progress` hears what is being done."""
    home = Path(home)
    folder, versions = _folder(home, tz)
    if (folder / "live.sqlite").exists():
        return DemoReplay(folder)
    report = progress or (lambda what, done: None)
    picked = _latest_signals(versions, CandleStore(home / "data" / "candles"), latest, report)
    try:
        with atomic_dir(folder) as tmp:
            _write(tmp, home, picked, tz=tz, report=report)
    except OSError:  # another process finished the same replay first: keep its folder
        if not (folder / "live.sqlite").exists():
            raise
    _forget_others(folder)
    report("done", 1.0)
    return DemoReplay(folder)


def _folder(home: Path, tz) -> tuple[Path, list[SetupVersion]]:
    versions = _active_versions(SetupStore(home / "setups"))
    candles = CandleStore(home / "data" / "candles")
    return demo_root(home) / _fingerprint(versions, candles, zone_name(tz)), versions


def _active_versions(setups: SetupStore) -> list[SetupVersion]:
    versions = []
    for info in setups.list():
        if info.active is None:
            continue
        try:
            versions.append(setups.load(info.id, info.active))
        except ItaError:  # an unreadable setup is the Setups page's business, not the demo's
            continue
    return versions


def _fingerprint(versions: Iterable[SetupVersion], candles: CandleStore, tz: str) -> str:
    """What a replay's alerts are computed from: the setup versions, the candle files and the
    pictures' zone."""
    seen = hashlib.sha256(f"format {FORMAT}\nzone {tz}\n".encode())
    for version in versions:
        seen.update(f"{version.id}@{version.version}:{version.hash}\n".encode())
    root = candles.root
    for path in sorted(root.glob("*/*/*.parquet")) if root.exists() else []:
        seen.update(f"{path.relative_to(root)}:{path.stat().st_mtime_ns}\n".encode())
    return seen.hexdigest()[:16]


def _latest_signals(versions: list[SetupVersion], candles: CandleStore, latest: int,
                    report: Progress) -> list[tuple[LiveSignal, SetupVersion, pd.DataFrame]]:
    found = []
    series = [(version, symbol) for version in versions
              for symbol in version.setup.market.symbols]
    for done, (version, symbol) in enumerate(series):
        timeframe = version.setup.market.timeframe
        report(f"replaying {version.id} v{version.version} on {symbol} {timeframe}",
               0.8 * done / max(1, len(series)))
        source = _source_of(candles, symbol)
        if source is None:
            continue
        history = candles.read(symbol, timeframe, source=source)
        if history.empty or history.isna().any().any():
            continue
        signals = replayed(version, history, symbol=symbol, source=source)
        found += [(signal, version, history) for signal in signals[-latest:]]
    found.sort(key=lambda item: (item[0].known_at, item[0].signal_id), reverse=True)
    return found


def _source_of(candles: CandleStore, symbol: str) -> str | None:
    sources = sorted({s.source for s in candles.series() if s.symbol == symbol})
    return sources[0] if sources else None


def replayed(version: SetupVersion, history: pd.DataFrame, *, symbol: str, source: str,
             days: float = REPLAY_DAYS, bar_by_bar: int = BAR_BY_BAR) -> list[LiveSignal]:
    """The live signals of `version` on the last `days` of `history` (its bars at the setup's
    timeframe): a day at a time, then the newest `bar_by_bar` bars one at a time."""
    timeframe = version.setup.market.timeframe
    per_day = max(1, int(pd.Timedelta(days=1) / timeframe_delta(timeframe)))
    tail = max(0, len(history) - bar_by_bar)
    first = max(0, min(tail, len(history) - int(days * per_day)))
    run = dict(timeframe=timeframe, source=source, symbol=symbol)
    older = replay(version.setup, version.version, history.iloc[:tail], start=first,
                   step=per_day, **run) if first < tail else []
    return older + replay(version.setup, version.version, history, start=tail, **run)


def _write(folder: Path, home: Path, picked, *, tz, report: Progress) -> None:
    (folder / "alerts").mkdir()
    journal = SignalJournal(folder / "live.sqlite")
    try:
        stats: dict[tuple[str, int], SetupStats] = {}
        for done, (signal, version, history) in enumerate(picked):
            report(f"drawing alert {done + 1} of {len(picked)}", 0.8 + 0.2 * done / len(picked))
            key = (version.id, version.version)
            if key not in stats:
                stats[key] = SetupStats.from_runs(home, *key, tz=tz)
            score = rank(signal, stats[key], account_size=ACCOUNT_SIZE, risk_pct=RISK_PCT,
                         costs=version.setup.costs).score
            journal.record(signal, score=score if math.isfinite(score) else None)
            png = render_png(history, signal, tz=tz)
            (folder / "alerts" / f"{short_key(signal.signal_id)}.png").write_bytes(png)
        journal.set_value("demo_replay", json.dumps(
            {"signals": len(picked), "built_at": pd.Timestamp.now(tz="UTC").isoformat()}))
    finally:
        journal.close()  # the last connection: SQLite folds the WAL into the file


def _forget_others(keep: Path) -> None:
    for other in keep.parent.iterdir():
        if other != keep and other.is_dir() and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.live.demo HOME [--tz ZONE]``: build the demo replay of `HOME` in this
    process, one ``<fraction>\\t<what>`` progress line per step on stdout; an `ItaError` is one
    line on stderr and exit code 1. The app runs it as a child process at a lower priority, so
    the build never competes with the pages for the server's interpreter."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m engine.live.demo")
    parser.add_argument("home")
    parser.add_argument("--tz", default="UTC")
    args = parser.parse_args(argv)

    def progress(what: str, done: float) -> None:
        print(f"{done:.3f}\t{what}", flush=True)

    try:
        build_demo_replay(args.home, tz=args.tz, progress=progress)
    except ItaError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
