"""`make run` installs only what running ITA needs; test-only system packages (Chromium) come
with `make test`, which also runs the linter before the suite. No step prompts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN_PACKAGES = ["tesseract-ocr", "tesseract-ocr-rus", "fonts-dejavu-core"]
TEST_PACKAGES = ["chromium", "chromium-driver"]
FAKES = {
    # installed packages are listed in $FAKE_INSTALLED
    "dpkg-query": 'for p in $FAKE_INSTALLED; do [ "$p" = "${@: -1}" ] && '
                  '{ echo -n "install ok installed"; exit 0; }; done; exit 1',
    "id": 'echo "$FAKE_UID"',
    "sudo": 'echo "sudo $*" >> "$FAKE_LOG"; [ "$1" = -n ] && shift; '
            '[ "$FAKE_SUDO" = ok ] || exit 1; exec "$@"',
    "apt-get": 'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >> "$FAKE_LOG"',
}


@pytest.fixture()
def fake_system(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return tmp_path


def _install(system: Path, mode: str, *, uid: int = 1000, sudo: str = "no",
             installed: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = system / "calls.log"
    env = {**os.environ, "PATH": f"{system / 'bin'}:{os.environ['PATH']}", "FAKE_UID": str(uid),
           "FAKE_SUDO": sudo, "FAKE_LOG": str(log), "FAKE_INSTALLED": " ".join(installed)}
    env.pop("DEBIAN_FRONTEND", None)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "install_system.sh"), mode], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


@pytest.mark.parametrize(("mode", "packages"), [("run", RUN_PACKAGES), ("test", TEST_PACKAGES)])
def test_without_root_or_sudo_it_prints_the_command_and_fails(fake_system, mode, packages):
    done, calls = _install(fake_system, mode)
    assert done.returncode == 1
    assert f"sudo apt-get install -y --no-install-recommends {' '.join(packages)}" in done.stderr
    assert not [c for c in calls if "apt-get" in c]


def test_run_needs_no_browser_and_no_debian_rclone(fake_system) -> None:
    done, _ = _install(fake_system, "run")
    assert done.returncode == 1 and "tesseract-ocr-rus" in done.stderr.split()
    for package in ("chromium", "chromium-driver", "rclone"):
        assert package not in done.stderr.split()


@pytest.mark.parametrize(("mode", "packages"), [("run", RUN_PACKAGES), ("test", TEST_PACKAGES)])
def test_with_passwordless_sudo_it_installs_without_a_prompt(fake_system, mode, packages):
    done, calls = _install(fake_system, mode, sudo="ok", installed=("fonts-dejavu-core",))
    assert done.returncode == 0, done.stderr
    wanted = [p for p in packages if p != "fonts-dejavu-core"]
    install = [c for c in calls if c.startswith("DEBIAN_FRONTEND") and " install " in c]
    assert install == ["DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                       f"--no-install-recommends {' '.join(wanted)}"]
    assert all(c.startswith("sudo -n ") for c in calls if c.startswith("sudo"))


def test_as_root_it_installs_directly(fake_system) -> None:
    done, calls = _install(fake_system, "test", uid=0)
    assert done.returncode == 0, done.stderr
    assert not [c for c in calls if c.startswith("sudo")]
    assert any(c.endswith("install -y -qq --no-install-recommends chromium chromium-driver")
               and c.startswith("DEBIAN_FRONTEND=noninteractive") for c in calls)


def test_nothing_to_do_when_everything_is_installed(fake_system) -> None:
    done, calls = _install(fake_system, "run", installed=tuple(RUN_PACKAGES))
    assert done.returncode == 0 and calls == []


def _make_dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make -n TARGET` would run, from a copy of the project's make inputs."""
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(["make", "-n", target], cwd=tmp_path, capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_skips_test_packages_and_make_test_lints_first(tmp_path) -> None:
    run = _make_dry_run("run", tmp_path)
    assert "scripts/install_system.sh run" in run
    assert not [line for line in run if "install_system.sh test" in line]
    test = _make_dry_run("test", tmp_path)
    assert "scripts/install_system.sh run" in test and "scripts/install_system.sh test" in test
    lint = test.index(".venv/bin/ruff check .")
    assert lint < test.index(".venv/bin/python -m pytest")
