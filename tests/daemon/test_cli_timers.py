"""The timer and entry commands as a user runs them: real CLI subprocesses against a real daemon subprocess."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support import daemon_env, spawn_daemon, stop_process, vacant_port

pytestmark = pytest.mark.slow


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


def ok(home: Path, *args: str) -> str:
    result = run_cli(home, *args)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    (folder / "config").mkdir(parents=True)
    config = folder / "config" / "config.toml"
    instances = '[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n'
    config.write_text(instances, encoding="utf-8")
    proc = spawn_daemon(folder)  # port 0: the port it got goes into the config, where the CLI commands find it
    config.write_text(f"port = {proc.port}\n\n{instances}", encoding="utf-8")
    try:
        yield folder
    finally:
        stop_process(proc)


def api(home: Path) -> httpx.Client:
    port = int(re.search(r"port = (\d+)", (home / "config" / "config.toml").read_text()).group(1))  # type: ignore[union-attr]
    token = (home / "data" / "token").read_text(encoding="utf-8").strip()
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"})


def test_start_timers_pause_resume_stop_entries(home: Path) -> None:
    out = ok(home, "start", "--task", "Admin", "--notes", "inbox zero")
    match = re.fullmatch(r"started (t\d+): Admin\n", out)
    assert match, out
    tid = match.group(1)

    listing = ok(home, "timers")
    assert re.search(rf"^\s*{tid}\s+#[0-9a-f]{{6}}\s+running\s+\d+:\d\d:\d\d\s+Admin$", listing, re.M), listing

    assert ok(home, "pause") == f"{tid} paused\n"
    assert re.search(rf"{tid} .* paused\s+\(user\)", ok(home, "timers")), "the listing says who paused it"
    assert ok(home, "resume", tid) == f"{tid} running\n"

    out = ok(home, "stop")
    match = re.fullmatch(rf"{tid} stopped: entry ([0-9a-f]{{32}}) 0:00:0\d voided\n", out)  # seconds: too short
    assert match, out
    entry_id = match.group(1)
    assert ok(home, "timers") == "no live timers\n"

    with api(home) as client:
        now = time.time()
        manual = client.post(
            "/api/v1/entries", json={"started_at": now - 3600, "seconds": 1800, "ticket": "4711", "notes": 'a, "b"'}
        )
        assert manual.status_code == 201, manual.text
    manual_id = manual.json()["id"]

    listing = ok(home, "entries")
    lines = listing.splitlines()
    assert len(lines) == 2, listing
    assert lines[0].startswith(manual_id[:8]) and "queued" in lines[0] and "0:30:00" in lines[0] and "#4711" in lines[0]
    assert lines[1].startswith(entry_id[:8]) and "voided" in lines[1] and "Admin" in lines[1]
    assert re.search(r"\(voided: too short, \d+s < minimum 1m\)$", lines[1]), "says why it was voided"

    rows = list(csv.DictReader(io.StringIO(ok(home, "entries", "--csv"))))
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {entry_id, manual_id}
    assert by_id[manual_id]["ticket"] == "4711" and by_id[manual_id]["instance"] == "halo"
    assert (by_id[manual_id]["hours"], by_id[manual_id]["status"]) == ("0.50", "queued")
    assert by_id[manual_id]["notes"] == 'a, "b"'
    assert (by_id[entry_id]["task"], by_id[entry_id]["status"], by_id[entry_id]["notes"]) == (
        "Admin",
        "voided",
        "inbox zero",
    )
    start, end = (datetime.fromisoformat(by_id[manual_id][k]) for k in ("start", "end"))
    assert (end - start).total_seconds() == 1800 and start.utcoffset() is not None

    only_queued = list(csv.DictReader(io.StringIO(ok(home, "entries", "--csv", "--status", "queued"))))
    assert [r["id"] for r in only_queued] == [manual_id]
    assert ok(home, "entries", "--from", str(now + 10)) == "no entries\n"


def test_entries_shows_a_closed_tickets_open_entry_and_when_it_is_held_until(home: Path) -> None:
    now = time.time()
    url = "https://acme.halopsa.com/ticket?id=4711"
    events = [{"type": "tab_opened", "seq": 1, "at": now - 100, "tab": 7, "window": 1, "url": url, "active": True}]
    events += [{"type": "heartbeat", "seq": 1 + i, "at": now - 100 + 20 * i} for i in range(1, 5)]
    events.append({"type": "tab_closed", "seq": 6, "at": now, "tab": 7, "window": 1})
    with api(home) as client:
        sent = client.post("/api/v1/browser/events", json={"type": "batch", "install": "ext-a", "events": events})
        assert sent.status_code == 200, sent.text
        [entry] = client.get("/api/v1/entries").json()["entries"]
    until = time.strftime("%H:%M", time.localtime(entry["held_until"]))
    [line] = ok(home, "entries").splitlines()
    assert line.startswith(entry["id"]) and " open " in line and "#4711" in line, line
    assert line.endswith(f"(held until {until}, reopening the ticket continues it)"), line


def test_start_a_ticket_timer_and_watch(home: Path) -> None:
    out = ok(home, "start", "#4711")
    assert re.fullmatch(r"started t\d+: #4711\n", out), out
    watched = ok(home, "watch", "--count", "1")
    lines = watched.splitlines()
    assert lines[0] == "--- 1 timer(s)", watched
    assert re.search(r"running\s+\d+:\d\d:\d\d\s+#4711$", lines[1]), watched


def test_watch_with_no_timers(home: Path) -> None:
    assert ok(home, "watch", "--count", "1") == "--- 0 timer(s)\nno live timers\n"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("start",), 2, "give a ticket number or --task NAME"),
        (("start", "12", "--task", "Admin"), 2, "give a ticket number or --task NAME"),
        (("start", "12", "--instance", "nowhere"), 1, "invalid_input"),
        (("pause",), 2, "no live timer"),
        (("stop", "t999"), 1, "not_found"),
        (("entries", "--from", "someday"), 1, "invalid_query"),
    ],
)
def test_mistakes_get_a_message_and_an_exit_code(home: Path, args: tuple[str, ...], code: int, message: str) -> None:
    result = run_cli(home, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert ok(home, "timers") == "no live timers\n"


def test_a_tenth_timer_is_refused_by_the_cli(home: Path) -> None:
    for i in range(9):
        ok(home, "start", "--task", f"Task {i}")
    result = run_cli(home, "start", "--task", "One too many")
    assert result.returncode == 1 and "too_many_timers" in result.stderr, result.stderr
    assert len(ok(home, "timers").splitlines()) == 9


def test_timer_commands_without_a_daemon(tmp_path: Path) -> None:
    home = tmp_path / "nobody"
    (home / "config").mkdir(parents=True)
    with vacant_port() as port:
        (home / "config" / "config.toml").write_text(f"port = {port}\n", encoding="utf-8")
        for args in (("timers",), ("start", "--task", "Admin"), ("entries",), ("watch", "--count", "1")):
            result = run_cli(home, *args)
            assert result.returncode == 1, (args, result.stderr)
            assert "Traceback" not in result.stderr and "ticketclock serve" in result.stderr, (args, result.stderr)


@pytest.mark.parametrize("args", [("timers",), ("entries",), ("entries", "--csv"), ("status",)])
def test_output_into_a_pipe_closed_early_ends_quietly(home: Path, args: tuple[str, ...]) -> None:
    """`ticketclock timers | head` with head gone: no BrokenPipe traceback, no "Exception ignored" at exit."""
    for i in range(3):
        ok(home, "start", "--task", f"Task {i}")
    ok(home, "stop")
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the command writes: every write meets a closed pipe
    try:
        result = subprocess.run(
            [sys.executable, "-m", "daemon", *args],
            env=daemon_env(home),
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 1


def test_keep_away_and_drop_away_reach_the_daemon(home: Path) -> None:
    """The commands the `timers` hint names exist; with no away time waiting, the daemon says so."""
    ok(home, "start", "--task", "Admin")
    for command in ("keep-away", "drop-away"):
        result = run_cli(home, command)
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert result.stderr == "ticketclock: there is no away time to decide (invalid_transition)\n"
    assert re.search(r"running\s+\d+:\d\d:\d\d\s+Admin$", ok(home, "timers"), re.M)
