"""Helpers for the first-run command tests: `ticketclock` as a real subprocess in a temporary TICKETCLOCK_HOME, and
the sandbox PSAs as a real `ticketclock sandbox` process on free ports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import daemon_env, stop_process, wait_until


def cli_env(home: Path) -> dict[str, str]:
    """The daemon's test environment, with the OS keyring switched off: credentials go to the user-only file in the
    temporary home, never into the keyring of whoever runs the tests."""
    env = daemon_env(home)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def run_cli(home: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        check=False,
    )


@dataclass
class Sandbox:
    proc: subprocess.Popen[bytes]
    listing: list[dict[str, Any]]

    def of(self, kind: str) -> dict[str, Any]:
        return next(sb for sb in self.listing if sb["kind"] == kind)


def start_sandbox(home: Path, *args: str) -> Sandbox:
    """`ticketclock sandbox --json ARGS`, returned once it printed what it serves."""
    out = home / "sandbox.stdout.txt"
    home.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "sandbox", "--json", *args],
            env=cli_env(home),
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def listed() -> list[dict[str, Any]] | None:
        if proc.poll() is not None:
            raise AssertionError(f"sandbox exited {proc.returncode}: {out.read_text(encoding='utf-8')}")
        first = out.read_text(encoding="utf-8").partition("\n")
        return json.loads(first[0])["sandboxes"] if first[1] else None

    try:
        return Sandbox(proc, wait_until(listed, what="the sandbox's listing"))
    except BaseException:
        stop_process(proc)
        raise


@pytest.fixture
def halo_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox-home", "--port-base", "0", "--kind", "halopsa")
    try:
        yield sandbox
    finally:
        stop_process(sandbox.proc)
