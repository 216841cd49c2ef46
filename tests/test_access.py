"""The app listens on 127.0.0.1 unless ITA_ALLOW_REMOTE=1 and ITA_APP_PASSWORD are both set, and
with a password it shows no page before the password is given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.access import check_bind, is_loopback, remote_problem
from engine.errors import ConfigurationError
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
HOME_TITLE = "ITA — trading setups"


@pytest.fixture()
def clean_env(monkeypatch):
    for name in ("ITA_ALLOW_REMOTE", "ITA_APP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_addresses_need_nothing(clean_env, host) -> None:
    assert is_loopback(host)
    check_bind(host, Settings())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "", None, "example.com"])
def test_other_addresses_need_the_flag_and_a_password(clean_env, host) -> None:
    with pytest.raises(ConfigurationError, match="ITA_ALLOW_REMOTE=1"):
        check_bind(host, Settings())
    clean_env.setenv("ITA_ALLOW_REMOTE", "1")
    with pytest.raises(ConfigurationError, match="ITA_APP_PASSWORD"):
        check_bind(host, Settings())
    clean_env.setenv("ITA_APP_PASSWORD", "short")
    with pytest.raises(ConfigurationError, match="at least 8 characters"):
        check_bind(host, Settings())
    clean_env.setenv("ITA_APP_PASSWORD", PASSWORD)
    assert remote_problem(host, Settings()) is None


# --- scripts/start.sh, with a fake venv whose app launcher only records how it was started ---


@pytest.fixture()
def fake_project(tmp_path, clean_env) -> Path:
    """A copy of scripts/start.sh beside a fake .venv: `python` is the real one (engine from
    this checkout), `ita` and `ita-app` (the app's launcher) record their arguments."""
    (tmp_path / "scripts").mkdir()
    start = tmp_path / "scripts" / "start.sh"
    start.write_text((ROOT / "scripts" / "start.sh").read_text())
    start.chmod(0o755)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    scripts = {"python": f'exec {sys.executable} "$@"\n',
               "ita": 'echo "$@" >> "$(dirname "$0")/../../ita.args"\n',
               "ita-app": 'echo "$@" >> "$(dirname "$0")/../../streamlit.args"\n'}
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def _start(project: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("HOST", "ITA_ALLOW_REMOTE", "ITA_APP_PASSWORD")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(["bash", str(project / "scripts" / "start.sh")], env=environment,
                          capture_output=True, text=True, timeout=60)


def test_start_sh_binds_loopback_by_default(fake_project) -> None:
    done = _start(fake_project)
    assert done.returncode == 0, done.stderr
    assert "--server.address 127.0.0.1" in (fake_project / "streamlit.args").read_text()


@pytest.mark.parametrize("env", [{"HOST": "0.0.0.0"},
                                 {"HOST": "0.0.0.0", "ITA_APP_PASSWORD": PASSWORD},
                                 {"HOST": "0.0.0.0", "ITA_ALLOW_REMOTE": "1"},
                                 {"HOST": "192.168.1.20", "ITA_ALLOW_REMOTE": "1",
                                  "ITA_APP_PASSWORD": "short"}])
def test_start_sh_refuses_a_remote_host_without_flag_and_password(fake_project, env) -> None:
    done = _start(fake_project, **env)
    assert done.returncode != 0
    assert done.stderr.startswith("error: refusing to serve ITA")
    assert done.stderr.count("\n") == 1
    assert not (fake_project / "streamlit.args").exists()  # nothing started
    assert not (fake_project / "ita.args").exists()


def test_start_sh_serves_remotely_with_flag_and_password(fake_project) -> None:
    done = _start(fake_project, HOST="0.0.0.0", ITA_ALLOW_REMOTE="1", ITA_APP_PASSWORD=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert "--server.address 0.0.0.0" in (fake_project / "streamlit.args").read_text()
    assert PASSWORD not in done.stdout + done.stderr


LIVE_ITA = """case "$1" in
  live) echo "$$" > "$(dirname "$0")/../../live.pid"; echo "monitor says hello"
        exec sleep 60 ;;
  *) echo "$@" >> "$(dirname "$0")/../../ita.args" ;;
esac
"""
WAIT_FOR_LIVE = """for i in $(seq 100); do
  [ -s "$(dirname "$0")/../../live.pid" ] && break; sleep 0.1
done
echo "$@" >> "$(dirname "$0")/../../streamlit.args"
"""


@pytest.mark.parametrize("live", ["1", "0"])
def test_start_sh_starts_the_live_monitor_when_live_is_on_and_stops_it_with_the_app(
        fake_project, tmp_path, live) -> None:
    for name, body in (("ita", LIVE_ITA), ("ita-app", WAIT_FOR_LIVE)):
        (fake_project / ".venv" / "bin" / name).write_text("#!/usr/bin/env bash\n" + body)
    home = tmp_path / "home"
    done = _start(fake_project, ITA_HOME=str(home), ITA_LIVE=live)
    assert done.returncode == 0, done.stderr
    assert "--server.address 127.0.0.1" in (fake_project / "streamlit.args").read_text()
    pid_file = fake_project / "live.pid"
    if live == "0":
        assert not pid_file.exists() and "live monitor" not in done.stdout
        return
    assert "live monitor started" in done.stdout
    log = home / "exchange" / "logs" / "live.log"
    assert log.read_text() == "monitor says hello\n"
    pid = int(pid_file.read_text())
    for _ in range(50):  # the app stopped: the monitor is stopped with it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    else:
        os.kill(pid, 9)
        pytest.fail("the live monitor kept running after the app stopped")


# --- the password gate in streamlit_app.py --------------------------------------------------


def _app(monkeypatch, address: str = "127.0.0.1") -> AppTest:
    monkeypatch.setattr("app.auth.served_address", lambda: address)
    monkeypatch.setattr("app.auth.WRONG_PASSWORD_DELAY_S", 0.0)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shows_pages(at: AppTest) -> bool:
    return any(t.value.startswith(HOME_TITLE) for t in at.title)


def _everything_shown(at: AppTest) -> str:
    return repr([e.value for kind in ("markdown", "title", "error", "text_input", "caption")
                 for e in getattr(at, kind)])


def test_without_a_password_the_local_app_opens(ita_home, clean_env) -> None:
    assert _shows_pages(_app(clean_env))


def test_the_gate_blocks_every_page_until_the_password(ita_home, clean_env) -> None:
    clean_env.setenv("ITA_APP_PASSWORD", PASSWORD)
    at = _app(clean_env)
    assert not _shows_pages(at) and not at.sidebar.children
    assert [t.value for t in at.title] == ["ITA"]
    at.text_input(key="auth_password").input("wrong password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."]
    assert not _shows_pages(at)
    at.text_input(key="auth_password").input(PASSWORD)
    at.button[0].click().run()
    assert _shows_pages(at) and not at.exception
    assert PASSWORD not in _everything_shown(at)
    at.run()
    assert _shows_pages(at)  # stays open for this session
    clean_env.setenv("ITA_APP_PASSWORD", "a new password")
    at.run()
    assert not _shows_pages(at)  # a changed password closes open sessions


def test_a_remote_bind_without_the_flag_shows_no_page(ita_home, clean_env) -> None:
    clean_env.setenv("ITA_APP_PASSWORD", PASSWORD)
    at = _app(clean_env, address="0.0.0.0")
    assert not _shows_pages(at) and not at.text_input
    assert "ITA_ALLOW_REMOTE=1" in at.error[0].value
    clean_env.setenv("ITA_ALLOW_REMOTE", "1")
    at.run()
    assert not _shows_pages(at) and at.text_input(key="auth_password")
