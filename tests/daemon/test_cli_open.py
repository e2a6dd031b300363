"""`ticketclock open`: a one-time sign-in link for the web pages, printed and handed to the browser (a real daemon
process and the real CLI as subprocesses; the "browser" is a small program named by $BROWSER that records the URL)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.daemon.test_cli import Spawned, run_cli
from tests.support import daemon_env, spawn_daemon, stop_process, wait_until


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Spawned]:
    home = tmp_path / "home"
    home.mkdir()
    proc = spawn_daemon(home)
    try:
        yield Spawned(proc, home, proc.port)
    finally:
        stop_process(proc)


URL = re.compile(r"http://127\.0\.0\.1:\d+/login\?code=[A-Za-z0-9_-]+(&next=\w+)?")


def test_open_prints_a_link_that_signs_in_once_and_lands_on_the_page(running: Spawned) -> None:
    result = run_cli(running.home, "open", "timesheet", "--no-browser", "--port", str(running.port))
    assert result.returncode == 0, result.stderr
    found = URL.search(result.stdout)
    assert found, result.stdout
    first = httpx.get(found.group(0), follow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"].startswith("/timesheet#key=")
    assert "tc_session=" in first.headers["Set-Cookie"]
    again = httpx.get(found.group(0), follow_redirects=False, timeout=10)
    assert again.status_code == 400 and "tc_session" not in again.headers.get("Set-Cookie", "")


def test_open_hands_the_link_to_the_browser(running: Spawned, tmp_path: Path) -> None:
    seen = tmp_path / "browser-saw.txt"
    fake = f"import pathlib, sys; pathlib.Path({str(seen)!r}).write_text(sys.argv[1])"
    env = {**daemon_env(running.home), "BROWSER": f"{shlex.quote(sys.executable)} -c {shlex.quote(fake)} %s"}
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "open", "--port", str(running.port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = URL.search(result.stdout)
    assert printed, result.stdout
    opened = wait_until(lambda: seen.exists() and seen.read_text(), what="the browser to be given the link")
    assert opened == printed.group(0)
    assert httpx.get(opened, follow_redirects=False, timeout=10).headers["Location"].startswith("/#key=")


def test_open_automations_lands_on_the_automations_page(running: Spawned) -> None:
    result = run_cli(running.home, "open", "automations", "--no-browser", "--port", str(running.port))
    assert result.returncode == 0, result.stderr
    found = URL.search(result.stdout)
    assert found and found.group(1) == "&next=automations", result.stdout
    first = httpx.get(found.group(0), follow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"].startswith("/automations#key=")
