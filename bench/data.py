"""Candle store and importers on one year of 1m candles (525,600 rows), generated here.
Targets: import the CSV in < 3 s; read any one month in < 50 ms; resample 1m -> 1h in < 0.3 s."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from bench._common import Result, fresh, measure, synthetic_candles
from engine.adapters.importers import import_file
from engine.adapters.store import CandleStore
from engine.candles import resample

TITLE = "Candle store and importers (issue 2)"
WARMUP, REPEAT, IMPORT_REPEAT = 1, 10, 3
TIMING = (f"{WARMUP} warm-up call, then the best of {REPEAT} (the import: {IMPORT_REPEAT}, "
          "each into a new, empty store).")


def run() -> list[Result]:
    year = synthetic_candles()
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "year.csv"
        year.rename_axis("time").to_csv(csv, date_format="%Y-%m-%dT%H:%M:%SZ")
        stores = (CandleStore(Path(folder) / f"store{n}") for n in itertools.count())
        imported = measure(lambda store: import_file(csv, symbol="SYN/USD", timeframe="1m",
                                                     store=store, source="bench"),
                           make_input=lambda: next(stores), warmup=WARMUP, repeat=IMPORT_REPEAT)
        store = CandleStore(Path(folder) / "store0")
        read = measure(lambda store: store.read("SYN/USD", "1m", start="2023-06-01",
                                                end="2023-07-01"),
                       make_input=lambda: store, warmup=WARMUP, repeat=REPEAT)
    resampled = measure(lambda candles: resample(candles, "1h"), make_input=fresh(year),
                        warmup=WARMUP, repeat=REPEAT)
    return [
        Result("data", "import 525,600-row CSV (validate + atomic upsert)", imported,
               target=3.0),
        Result("data", "read one month of 1m from the store", read, target=0.050),
        Result("data", "resample 1y 1m -> 1h", resampled, target=0.300),
    ]
