"""Real engine processes for the job tests: start the daemon, run it once, wait for a state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env(home: Path) -> dict[str, str]:
    """This environment, ITA_HOME set to `home`, and this checkout first on the import path."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "ITA_HOME": str(home), "PYTHONPATH": path}


def start_daemon(home: Path, *args: str) -> subprocess.Popen:
    """`ita engine` for `home`, in the background."""
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "engine", *args], cwd=ROOT,
                            env=env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def engine_once(home: Path) -> subprocess.CompletedProcess:
    """`ita engine --once` for `home`: start, run what is queued, stop."""
    return subprocess.run([sys.executable, "-m", "engine.cli", "engine", "--once"], cwd=ROOT,
                          env=env(home), capture_output=True, text=True, timeout=120)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
