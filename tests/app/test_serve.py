"""The launcher (`python -m app.serve`, what `make run` and the browser test start): it loads
the heavy parts before Streamlit opens its port, without importing Streamlit itself (a
component declared before the server exists would never reach the browser)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import sys
from app.preload import PRELOAD
from app.serve import preload
preload()
missing = [name for name in PRELOAD if name not in sys.modules]
assert not missing, missing
assert "streamlit" not in sys.modules, "Streamlit imported before the server starts"
import engine.kb.embed as embed
assert embed._model is not None, "the embedding model is not loaded"
print("ok")
"""


def test_preload_loads_the_heavy_parts_without_streamlit(ita_home) -> None:
    subprocess.run([sys.executable, "-m", "engine.cli", "demo"], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "ITA_HOME": str(ita_home)})
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "ITA_HOME": str(ita_home)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
