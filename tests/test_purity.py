"""The pure core stays pure: no streamlit anywhere in engine/, and the pure packages import no
I/O libraries (docs/ARCHITECTURE.md, "The purity rule")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"
PURE_PACKAGES = ["detect", "setups/schema.py", "setups/compile.py", "backtest/simulate.py",
                 "backtest/metrics.py", "signals.py", "candles.py"]
FORBIDDEN_IN_PURE = {"streamlit", "duckdb", "ccxt", "requests", "watchdog", "urllib", "socket",
                     "subprocess", "engine.adapters", "engine.jobs"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(relative: str) -> list[Path]:
    target = ENGINE / relative
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


def test_engine_never_imports_streamlit() -> None:
    offenders = [str(p) for p in ENGINE.rglob("*.py")
                 if any(n.split(".")[0] == "streamlit" for n in _imports(p))]
    assert offenders == []


@pytest.mark.parametrize("relative", PURE_PACKAGES)
def test_pure_modules_import_no_io(relative: str) -> None:
    files = [p for p in _files(relative) if p.exists()]
    assert files, f"engine/{relative} is missing"
    for path in files:
        bad = {n for n in _imports(path)
               if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_PURE)}
        assert not bad, f"{path} imports {sorted(bad)}"
