"""Candle store and importers on one year of 1m candles (525,600 rows), generated here.
Targets: import the CSV in < 3 s; read any one month in < 50 ms; resample 1m -> 1h in < 0.3 s."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench._common import Result, best_of, synthetic_candles
from engine.adapters.importers import import_file
from engine.adapters.store import CandleStore
from engine.candles import resample

TITLE = "Candle store and importers (issue 2)"


def run() -> list[Result]:
    year = synthetic_candles()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "year.csv"
        year.rename_axis("time").to_csv(csv, date_format="%Y-%m-%dT%H:%M:%SZ")
        times = []
        for attempt in range(3):
            store = CandleStore(Path(folder) / f"store{attempt}")
            start = time.perf_counter()
            import_file(csv, symbol="SYN/USD", timeframe="1m", store=store, source="bench")
            times.append(time.perf_counter() - start)
        read = best_of(lambda: store.read("SYN/USD", "1m", start="2023-06-01",
                                          end="2023-07-01"), repeat=10)
    return [
        Result("data", "import 525,600-row CSV (validate + atomic upsert)", min(times),
               target=3.0),
        Result("data", "read one month of 1m from the store", read, target=0.050),
        Result("data", "resample 1y 1m -> 1h", best_of(lambda: resample(year, "1h")),
               target=0.300),
    ]
