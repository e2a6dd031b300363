"""Group commit is durable: a real daemon subprocess SIGKILLed while 8 clients send browser events concurrently has,
after a restart, every batch it acknowledged (DESIGN §4: nothing is acknowledged before its commit).

Each client is one browser install posting one-event batches over HTTP: seq n opens tab n on a ticket of its own,
so an acknowledged seq is visible in the restarted daemon's engine state as that install's tab n (and opening many
tickets evicts timers, so commits with entries take part too). The daemon is killed once the clients have hundreds
of acknowledgements, while they are still sending; batches in flight at the kill may or may not have been applied
(never acknowledged, they are resent by a real extension), but nothing acknowledged may be missing.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import spawn_daemon, stop_process, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only"),
]

CLIENTS = 8
ACKS_BEFORE_KILL = 300
CONFIG = '[[instances]]\nname = "halo"\nkind = "halopsa"\norigins = ["https://acme.halopsa.com"]\n'


def event(client: int, seq: int) -> dict[str, Any]:
    ticket = client * 100_000 + seq
    return {
        "type": "tab_opened",
        "seq": seq,
        "at": time.time(),
        "tab": seq,
        "window": 1,
        "url": f"https://acme.halopsa.com/ticket?id={ticket}",
        "title": f"#{ticket}",
        "active": seq % 3 != 0,
    }


class Client(threading.Thread):
    """Posts batches until the daemon stops answering; `acked` is the highest seq the daemon acknowledged to it."""

    def __init__(self, index: int, base_url: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.install = f"crash-{index}"
        self.acked = 0
        self.failure: str | None = None
        self._base_url, self._token, self._halt = base_url, token, stop

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        with httpx.Client(base_url=self._base_url, headers=headers, timeout=30) as http:
            seq = 1
            while not self._halt.is_set():
                body = {"type": "batch", "install": self.install, "events": [event(self.index, seq)]}
                try:
                    response = http.post("/api/v1/browser/events", json=body)
                except httpx.HTTPError:
                    return  # the daemon is gone
                if response.status_code != 200:
                    self.failure = f"{response.status_code} {response.text}"
                    return
                self.acked = int(response.json()["acked"])
                seq = self.acked + 1


def durable_state(db_path: Path) -> tuple[dict[str, int], dict[str, set[int]]]:
    """(install -> acked seq, install -> its open tab ids), read from the database file itself."""
    conn = sqlite3.connect(db_path)
    try:
        acks = {str(i): int(s) for i, s in conn.execute("SELECT install, acked_seq FROM installs")}
        tabs = {str(i): json.loads(t) for i, t in conn.execute("SELECT install, tabs FROM engine_tabs")}
    finally:
        conn.close()
    return acks, {name: {int(tab) for tab in view_tabs} for name, view_tabs in tabs.items()}


def test_every_acknowledged_batch_survives_a_sigkill_under_8_concurrent_clients(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(CONFIG, encoding="utf-8")
    proc = spawn_daemon(home)
    stop = threading.Event()
    clients: list[Client] = []
    try:
        token = (home / "data" / "token").read_text(encoding="utf-8").strip()
        base_url = f"http://127.0.0.1:{proc.port}"
        clients = [Client(i, base_url, token, stop) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        wait_until(
            lambda: sum(c.acked for c in clients) >= ACKS_BEFORE_KILL or any(not c.is_alive() for c in clients),
            timeout=120,
            what=f"{ACKS_BEFORE_KILL} acknowledged batches",
        )
        assert all(c.is_alive() for c in clients), [c.failure for c in clients]  # all still sending at the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        for c in clients:
            c.join(timeout=60)
        assert [c.failure for c in clients] == [None] * CLIENTS
    finally:
        stop.set()
        stop_process(proc)
    acked = {c.install: c.acked for c in clients}
    assert all(seq > 0 for seq in acked.values()), acked  # every client got acknowledgements before the kill

    restarted = spawn_daemon(home)
    try:
        token = (home / "data" / "token").read_text(encoding="utf-8").strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{restarted.port}", headers=headers, timeout=30) as http:
            for c in clients:  # the next batch after what it was told continues the daemon's record: no gap
                body = {"type": "batch", "install": c.install, "events": [event(c.index, c.acked + 1)]}
                response = http.post("/api/v1/browser/events", json=body)
                assert response.status_code == 200, response.text
                assert response.json()["acked"] >= c.acked + 1
    finally:
        stop_process(restarted)  # SIGKILL again: what was read above is what is on disk
    on_disk, tabs = durable_state(home / "data" / "ticketclock.db")
    for install, seq in acked.items():
        assert on_disk[install] >= seq + 1
        missing = set(range(1, seq + 1)) - tabs[install]
        assert not missing, f"{install}: acknowledged seqs {sorted(missing)[:10]} are not in the state"
