"""The sandbox PSAs as a separate process (`python -m daemon sandbox --port-base 0 --json`), driven from outside
through their control endpoint, as a user or another program would drive them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from daemon.sandbox.common import StoredEntry
from tests.support import stop_process

__all__ = ["RemoteSandbox", "spawn_sandboxes"]

POLL_S = 0.02


@dataclass
class RemoteSandbox:
    """One sandbox PSA of a sandbox process, as its `--json` line describes it."""

    kind: str
    base_url: str
    control_url: str
    instance: dict[str, Any]
    credentials: dict[str, Any]
    ticket_pages: list[str]

    def faults(self, **switches: Any) -> dict[str, Any]:
        """POST the switches to the control endpoint (none: just read them); returns the sandbox's fault state."""
        if switches:
            response = httpx.post(f"{self.control_url}/faults", json=switches, timeout=10)
        else:
            response = httpx.get(f"{self.control_url}/faults", timeout=10)
        assert response.status_code == 200, response.text
        state: dict[str, Any] = response.json()
        return state

    def stored(self) -> list[StoredEntry]:
        response = httpx.get(f"{self.control_url}/entries", timeout=10)
        assert response.status_code == 200, response.text
        return [StoredEntry(**e) for e in response.json()["entries"]]


def spawn_sandboxes(
    folder: Path, *args: str, timeout: float = 20
) -> tuple[subprocess.Popen[bytes], dict[str, RemoteSandbox]]:
    """Start the sandbox process with `args`; return it and its sandboxes once it has printed their bound URLs.
    Stop it with `stop_process`."""
    folder.mkdir(parents=True, exist_ok=True)
    out_path, err_path = folder / "sandbox.stdout.txt", folder / "sandbox.stderr.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "sandbox", "--port-base", "0", "--json", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while True:
        line = out_path.read_text(encoding="utf-8").partition("\n")
        if line[1]:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            code = stop_process(proc)
            raise AssertionError(
                f"sandbox process did not start (exit {code}): {err_path.read_text(encoding='utf-8', errors='replace')}"
            )
        time.sleep(POLL_S)
    listing = json.loads(line[0])["sandboxes"]
    return proc, {s["kind"]: RemoteSandbox(**s) for s in listing}
