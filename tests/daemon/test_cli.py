"""The command line as a user runs it: real subprocesses with TICKETCLOCK_HOME pointing at a temporary folder."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from daemon.runtime import read_daemon_file
from tests.support import daemon_env, daemon_output, spawn_daemon, stop_process, vacant_port

pytestmark = pytest.mark.slow

POSIX = os.name == "posix"


@dataclass
class Spawned:
    proc: subprocess.Popen[bytes]
    home: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.home / "data" / "ticketclock.db"

    @property
    def token(self) -> str:
        return (self.home / "data" / "token").read_text(encoding="utf-8").strip()


def run_cli(home: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=daemon_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


NOISE = bytes((i * 7919 + 13) % 251 for i in range(8192))
CORRUPTIONS = {"sqlite header then garbage": b"SQLite format 3\x00" + NOISE[16:], "not sqlite at all": NOISE}


def corrupt_db(home: Path, content: bytes = CORRUPTIONS["sqlite header then garbage"]) -> Path:
    path = home / "data" / "ticketclock.db"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # private, as TicketClock makes it
    path.write_bytes(content)
    path.chmod(0o600)
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def running(home: Path) -> Iterator[Spawned]:
    proc = spawn_daemon(home)
    try:
        yield Spawned(proc, home, proc.port)
    finally:
        stop_process(proc)


def pair_with_code(base_url: str, code: str, name: str = "test client") -> httpx.Response:
    return httpx.post(f"{base_url}/api/v1/pair", json={"code": code, "client": name}, timeout=10)


def code_from(output: str) -> str:
    match = re.search(r"Pairing code: ([0-9]{8})\b", output)
    assert match, output
    return match.group(1)


# --- serve -------------------------------------------------------------------------------------------------------


def test_serve_answers_health(running: Spawned) -> None:
    response = httpx.get(f"{running.base_url}/api/v1/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    out, _ = daemon_output(running.home)
    assert f"listening on http://127.0.0.1:{running.port}" in out
    assert running.db.exists()
    assert (running.home / "logs" / "ticketclock.log").exists()


def test_serve_on_port_0_reports_the_port_it_bound_and_its_pid(running: Spawned) -> None:
    assert running.port != 0
    report = read_daemon_file(running.home / "data")
    assert report is not None
    assert (report.pid, report.port) == (running.proc.pid, running.port)
    health = httpx.get(f"{running.base_url}/api/v1/health", timeout=10).json()
    assert health["pid"] == running.proc.pid
    # the app was built knowing the port it got: its Host check admits 127.0.0.1:<that port>
    response = httpx.get(
        f"{running.base_url}/api/v1/clients", headers={"Authorization": f"Bearer {running.token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    if POSIX:
        assert (running.home / "data" / "daemon.json").stat().st_mode & 0o777 == 0o600


def test_port_0_is_only_for_the_daemon(home: Path) -> None:
    result = run_cli(home, "status", "--port", "0")
    assert result.returncode == 2
    assert "--port 0" in result.stderr and "serve" in result.stderr


def test_spawn_daemon_fails_fast_with_the_daemons_stderr(home: Path) -> None:
    db = corrupt_db(home)
    with pytest.raises(AssertionError, match="exited with 2") as failed:
        spawn_daemon(home)
    assert str(db) in str(failed.value)


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param("SIGTERM", marks=pytest.mark.skipif(not POSIX, reason="no catchable SIGTERM on Windows")),
        pytest.param("SIGINT", marks=pytest.mark.skipif(not POSIX, reason="POSIX signals")),
    ],
)
def test_a_signal_stops_the_daemon_cleanly_and_keeps_the_data(running: Spawned, sig: str) -> None:
    pair = run_cli(running.home, "pair", "--port", str(running.port))
    assert pair.returncode == 0, pair.stderr
    paired = pair_with_code(running.base_url, code_from(pair.stdout), name="before the signal")
    assert paired.status_code == 200
    client_id = paired.json()["client_id"]

    running.proc.send_signal(getattr(signal, sig))
    assert running.proc.wait(timeout=20) == 0
    out, err = daemon_output(running.home)
    assert "stopping" in out, (out, err)
    assert "Traceback" not in err
    assert read_daemon_file(running.home / "data") is None  # a clean stop takes its report away

    conn = sqlite3.connect(running.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT name FROM clients WHERE id = ?", (client_id,)).fetchone() == ("before the signal",)
    finally:
        conn.close()

    log = (running.home / "logs" / "ticketclock.log").read_text(encoding="utf-8")
    assert paired.json()["token"] not in log
    assert running.token not in log


def test_the_data_survives_a_restart(running: Spawned) -> None:
    pair = run_cli(running.home, "pair", "--port", str(running.port))
    token = pair_with_code(running.base_url, code_from(pair.stdout)).json()["token"]
    cli_token = running.token
    stop_process(running.proc)  # even a hard kill: every accepted change was durable before it was answered
    stale = read_daemon_file(running.home / "data")
    assert stale is not None and stale.pid == running.proc.pid  # left behind by the killed daemon

    proc = spawn_daemon(running.home)  # the killed daemon's daemon.json is still there: the helper checks the pid
    try:
        assert running.token == cli_token  # the token file is reused, not replaced
        response = httpx.get(
            f"http://127.0.0.1:{proc.port}/api/v1/timers", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200  # the paired client's token still works
        response = httpx.get(
            f"http://127.0.0.1:{proc.port}/api/v1/clients", headers={"Authorization": f"Bearer {cli_token}"}, timeout=10
        )
        assert len(response.json()["clients"]) == 1
    finally:
        stop_process(proc)


def test_data_dir_and_config_flags_are_honoured(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    config = tmp_path / "my.toml"
    config.write_text('[timing]\nmode = "open"\n', encoding="utf-8")
    proc = spawn_daemon(home, 0, "--data-dir", str(data), "--config", str(config))
    try:
        assert (data / "ticketclock.db").exists()
        assert (data / "token").exists()
        assert not (home / "data" / "ticketclock.db").exists()
    finally:
        stop_process(proc)


# --- serve refuses to start --------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_database_stops_serve_with_exit_2_and_is_left_untouched(home: Path, content: bytes) -> None:
    db = corrupt_db(home, content)
    before = sha256(db)
    result = run_cli(home, "serve", "--port", "0")
    assert result.returncode == 2, result
    assert str(db) in result.stderr
    assert "Traceback" not in result.stderr
    assert sha256(db) == before
    # nothing beside the database: no -wal/-shm journal (the data-folder lock file is expected)
    assert sorted(p.name for p in db.parent.iterdir() if p.name != "ticketclock.lock") == ["ticketclock.db"]


def test_a_database_from_a_newer_ticketclock_stops_serve(home: Path) -> None:
    db = home / "data" / "ticketclock.db"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = sha256(db)
    result = run_cli(home, "serve", "--port", "0")
    assert result.returncode == 2
    assert "newer" in result.stderr and str(db) in result.stderr
    assert sha256(db) == before


@pytest.mark.parametrize(
    ("text", "key"),
    [('[timing]\nmod = "focus"\n', "`mod`"), ("prot = 1\n", "`prot`"), ('[timing]\nmode = "fcus"\n', "'fcus'")],
)
def test_a_config_typo_stops_serve_naming_the_key_and_the_file(home: Path, text: str, key: str) -> None:
    config = write_config(home, text)
    result = run_cli(home, "serve", "--port", "0")
    assert result.returncode == 2
    assert key in result.stderr
    assert str(config) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "data" / "ticketclock.db").exists()


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ('kind = "autotask"\noptions = { timout_ms = 5000 }', "`timout_ms`"),
        ('kind = "connectwise"\noptions = { membr = "jdoe" }', "`membr`"),
        ('kind = "halopsa"\noptions = { read_timeout_s = 0 }', "`read_timeout_s`"),
    ],
)
def test_a_bad_connector_option_stops_serve_naming_the_key_and_the_file(home: Path, options: str, key: str) -> None:
    config = write_config(home, f'[[instances]]\nname = "acme"\napi_url = "https://psa.example"\n{options}\n')
    result = run_cli(home, "serve", "--port", "0")
    assert result.returncode == 2
    assert key in result.stderr and "'acme'" in result.stderr
    assert str(config) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (home / "data" / "ticketclock.db").exists()


def test_a_missing_explicit_config_file_is_an_error(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = run_cli(home, "serve", "--config", str(missing), "--port", "0")
    assert result.returncode == 2
    assert str(missing) in result.stderr


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_a_non_loopback_bind_is_refused(home: Path, bind: str) -> None:
    write_config(home, f'bind = "{bind}"\n')
    result = run_cli(home, "serve", "--port", "0")
    assert result.returncode == 2
    assert bind in result.stderr and "loopback" in result.stderr
    assert not (home / "data" / "ticketclock.db").exists()


def test_a_taken_port_stops_serve_with_a_clear_message(home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(home, "serve", "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "another TicketClock" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_daemon_on_the_same_data_folder_is_refused(running: Spawned) -> None:
    result = run_cli(running.home, "serve", "--port", "0")
    assert result.returncode == 2
    assert "another TicketClock is using" in result.stderr
    assert "Traceback" not in result.stderr
    assert httpx.get(f"http://127.0.0.1:{running.port}/api/v1/health").status_code == 200


@pytest.mark.parametrize("port", ["70000", "-5"])
def test_an_impossible_port_is_refused(home: Path, port: str) -> None:
    result = run_cli(home, "serve", "--port", port)
    assert result.returncode == 2
    assert f"--port {port}" in result.stderr


# --- client commands ---------------------------------------------------------------------------------------------


def test_pair_prints_a_code_that_works_once(running: Spawned) -> None:
    result = run_cli(running.home, "pair", "--port", str(running.port))
    assert result.returncode == 0, result.stderr
    code = code_from(result.stdout)
    first = pair_with_code(running.base_url, code)
    assert first.status_code == 200
    assert first.json()["token"].startswith("tc_")
    second = pair_with_code(running.base_url, code)
    assert second.status_code == 400


def test_pair_without_a_daemon_says_so(home: Path) -> None:
    with vacant_port() as port:
        result = run_cli(home, "pair", "--port", str(port))
    assert result.returncode == 1
    assert "ticketclock serve" in result.stderr


def test_token_prints_the_token_and_the_file_is_private(running: Spawned) -> None:
    result = run_cli(running.home, "token", "--port", str(running.port))
    assert result.returncode == 0
    token = result.stdout.strip()
    assert token == running.token and token.startswith("tc_")
    response = httpx.get(f"{running.base_url}/api/v1/clients", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200
    if POSIX:
        assert (running.home / "data" / "token").stat().st_mode & 0o777 == 0o600


def test_token_before_the_first_start_gives_a_hint(home: Path) -> None:
    result = run_cli(home, "token")
    assert result.returncode == 2
    assert "ticketclock serve" in result.stderr


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_a_token_file_with_loose_permissions_is_tightened_at_start(home: Path) -> None:
    token_file = home / "data" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("tc_" + "a" * 43 + "\n", encoding="utf-8")
    token_file.chmod(0o644)
    proc = spawn_daemon(home)
    try:
        assert token_file.stat().st_mode & 0o777 == 0o600
    finally:
        stop_process(proc)


def test_status_without_a_daemon_exits_1_with_a_hint(home: Path) -> None:
    with vacant_port() as port:
        result = run_cli(home, "status", "--port", str(port))
    assert result.returncode == 1
    assert "ticketclock serve" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_with_a_daemon_reports_it(running: Spawned) -> None:
    result = run_cli(running.home, "status", "--port", str(running.port))
    assert result.returncode == 0, result.stderr
    assert "daemon: ok" in result.stdout
    assert str(running.port) in result.stdout


def test_doctor_on_a_fresh_home_finds_nothing_broken_and_lists_the_steps_left(home: Path) -> None:
    with vacant_port() as port:
        result = run_cli(home, "doctor", "--port", str(port))
    assert result.returncode == 0, result.stdout
    assert "[FAIL]" not in result.stdout
    assert "[ok]" in result.stdout
    assert "[todo] no PSA configured" in result.stdout  # not "all good": nothing is captured yet (issue 15)
    assert "nothing broken; 2 step(s) left" in result.stdout


def test_doctor_with_a_running_daemon_is_all_good(running: Spawned) -> None:
    result = run_cli(running.home, "doctor", "--port", str(running.port))
    assert result.returncode == 0, result.stdout
    assert f"daemon answers on port {running.port}" in result.stdout
    assert re.search(r"\[ok\] database \S+: ok$", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("content", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_doctor_reports_a_damaged_database_and_leaves_it_alone(home: Path, content: bytes) -> None:
    db = corrupt_db(home, content)
    before = sha256(db)
    with vacant_port() as port:
        result = run_cli(home, "doctor", "--port", str(port))
    assert result.returncode == 1
    assert re.search(r"\[FAIL\] database \S+: damaged \(", result.stdout), result.stdout
    assert "1 problem(s) found" in result.stdout
    assert sha256(db) == before


def test_doctor_reports_a_port_taken_by_another_program(home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(home, "doctor", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert "[FAIL]" in result.stdout and str(port) in result.stdout


def test_doctor_with_a_config_typo_names_it(home: Path) -> None:
    config = write_config(home, "prot = 1\n")
    result = run_cli(home, "doctor")
    assert result.returncode == 2
    assert "`prot`" in result.stderr and str(config) in result.stderr


@pytest.mark.skipif(not POSIX, reason="POSIX file modes")
def test_doctor_flags_a_readable_token_file(home: Path) -> None:
    token_file = home / "data" / "token"
    token_file.parent.mkdir(parents=True)
    token_file.write_text("tc_x\n", encoding="utf-8")
    token_file.chmod(0o644)
    with vacant_port() as port:
        result = run_cli(home, "doctor", "--port", str(port))
    assert result.returncode == 1
    assert re.search(r"\[FAIL\] token file \S+ is private", result.stdout), result.stdout
    assert "chmod 600" in result.stdout
