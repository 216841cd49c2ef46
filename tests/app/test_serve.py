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


CONFIG = """
from streamlit import config
config.get_config_options(force_reparse=True)
print(config.get_option("server.fileWatcherType"))
"""


def test_the_server_watches_no_source_files() -> None:
    """The app's config (`.streamlit/config.toml`, read from the folder `make run` starts in)
    turns Streamlit's source watcher off: with it on, every page run that imported a module
    made the server re-check every loaded module's path before answering the click."""
    done = subprocess.run([sys.executable, "-c", CONFIG], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "none"
