"""Shared fixtures: the real demo candles, an isolated ITA home per test, and demo homes (the
demo candles and example setups) made by copying one made once per session."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("SMC_CREDIT", "0")  # smartmoneyconcepts prints a banner otherwise
# The CLI's rich consoles are made at import and keep the width COLUMNS says then; tests give the
# width per call (`CliRunner(env={"COLUMNS": ...})`). pytest-xdist's workers set COLUMNS=80 and
# LINES=24 (so would a shell exporting them): the run's terminal must not reach the CLI.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / "demo"
BTCUSDT_CSV = DEMO_DIR / "binanceus_BTCUSDT_1m_2023-03-01_2023-03-21.csv"
BTCUSD_CSV = DEMO_DIR / "binanceus_BTCUSD_1m_2023-03-01_2023-03-21.csv"


def read_demo_candles(path: Path = BTCUSDT_CSV) -> pd.DataFrame:
    """The real Binance.US 1m candles as a contract frame, read without the importers so that
    engine tests do not depend on them."""
    frame = pd.read_csv(path)
    index = pd.DatetimeIndex(pd.to_datetime(frame["open_time"], utc=True), name="time")
    columns = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(frame[columns].to_numpy("float64"), index=index, columns=columns)


@pytest.fixture(scope="session")
def demo_candles() -> pd.DataFrame:
    """30,240 real BTC/USDT 1m candles, March 1-21 2023 (read-only: copy before changing)."""
    return read_demo_candles()


@pytest.fixture()
def ita_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ITA home folder; `engine.settings.get_settings()` points at it."""
    monkeypatch.setenv("ITA_HOME", str(tmp_path))
    return tmp_path


# The files that took longest in a run on two workers (the 2-core machine, loaded) run first:
# with `--dist loadfile --no-loadscope-reorder` a worker takes the next file in this order as it
# finishes one, so a long file started last (xdist's own order puts files of one test, like the
# browser journey, last) would leave the other worker idle at the end. The rest keep their order.
LONG_FILES = (
    "tests/live/test_monitor.py",  # replays of 120 bars
    "tests/e2e/test_browser.py",  # the trader's journey in Chromium
    "tests/app/test_live_page.py",
    "tests/app/test_page_speed.py",
    "tests/paper/test_live_paper.py",
    "tests/notify/test_crash_points.py",
    "tests/paper/test_parity.py",
    "tests/live/test_learned_alerts.py",
    "tests/jobs/test_research_jobs.py",
    "tests/live/test_monitor_wiring.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@contextmanager
def home_env(folder: Path) -> Iterator[Path]:
    """`ITA_HOME` points at `folder` within the block (for fixtures of a module or a session,
    which cannot use the per-test `monkeypatch`)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def _demo_original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ita demo` run once per session into a folder no test is given: the original that
    `new_demo_home` copies."""
    from engine.demo import run_demo

    with home_env(tmp_path_factory.mktemp("demo-original")) as folder:
        run_demo()
    return folder


@pytest.fixture(scope="session")
def new_demo_home(_demo_original: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``new_demo_home(name)``: a new ITA home of the caller's own with the demo candles and the
    example setups, as `ita demo` leaves it (a copy of the session's original: 2 MB, a few
    milliseconds instead of an import). `ITA_HOME` is left alone: fixtures point it there."""

    def make(name: str = "home") -> Path:
        folder = tmp_path_factory.mktemp(name)
        shutil.copytree(_demo_original, folder, dirs_exist_ok=True)
        return folder

    return make


@pytest.fixture(scope="module")
def module_demo_home(new_demo_home: Callable[[str], Path]) -> Path:
    """A demo home the tests of one module share (see `demo_settings`)."""
    return new_demo_home("demo")


@pytest.fixture()
def demo_settings(module_demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The module's demo home (its candles and setups: tests must not change them) with this
    test's own exchange and shared folders; `ITA_HOME` points at the home."""
    return shared_home_settings(module_demo_home, tmp_path, monkeypatch)


def shared_home_settings(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The settings of a home shared by a module's tests (`ITA_HOME` pointed at it for this
    test), with this test's own (empty) exchange and shared knowledge-base folders."""
    from engine.settings import get_settings

    monkeypatch.setenv("ITA_HOME", str(home))
    return get_settings().model_copy(update={"exchange_dir": tmp_path / "exchange",
                                             "shared_kb_dir": tmp_path / "shared_kb"})


@pytest.fixture(autouse=True)
def _served_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest runs pages without a server, and Streamlit's global config (where the app reads
    its listening address) is reset by whichever AppTest ran before; pages under test are
    served on 127.0.0.1 unless a test says otherwise (tests/test_access.py does)."""
    monkeypatch.setattr("app.auth.served_address", lambda: "127.0.0.1")


_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _main_module_restored():
    """AppTest runs a page as ``__main__`` and leaves it there; a process started later with
    the spawn method (a Dask worker, a job child) would then run that page again on start.
    Each test ends with pytest's own ``__main__`` back."""
    yield
    sys.modules["__main__"] = _MAIN
