"""The demo replay: what the Live page shows before any monitor has run.

The active version of every setup is replayed over the tail of its stored candles (the demo
candles on a fresh home) through the live path, and its latest alerts are written, ranked and
with their pictures, into a journal of their own:

    <home>/.ita/demo-live/<fingerprint>/live.sqlite     (never the real journal)
    <home>/.ita/demo-live/<fingerprint>/alerts/<short_key>.png

The folder is built in a hidden temporary folder and renamed when complete, so a reader sees a
whole replay or none; its name is a fingerprint of what it was computed from (the setups' active
versions and the candle files), so a changed setup or new candles give a new replay, and an
unchanged home reuses the one on disk.

The live path: `engine.live.evaluate.replay` (bar by bar through the live evaluator) when it is
installed; before that, the compiled setup on the same window, which yields the same signals
(the parity property the live evaluator is tested for).

>>> replay = build_demo_replay(home)  # doctest: +SKIP
>>> SignalJournal(replay.journal).recent(3)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from engine._io import atomic_dir
from engine.adapters.store import CandleStore
from engine.backtest.presentation import zone_name
from engine.errors import ItaError
from engine.live.alert import render_png
from engine.live.journal import SignalJournal, short_key
from engine.live.rank import SetupStats, rank
from engine.setups.compile import compile_setup
from engine.setups.store import SetupStore, SetupVersion

DEMO_DIR = Path(".ita") / "demo-live"
REPLAY_BARS = 1500  # the tail of each series replayed (its start is the detectors' warm-up)
LATEST = 3  # alerts kept per setup and symbol: the newest
FORMAT = 1  # bump when what a replay folder holds changes
ACCOUNT_SIZE, RISK_PCT = 10_000.0, 0.5  # the settings' defaults (ranking's risk suggestion)


@dataclasses.dataclass(frozen=True)
class DemoReplay:
    """A finished demo replay: its journal and its pictures' folder."""

    folder: Path

    @property
    def journal(self) -> Path:
        return self.folder / "live.sqlite"

    def picture(self, key: str) -> Path:
        return self.folder / "alerts" / f"{key}.png"


@dataclasses.dataclass(frozen=True)
class ReplayedSignal:
    """A signal of the replay with the live signal's fields and id (engine/live/evaluate.py
    `LiveSignal`: same fields, same `signal_id`)."""

    known_at: pd.Timestamp
    symbol: str
    direction: int
    entry_type: str
    entry: float
    stop: float
    target: float
    r_planned: float
    expiry_bars: int
    time_exit_bars: int
    breakeven_r: float
    partial_r: float
    partial_fraction: float
    setup_id: str
    setup_version: int
    reasons: str
    timeframe: str
    source: str

    @property
    def signal_id(self) -> str:
        side = "long" if self.direction > 0 else "short"
        return (f"{self.setup_id}@v{self.setup_version}|{self.source}:{self.symbol}|"
                f"{self.timeframe}|{self.known_at:%Y-%m-%dT%H:%MZ}|{side}")

    @classmethod
    def from_row(cls, row, *, timeframe: str, source: str) -> ReplayedSignal:
        names = [f.name for f in dataclasses.fields(cls) if f.name not in ("timeframe",
                                                                            "source")]
        values = {name: row[name] for name in names}
        return cls(**values, timeframe=timeframe, source=source)


def demo_root(home: str | Path) -> Path:
    return Path(home) / DEMO_DIR


def build_demo_replay(home: str | Path, *, latest: int = LATEST, tz="UTC") -> DemoReplay:
    """The demo replay of `home` (the `latest` alerts of each active setup and symbol),
    computed now unless an identical one is on disk. `tz` (a zone name or tzinfo) is the
    pictures' time axis."""
    home = Path(home)
    setups, candles = SetupStore(home / "setups"), CandleStore(home / "data" / "candles")
    versions = _active_versions(setups)
    folder = demo_root(home) / _fingerprint(versions, candles, home / "runs", zone_name(tz))
    if (folder / "live.sqlite").exists():
        return DemoReplay(folder)
    picked = _latest_signals(versions, candles, latest)
    with atomic_dir(folder) as tmp:
        _write(tmp, home, picked, tz=tz)
    _forget_others(folder)
    return DemoReplay(folder)


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


def _fingerprint(versions: Iterable[SetupVersion], candles: CandleStore, runs: Path,
                 tz: str) -> str:
    """What a replay is computed from: the setup versions, the candle files, the backtest runs
    (scores) and the pictures' zone."""
    seen = hashlib.sha256(f"format {FORMAT}\nzone {tz}\n".encode())
    for version in versions:
        seen.update(f"{version.id}@{version.version}:{version.hash}\n".encode())
    for root, pattern in ((candles.root, "*/*/*.parquet"), (runs, "*/summary.json")):
        for path in sorted(root.glob(pattern)) if root.exists() else []:
            seen.update(f"{path.relative_to(root)}:{path.stat().st_mtime_ns}\n".encode())
    return seen.hexdigest()[:16]


def _latest_signals(versions: list[SetupVersion], candles: CandleStore, latest: int
                    ) -> list[tuple[ReplayedSignal, SetupVersion, pd.DataFrame]]:
    found = []
    for version in versions:
        timeframe = version.setup.market.timeframe
        for symbol in version.setup.market.symbols:
            source = _source_of(candles, symbol)
            if source is None:
                continue
            window = candles.read(symbol, timeframe, source=source).iloc[-REPLAY_BARS:]
            if window.empty or window.isna().any().any():
                continue
            signals = _replayed(version, window, symbol=symbol, timeframe=timeframe,
                                source=source)
            found += [(signal, version, window) for signal in signals[-latest:]]
    found.sort(key=lambda item: (item[0].known_at, item[0].signal_id), reverse=True)
    return found


def _source_of(candles: CandleStore, symbol: str) -> str | None:
    sources = sorted({s.source for s in candles.series() if s.symbol == symbol})
    return sources[0] if sources else None


def _replayed(version: SetupVersion, window: pd.DataFrame, *, symbol: str, timeframe: str,
              source: str) -> list:
    try:
        from engine.live.evaluate import replay
    except ImportError:  # the live evaluator is not installed: the compiled setup (parity)
        compiled = compile_setup(version.setup, version=version.version)
        frame = compiled(window, symbol=symbol)
        return [ReplayedSignal.from_row(row, timeframe=timeframe, source=source)
                for row in frame.to_dict("records")]
    return list(replay(version.setup, version.version, window, timeframe=timeframe,
                       source=source))


def _write(folder: Path, home: Path, picked, *, tz) -> None:
    (folder / "alerts").mkdir()
    journal = SignalJournal(folder / "live.sqlite")
    try:
        stats: dict[tuple[str, int], SetupStats] = {}
        for signal, version, window in picked:
            key = (version.id, version.version)
            if key not in stats:
                stats[key] = SetupStats.from_runs(home, *key, tz=tz)
            score = rank(signal, stats[key], account_size=ACCOUNT_SIZE, risk_pct=RISK_PCT,
                         costs=version.setup.costs).score
            journal.record(signal, score=score if math.isfinite(score) else None)
            png = render_png(window, signal, tz=tz)
            (folder / "alerts" / f"{short_key(signal.signal_id)}.png").write_bytes(png)
        journal.set_value("demo_replay", json.dumps(
            {"signals": len(picked), "built_at": pd.Timestamp.now(tz="UTC").isoformat()}))
    finally:
        journal.close()  # the last connection: SQLite folds the WAL into the file


def _forget_others(keep: Path) -> None:
    for other in keep.parent.iterdir():
        if other != keep and other.is_dir() and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)
