"""First-start content: the bundled real candles and the example setups."""

from __future__ import annotations

from pathlib import Path

from engine.adapters.importers import ImportReport, import_file
from engine.adapters.store import CandleStore
from engine.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "demo"
DEMO_SOURCE = "binanceus"
DEMO_FILES = {
    "BTC/USDT": DEMO_DIR / "binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv",
    "BTC/USD": DEMO_DIR / "binanceus_BTCUSD_1m_2023-03-01_2023-03-21.csv",
}
EXAMPLES_DIR = ROOT / "examples" / "setups"


def import_demo_candles(store: CandleStore) -> list[ImportReport]:
    """Import the bundled Binance.US 1m candles unless that series is already stored."""
    reports = []
    for symbol, path in DEMO_FILES.items():
        if store.path(DEMO_SOURCE, symbol, "1m").exists():
            continue
        reports.append(import_file(path, symbol=symbol, timeframe="1m", store=store,
                                   source=DEMO_SOURCE, format="binance"))
    return reports


def run_demo(settings: Settings | None = None) -> dict[str, list]:
    """Everything `make run` needs on first start; does nothing the second time."""
    settings = settings or get_settings()
    from engine.setups.store import SetupStore

    candles = import_demo_candles(CandleStore.from_settings(settings))
    setups = SetupStore.from_settings(settings).seed_examples(EXAMPLES_DIR)
    return {"candles": candles, "setups": setups}
