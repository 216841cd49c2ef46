"""The evaluator the monitor tests run: s-eval's `engine.live.evaluate.LiveEvaluator` when it
is there, else `ContractEvaluator`, a plain stand-in with the same contract (docs: live
contracts): the active version of every setup, re-read on each call; on each call the signals
of the whole window whose bar is newly closed (the first call: its last bar)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from engine.setups import compile_setup
from engine.setups.store import SetupStore
from tests.fakes.live_signal import FakeLiveSignal

FIELDS = [f.name for f in dataclasses.fields(FakeLiveSignal)]


def live_signals(frame: pd.DataFrame, *, timeframe: str, source: str) -> list[FakeLiveSignal]:
    rows = frame.to_dict("records")
    return [FakeLiveSignal(**{name: row[name] for name in FIELDS
                              if name not in ("timeframe", "source")},
                           timeframe=timeframe, source=source) for row in rows]


class ContractEvaluator:
    def __init__(self, home: Path, *, warmup: int = 300) -> None:
        self.store = SetupStore(Path(home) / "setups")
        self.warmup = warmup
        self._compiled: dict[tuple[str, int], object] = {}
        self._seen: dict = {}
        self.calls = 0

    def warmup_bars(self, setup) -> int:
        return self.warmup

    def _active(self):
        for setup_id in self.store.ids():
            version = self.store.active(setup_id)
            if (setup_id, version) not in self._compiled:
                loaded = self.store.load(setup_id, version)
                self._compiled[(setup_id, version)] = (loaded.setup,
                                                       compile_setup(loaded.setup,
                                                                     version=version))
            yield self._compiled[(setup_id, version)]

    def on_bars(self, key, window: pd.DataFrame) -> list[FakeLiveSignal]:
        self.calls += 1
        last = self._seen.get(key, window.index[-2] if len(window) > 1 else None)
        self._seen[key] = window.index[-1]
        out = []
        for setup, compiled in self._active():
            if setup.market.timeframe != key.timeframe or key.symbol not in setup.market.symbols:
                continue
            frame = compiled(window, symbol=key.symbol)
            if last is not None:
                frame = frame[frame["known_at"] > last]
            out += live_signals(frame, timeframe=key.timeframe, source=key.source)
        return out


def replay(setup, version, candles, *, timeframe, source):
    frame = compile_setup(setup, version=version)(candles, symbol=setup.market.symbols[0])
    return live_signals(frame, timeframe=timeframe, source=source)


def make_evaluator(home: Path):
    try:
        from engine.live.evaluate import LiveEvaluator
    except ImportError:
        return ContractEvaluator(home)
    return LiveEvaluator(home)
