"""Only this user can read TicketClock's folders and files, even with the usual umask 022: a real daemon
subprocess creates them private, repairs what older versions left readable, and `doctor` reports and fixes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import DaemonProcess, daemon_env, spawn_daemon, stop_process, vacant_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="POSIX file modes (Windows gets user-only ACLs via icacls)"),
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def serve(home: Path) -> DaemonProcess:
    """`python -m daemon serve --port 0` started the way a shell with umask 022 starts it (the child inherits it)."""
    previous = os.umask(0o022)
    try:
        return spawn_daemon(home)
    finally:
        os.umask(previous)


@pytest.fixture
def daemon(home: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    proc = serve(home)
    try:
        yield proc, proc.port
    finally:
        stop_process(proc)


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root.parent)): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


def loose(root: Path) -> dict[str, int]:
    return {name: mode for name, mode in modes(root).items() if mode & 0o077}


def test_a_fresh_daemon_under_umask_022_creates_everything_user_only(
    home: Path, daemon: tuple[subprocess.Popen[bytes], int]
) -> None:
    _, port = daemon
    token = (home / "data" / "token").read_text(encoding="utf-8").strip()
    started = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/timers",
        json={"task": "Admin"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert started.status_code in (200, 201), started.text
    data, logs = home / "data", home / "logs"
    created = modes(data) | modes(logs)
    # the control: the files SQLite and logging create later are there to be checked
    for name in ("data/ticketclock.db", "data/ticketclock.db-wal", "data/ticketclock.db-shm", "logs/ticketclock.log"):
        assert name in created, created
    assert loose(data) == {} and loose(logs) == {}, created
    assert created["data"] == 0o700 and created["logs"] == 0o700
    assert created["data/ticketclock.db"] == 0o600 and created["logs/ticketclock.log"] == 0o600


def test_folders_and_files_left_readable_by_an_older_version_are_repaired_at_start(home: Path) -> None:
    data, logs = home / "data", home / "logs"
    for folder in (data, logs):
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    old_log = logs / "ticketclock.log.1"
    old_log.write_text("yesterday's notes\n", encoding="utf-8")
    old_log.chmod(0o644)
    proc = serve(home)
    try:
        assert loose(data) == {} and loose(logs) == {}, modes(data) | modes(logs)
        assert old_log.stat().st_mode & 0o777 == 0o600
    finally:
        stop_process(proc)


def doctor(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    with vacant_port() as port:
        return subprocess.run(
            [sys.executable, "-m", "daemon", "doctor", "--port", str(port), *args],
            env=daemon_env(home),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def test_doctor_reports_readable_files_and_fix_makes_them_private(
    home: Path, daemon: tuple[subprocess.Popen[bytes], int]
) -> None:
    proc, _ = daemon
    stop_process(proc)
    data, logs = home / "data", home / "logs"
    for path in (data, logs):
        path.chmod(0o755)
    for path in (data / "ticketclock.db", logs / "ticketclock.log"):
        path.chmod(0o644)

    checked = doctor(home)
    assert checked.returncode == 1, checked.stdout
    assert f"[FAIL] data dir {data} is private: others can read . (755), ticketclock.db (644)" in checked.stdout
    assert f"[FAIL] log dir {logs} is private: others can read . (755), ticketclock.log (644)" in checked.stdout
    assert "ticketclock doctor --fix" in checked.stdout
    assert loose(data) and loose(logs), "doctor without --fix changes nothing"

    fixed = doctor(home, "--fix")
    assert fixed.returncode == 0, fixed.stdout
    assert f"[fixed] data dir {data}: made private (2 path(s)" in fixed.stdout
    assert f"[ok] data dir {data} is private" in fixed.stdout
    assert loose(data) == {} and loose(logs) == {}
    assert doctor(home).returncode == 0
